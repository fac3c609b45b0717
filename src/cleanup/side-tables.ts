import { Effect, Option } from "effect"
import type { PgClientShape } from "../pg/client.ts"
import { PgPermissionError } from "../pg/errors.ts"
import { ConfigError } from "../shared/errors.ts"
import {
  type Column,
  columnsOf,
  findRelation,
  hasTablePrivilege,
  isTable,
  kindName,
  mayCreateIn,
} from "./catalog.ts"
import { quoted, settings } from "./settings.ts"

/**
 * The archive and history tables are written to, so the preflight makes sure an existing one is
 * what its name promises before any run writes a row: a table dbsweep created, or one of the
 * same shape. (An earlier version added `archived_at` to whatever table was named and inserted
 * rows by position: `--archive-table users` altered the users table and put pending rows in it.)
 */

/** The comment on an archive table dbsweep created: that table is dbsweep's to extend. */
export const archiveMarker = "dbsweep cleanup archive"

export interface ArchiveTable {
  readonly name: string
  /** False: the first real run creates it, as the pending table's columns plus `archived_at`. */
  readonly exists: boolean
  /** Columns the pending table gained since dbsweep created the archive: added before the first batch. */
  readonly addColumns: ReadonlyArray<{ readonly name: string; readonly type: string }>
}

const timestampTypes = new Set(["timestamp with time zone", "timestamp without time zone"])

const listed = (columns: ReadonlyArray<Column>, describe: (c: Column) => string) => {
  const shown = columns.slice(0, 5).map(describe).join(", ")
  return columns.length > 5 ? `${shown} and ${columns.length - 5} more` : shown
}

/** Whether the user may create a missing side table; a refusal names what to grant. */
const creatable = Effect.fn("Cleanup.checkCreatable")(function* (
  client: PgClientShape,
  schema: string,
  name: string,
  setting: string,
) {
  if (yield* mayCreateIn(client, schema)) return
  const user = client.endpoint.user
  return yield* new ConfigError({
    message: `${setting} ${quoted(schema, name)} does not exist and user "${user}" may not create it: GRANT CREATE ON SCHEMA ${quoted(schema)} TO ${quoted(user)}, or create the table first`,
  })
})

const insertable = Effect.fn("Cleanup.checkInsertable")(function* (
  client: PgClientShape,
  oid: string,
  schema: string,
  name: string,
) {
  if (yield* hasTablePrivilege(client, oid, "INSERT")) return
  return yield* new PgPermissionError({
    target: client.endpoint.display,
    privilege: "INSERT",
    name: quoted(schema, name),
    user: client.endpoint.user,
  })
})

/**
 * A side table that already exists, with its columns by name; none when there is no such relation.
 * A relation that is not a plain table (a view, say) is refused, naming `setting`.
 */
const existingTable = Effect.fn("Cleanup.existingTable")(function* (
  client: PgClientShape,
  schema: string,
  name: string,
  setting: string,
) {
  const found = yield* findRelation(client, schema, name)
  if (Option.isNone(found)) return Option.none()
  const relation = found.value
  if (!isTable(relation)) {
    return yield* new ConfigError({
      message: `${setting} ${quoted(schema, name)} is ${kindName(relation.kind)}: give the name of a table (dbsweep creates it if missing)`,
    })
  }
  const columns = yield* columnsOf(client, relation.oid)
  return Option.some({ relation, columns, byName: new Map(columns.map((c) => [c.name, c])) })
})

/**
 * The archive table: missing (created by the first real run), or an existing table whose columns
 * are the pending table's (same names and types) plus `archived_at`. A table dbsweep created may
 * lack columns the pending table gained since; they are added. `write` is false for a dry run,
 * which checks the shape but not the privileges.
 */
