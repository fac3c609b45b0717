import { afterEach, describe, expect, test } from "bun:test"
import { Cause, Duration, Effect, Exit, Option } from "effect"
import { type CleanupOptions, runCleanup } from "../../src/cleanup/run.ts"
import { cleanup, optionsWith, withClient } from "../support/pg-effect.ts"
import { checksum, closeDatabases, count, matching, seededDatabase } from "../support/pg-fixtures.ts"

afterEach(closeDatabases)
const database = (size = { users: 60, pending: 60 }) => seededDatabase(size, "pre")

/** Runs the cleanup and returns how it failed: the error's tag and message. */
const failure = async (url: string, overrides: Partial<CleanupOptions>) => {
  const exit = await withClient(url, (client) =>
    runCleanup(client, optionsWith(overrides), Effect.succeed(false)),
  )
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
  return { tag: error?._tag, message: error?.message ?? Cause.pretty(exit.cause) }
}

const columnsOf = async (sql: Awaited<ReturnType<typeof database>>["sql"], table: string) =>
  (
    await sql`select column_name::text as name from information_schema.columns
      where table_schema = 'public' and table_name = ${table} order by ordinal_position`
  ).map((r) => String(r.name))

describe("cleanup preflight: archive and history tables", () => {
  test("an archive with the pending columns in another order gets each value in its own column", async () => {
    const { url, sql } = await database()
    await sql`create table pending_archive (
      archived_at timestamptz, token text, created_at timestamptz not null, email text not null,
      pending_user_id uuid not null)`
    const doomed = await sql`select pending_user_id::text as id, email, token from pending_users p
      where exists (select 1 from users u where lower(u.email) = lower(p.email)) order by 1`
    const summary = await cleanup(url, { batchSize: 7, archiveTable: Option.some("pending_archive") })
    expect(summary.failedBatches).toBe(0)
    expect(summary.deleted).toBe(30)
    const archived = await sql`select pending_user_id::text as id, email, token, archived_at
      from pending_archive order by 1`
    expect(archived.map((r) => [r.id, r.email, r.token])).toEqual(doomed.map((r) => [r.id, r.email, r.token]))
    expect(archived.every((r) => r.archived_at instanceof Date)).toBe(true)
  })

  test("the archive dbsweep created gains the columns the pending table gained since", async () => {
    const { url, sql } = await database()
    await sql`delete from pending_users where lower(email) <> 'user2@example.com'`
    const first = await cleanup(url, { archiveTable: Option.some("pending_archive") })
    expect(first.deleted).toBe(1)
    await sql`alter table pending_users add column referrer text`
    await sql`insert into pending_users (email, referrer) values ('USER4@example.com', 'newsletter')`
    const second = await cleanup(url, { archiveTable: Option.some("pending_archive") })
    expect(second.deleted).toBe(1)
    const rows = await sql`select lower(email) as email, referrer from pending_archive order by 1`
    expect(rows.map((r) => [r.email, r.referrer])).toEqual([
      ["user2@example.com", null],
      ["user4@example.com", "newsletter"],
    ])
  })

  test("an existing table that is not an archive is refused before anything is written, dry run too", async () => {
    const { url, sql } = await database()
    await sql`create table audit (id int primary key, note text)`
    await sql`insert into audit values (1, 'keep me')`
    const before = [await checksum(sql, "audit"), await checksum(sql, "pending_users")]
    for (const dryRun of [true, false]) {
      const f = await failure(url, { dryRun, archiveTable: Option.some("audit") })
      expect(f.tag).toBe("BadConfig")
      expect(f.message).toContain("--archive-table")
      expect(f.message).toContain('"audit"')
    }
    expect([await checksum(sql, "audit"), await checksum(sql, "pending_users")]).toEqual(before)
    expect(await columnsOf(sql, "audit")).toEqual(["id", "note"])
  })

  test("the users or pending table as archive or history table is refused; both stay byte-identical", async () => {
    const { url, sql } = await database()
    const before = [await checksum(sql, "users"), await checksum(sql, "pending_users")]
    for (const overrides of [
      { archiveTable: Option.some("users") },
      { archiveTable: Option.some("pending_users") },
      { historyTable: Option.some("users") },
      { historyTable: Option.some("pending_users") },
    ]) {
      const f = await failure(url, overrides)
      expect(f.tag).toBe("BadConfig")
      expect(f.message).toMatch(/--(archive|history)-table/)
    }
    expect([await checksum(sql, "users"), await checksum(sql, "pending_users")]).toEqual(before)
    expect(await columnsOf(sql, "users")).toEqual(["user_id", "email", "name", "created_at"])
  })

  test("a history table of another shape is refused up front and never written", async () => {
    const { url, sql } = await database()
    await sql`create table cleanup_runs (id int primary key, started_at text)`
    const f = await failure(url, { historyTable: Option.some("cleanup_runs") })
    expect(f.tag).toBe("BadConfig")
    expect(f.message).toContain("--history-table")
    expect(await count(sql, "select 1 from cleanup_runs")).toBe(0)
    expect(await count(sql, matching)).toBe(30)
  })
})

describe("cleanup preflight: the target", () => {
  test("an email column that is not text is a usage error naming the column and its type", async () => {
    const { url, sql } = await database()
    await sql`create table pending_numbers (id int primary key, email int)`
    await sql`insert into pending_numbers values (1, 1)`
    const pending = await failure(url, {
      target: { ...optionsWith().target, pendingTable: "pending_numbers" },
      dryRun: true,
    })
    expect(pending.tag).toBe("BadConfig")
    expect(pending.message).toContain('"pending_numbers"."email" is integer')
    expect(pending.message).toContain("--pending-email-column")
    const users = await failure(url, { target: { ...optionsWith().target, usersEmailColumn: "created_at" } })
    expect(users.tag).toBe("BadConfig")
    expect(users.message).toContain("timestamp with time zone")
    expect(users.message).toContain("--users-email-column")
  })

  test("the same table as users and pending table is refused, not matched against itself", async () => {
    const { url, sql } = await database()
    const f = await failure(url, { target: { ...optionsWith().target, usersTable: "pending_users" } })
    expect(f.tag).toBe("BadConfig")
    expect(f.message).toContain("--users-table")
    expect(f.message).toContain("--pending-table")
    expect(await count(sql, "select 1 from pending_users")).toBe(60)
  })

  test("a session statement_timeout below any batch: failed batches are reported, nothing crashes", async () => {
    const { url, sql } = await database({ users: 3000, pending: 3000 })
    await sql`drop index users_lower_email`
    // Without the index the batches take well over 1 ms; before, the driver's own type lookup on
    // each new batch connection hit the timeout as an unhandled rejection and killed the process.
    const summary = await cleanup(url, { statementTimeout: Duration.millis(1), batchSize: 1000 })
    expect(summary.deleted + (await count(sql, matching))).toBe(1500)
    expect(summary.batches).toBeGreaterThan(0)
  })
})
