import type postgres from "postgres"
import { archiveMarker } from "./side-tables.ts"
import type { ResolvedTarget } from "./target.ts"

/**
 * The SQL of the cleanup. Every identifier goes through the driver's quoting (`sql(name)`);
 * values are parameters. `p` is the pending table, `u` the users table.
 */
type Sql = postgres.Sql | postgres.ReservedSql

const table = (sql: Sql, schema: string, name: string) => sql`${sql(schema)}.${sql(name)}`
const pending = (sql: Sql, t: ResolvedTarget) => table(sql, t.schema, t.pendingTable)
const users = (sql: Sql, t: ResolvedTarget) => table(sql, t.schema, t.usersTable)

/** The rule: the emails are equal, ignoring case unless asked not to. */
const sameEmail = (sql: Sql, t: ResolvedTarget) =>
  t.caseSensitive
    ? sql`p.${sql(t.pendingEmailColumn)} = u.${sql(t.usersEmailColumn)}`
    : sql`lower(p.${sql(t.pendingEmailColumn)}) = lower(u.${sql(t.usersEmailColumn)})`

const matching = (sql: Sql, t: ResolvedTarget) =>
  sql`exists (select 1 from ${users(sql, t)} u where ${sameEmail(sql, t)})`

/** How many pending rows the rule matches now: what a run would delete. */
export const countMatches = (sql: Sql, t: ResolvedTarget) =>
  sql`select count(*)::text as n from ${pending(sql, t)} p where ${matching(sql, t)}`

/** A few of them, by primary key. */
export const sampleMatches = (sql: Sql, t: ResolvedTarget, limit: number) =>
  sql`select p.${sql(t.pendingKey)}::text as id, p.${sql(t.pendingEmailColumn)}::text as email
      from ${pending(sql, t)} p where ${matching(sql, t)} order by p.${sql(t.pendingKey)} limit ${limit}`

/**
 * The match list, computed once by one hash join: the row address of each matching pending row
 * and of a user row it matches. Batches walk this list, so none rescans what another visited.
 */
export const matchList = (sql: Sql, t: ResolvedTarget) =>
  sql`select p.ctid::text as p, u.ctid::text as u from ${pending(sql, t)} p join ${users(sql, t)} u on ${sameEmail(sql, t)}`

/** `{"(0,1)","(0,2)"}`: a tid[] literal passed as one parameter. */
export const tidArray = (tids: ReadonlyArray<string>) => `{${tids.map((t) => `"${t}"`).join(",")}}`

/**
 * One batch: lock the listed pending rows that still match a listed user row, skipping rows
 * another transaction holds, and delete them. Users are re-read now, so a user deleted (or whose
 * email changed) since the list was made keeps their pending row. Row addresses make both
 * lookups direct (a TID scan), whatever indexes exist.
 */
const lockedBatch = (sql: Sql, t: ResolvedTarget, pendingTids: string, userTids: string) =>
  sql`select p.ctid as c from ${pending(sql, t)} p
      where p.ctid = any(${pendingTids}::tid[])
        and ${t.caseSensitive ? sql`p.${sql(t.pendingEmailColumn)}` : sql`lower(p.${sql(t.pendingEmailColumn)})`} in (
          select ${t.caseSensitive ? sql`u.${sql(t.usersEmailColumn)}` : sql`lower(u.${sql(t.usersEmailColumn)})`}
          from ${users(sql, t)} u where u.ctid = any(${userTids}::tid[]))
      for update of p skip locked`

/**
 * One batch by block range: the pending rows stored in blocks [from, to) that match a user now,
 * by the index on the users table (a TID range scan, then one index probe per row), at most
 * `limit` of them, locked `FOR UPDATE SKIP LOCKED`. Ranges never overlap, so no batch rescans
 * what another visited.
 */
const lockedRange = (sql: Sql, t: ResolvedTarget, from: number, to: number, limit: number) =>
  sql`select p.ctid as c from ${pending(sql, t)} p
      where p.ctid >= ${`(${from},0)`}::tid and p.ctid < ${`(${to},0)`}::tid and ${matching(sql, t)}
      limit ${limit}
      for update of p skip locked`

/** Blocks the pending table has now, and about how many rows each holds. */
export const pendingBlocks = (sql: Sql, t: ResolvedTarget) =>
  sql`select (pg_relation_size(c.oid) / current_setting('block_size')::bigint)::int as blocks,
             greatest(c.reltuples, 0)::float8 as tuples, greatest(c.relpages, 1)::int as pages
      from pg_class c where c.oid = (quote_ident(${t.schema}) || '.' || quote_ident(${t.pendingTable}))::regclass`

export type ArchiveMode = "none" | "rows" | "table"

/**
 * Deletes one batch. With `rows` it returns each deleted row's primary key and the row as JSON (for
 * the archive file); otherwise one row `{ n }`, the number deleted; with `table`, the rows go into
 * `archive` in the same statement.
 */