export const checkArchiveTable = Effect.fn("Cleanup.checkArchiveTable")(function* (
  client: PgClientShape,
  target: { readonly schema: string; readonly pendingTable: string },
  name: string,
  pending: ReadonlyArray<Column>,
  write: boolean,
) {
  const setting = settings.archiveTable
  const full = quoted(target.schema, name)
  const found = yield* existingTable(client, target.schema, name, setting)
  if (Option.isNone(found)) {
    if (write) yield* creatable(client, target.schema, name, setting)
    const archive: ArchiveTable = { name, exists: false, addColumns: [] }
    return archive
  }
  const { relation, columns, byName } = found.value
  const pendingNames = new Set(pending.map((c) => c.name))
  const marked = relation.comment === archiveMarker

  const missing = pending.filter((c) => !byName.has(c.name))
  const retyped = pending.filter((c) => {
    const mine = byName.get(c.name)
    return mine !== undefined && mine.type !== c.type
  })
  const generated = columns.filter(
    (c) => c.generated && (pendingNames.has(c.name) || c.name === "archived_at"),
  )
  const extra = columns.filter((c) => !pendingNames.has(c.name) && c.name !== "archived_at")
  const archivedAt = byName.get("archived_at")

  const problems: Array<string> = []
  if (archivedAt === undefined) problems.push("it has no archived_at column")
  else if (!timestampTypes.has(archivedAt.type)) problems.push(`its archived_at is ${archivedAt.type}`)
  if (retyped.length > 0) {
    problems.push(
      `types differ: ${listed(retyped, (c) => `${c.name} is ${byName.get(c.name)?.type} here, ${c.type} there`)}`,
    )
  }
  if (generated.length > 0) problems.push(`generated columns: ${listed(generated, (c) => c.name)}`)
  if (marked) {
    // Columns the pending table dropped since stay in dbsweep's archive, left empty.
    const blocking = extra.filter((c) => c.notNull && !c.hasDefault)
    if (blocking.length > 0) {
      problems.push(`NOT NULL columns the pending table lacks: ${listed(blocking, (c) => c.name)}`)
    }
  } else {
    if (missing.length > 0) problems.push(`it lacks ${listed(missing, (c) => `${c.name} ${c.type}`)}`)
    if (extra.length > 0) problems.push(`the pending table lacks ${listed(extra, (c) => c.name)}`)
  }
  if (problems.length > 0) {
    return yield* new ConfigError({
      message: `${setting} ${full} is an existing table, not an archive of ${quoted(target.schema, target.pendingTable)} (${problems.join("; ")}): give a new name (dbsweep creates the table) or a table with the pending table's columns plus archived_at timestamptz`,
    })
  }
  if (write) yield* insertable(client, relation.oid, target.schema, name)
  const archive: ArchiveTable = {
    name,
    exists: true,
    addColumns: marked ? missing.map((c) => ({ name: c.name, type: c.type })) : [],
  }
  return archive
})

/** The columns of a history row, as `createHistoryTable` makes them (`id` aside, which has a default). */
const historyColumns: ReadonlyArray<readonly [string, string]> = [
  ["started_at", "timestamp with time zone"],
  ["ended_at", "timestamp with time zone"],
  ["host", "text"],
  ["target", "text"],
  ["dry_run", "boolean"],
  ["skipped", "boolean"],
  ["deleted", "bigint"],
  ["batches", "integer"],
  ["failed_batches", "integer"],
  ["error", "text"],
]

/**
 * The history table: missing (created by the first run, dry runs included), or an existing table
 * with the history columns, whose other columns can be left empty.
 */
export const checkHistoryTable = Effect.fn("Cleanup.checkHistoryTable")(function* (
  client: PgClientShape,
  schema: string,
  name: string,
) {
  const setting = settings.historyTable
  const full = quoted(schema, name)
  const found = yield* existingTable(client, schema, name, setting)
  if (Option.isNone(found)) return yield* creatable(client, schema, name, setting)
  const { relation, columns, byName } = found.value
  const wanted = new Set(historyColumns.map(([n]) => n))
  const problems = historyColumns.flatMap(([column, type]) => {
    const mine = byName.get(column)
    if (mine === undefined) return [`no ${column} ${type}`]
    if (mine.type !== type || mine.generated)
      return [`${column} is ${mine.type}${mine.generated ? " (generated)" : ""}, not ${type}`]
    return []
  })
  const blocking = columns.filter((c) => !wanted.has(c.name) && c.notNull && !c.hasDefault)
  if (blocking.length > 0)
    problems.push(`NOT NULL columns without a default: ${listed(blocking, (c) => c.name)}`)
  if (problems.length > 0) {
    return yield* new ConfigError({
      message: `${setting} ${full} is an existing table, not a dbsweep run history (${problems.slice(0, 4).join("; ")}): give a new name (dbsweep creates the table)`,
    })
  }
  yield* insertable(client, relation.oid, schema, name)
})