export type BatchSpec =
  | { readonly kind: "list"; readonly pending: ReadonlyArray<string>; readonly users: ReadonlyArray<string> }
  | { readonly kind: "range"; readonly from: number; readonly to: number; readonly limit: number }

export const deleteBatch = (
  sql: Sql,
  t: ResolvedTarget,
  batch: BatchSpec,
  archive: { readonly mode: ArchiveMode; readonly table?: string | undefined },
) => {
  const locked =
    batch.kind === "list"
      ? lockedBatch(sql, t, tidArray(batch.pending), tidArray(batch.users))
      : lockedRange(sql, t, batch.from, batch.to, batch.limit)
  const target = pending(sql, t)
  const key = sql(t.pendingKey)
  if (archive.mode === "rows") {
    return sql`with b as (${locked})
      delete from ${target} p where p.ctid = any(array(select c from b))
      returning p.${key}::text as id, row_to_json(p.*)::text as row`
  }
  // Without an archive file only the number deleted is needed: counted by the server, not shipped.
  // Into the archive by column name, never by position; archived_at is set here, so a table of
  // the right shape needs no default for it.
  if (archive.mode === "table" && archive.table !== undefined) {
    // A fragment of its own: inline, the driver reads the list by the keyword before it (after
    // `insert` it expects rows of values).
    const columns = sql`${sql(t.pendingColumns)}`
    return sql`with b as (${locked}),
      d as (delete from ${target} p where p.ctid = any(array(select c from b)) returning p.*),
      a as (insert into ${table(sql, t.schema, archive.table)} (${columns}, archived_at) overriding system value
            select ${columns}, now() from d returning 1)
      select count(*)::int as n from a`
  }
  return sql`with b as (${locked}),
    d as (delete from ${target} p where p.ctid = any(array(select c from b)) returning p.${key})
    select count(*)::int as n from d`
}

/**
 * The archive table: the pending table's columns (`LIKE`: names, types, NOT NULL) plus when the
 * row was archived, marked as dbsweep's by its comment. Run in one transaction with the next two.
 */
export const createArchiveTable = (sql: Sql, t: ResolvedTarget, name: string) =>
  sql`create table ${table(sql, t.schema, name)} (like ${pending(sql, t)})`

export const addArchivedAt = (sql: Sql, t: ResolvedTarget, name: string) =>
  sql`alter table ${table(sql, t.schema, name)} add column archived_at timestamptz not null default now()`

export const markArchiveTable = (sql: Sql, t: ResolvedTarget, name: string) =>
  sql`comment on table ${table(sql, t.schema, name)} is ${sql.unsafe(`'${archiveMarker}'`)}`

/** A column the pending table gained since dbsweep created its archive (`type` from format_type). */
export const addArchiveColumn = (sql: Sql, t: ResolvedTarget, name: string, column: string, type: string) =>
  sql`alter table ${table(sql, t.schema, name)} add column ${sql(column)} ${sql.unsafe(type)}`

/** One row per run, so status survives restarts and replicas see each other's runs. */
export const createHistoryTable = (sql: Sql, schema: string, name: string) =>
  sql`create table if not exists ${table(sql, schema, name)} (
        id bigserial primary key,
        started_at timestamptz not null,
        ended_at timestamptz not null,
        host text not null,
        target text not null,
        dry_run boolean not null,
        skipped boolean not null,
        deleted bigint not null,
        batches integer not null,
        failed_batches integer not null,
        error text)`

export interface HistoryRow {
  readonly startedAt: Date
  readonly endedAt: Date
  readonly host: string
  readonly target: string
  readonly dryRun: boolean
  readonly skipped: boolean
  readonly deleted: number
  readonly batches: number
  readonly failedBatches: number
  readonly error: string | null
}

export const insertHistory = (sql: Sql, schema: string, name: string, row: HistoryRow) =>
  sql`insert into ${table(sql, schema, name)}
        (started_at, ended_at, host, target, dry_run, skipped, deleted, batches, failed_batches, error)
      values (${row.startedAt}, ${row.endedAt}, ${row.host}, ${row.target}, ${row.dryRun}, ${row.skipped},
              ${row.deleted}, ${row.batches}, ${row.failedBatches}, ${row.error})`

export const lastHistory = (sql: Sql, schema: string, name: string) =>
  sql`select started_at, ended_at, deleted::text as deleted, batches, failed_batches, error, skipped, dry_run
      from ${table(sql, schema, name)} order by id desc limit 1`

/** The latest `limit` runs of a history table, newest first (the status page's chart and list). */
export const recentHistory = (sql: Sql, schema: string, name: string, limit: number) =>
  sql`select id::text as id, started_at, ended_at, host, target, dry_run, skipped, deleted::text as deleted,
        batches, failed_batches, error
      from ${table(sql, schema, name)} order by id desc limit ${limit}`
