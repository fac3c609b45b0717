import { Effect, Option, Schema } from "effect"
import { decodeRows, type PgClientShape } from "../pg/client.ts"
import { PgMissingObject, PgPermissionError } from "../pg/errors.ts"
import { ConfigError } from "../shared/errors.ts"
import { columnsOf, findRelation, hasTablePrivilege, kindName } from "./catalog.ts"
import { isBareName, quoted, settings } from "./settings.ts"
import { type ArchiveTable, checkArchiveTable, checkHistoryTable } from "./side-tables.ts"

/** What the cleanup works on: names as the user gave them, before any lookup. */
export interface CleanupTarget {
  readonly schema: string
  readonly usersTable: string
  readonly pendingTable: string
  readonly usersEmailColumn: string
  readonly pendingEmailColumn: string
  /** Compare emails exactly instead of case-insensitively. */
  readonly caseSensitive: boolean
}

export const defaultTarget: CleanupTarget = {
  schema: "public",
  usersTable: "users",
  pendingTable: "pending_users",
  usersEmailColumn: "email",
  pendingEmailColumn: "email",
  caseSensitive: false,
}

/** The target after the catalog confirmed it. */
export interface ResolvedTarget extends CleanupTarget {
  /** The pending table's single-column primary key, read from the catalog. */
  readonly pendingKey: string
  /** `"schema"."table"` of the pending table, for messages and the advisory lock name. */
  readonly pendingName: string
  readonly usersName: string
  /** An index on the users table serves the email match (then batches probe it by block range). */
  readonly usersIndexed: boolean
  /** The pending table's columns, in order: what an archive row is made of. */
  readonly pendingColumns: ReadonlyArray<string>
  /** The archive table, when one is asked for, as the preflight found it. */
  readonly archive: ArchiveTable | undefined
}

/**
 * Names are looked up in the catalog as given and then quoted by the driver, never spliced into
 * SQL. The driver reads a dot as a schema separator, so a dot is refused here (use --schema).
 */
export const validateNames = (target: CleanupTarget): Effect.Effect<void, ConfigError> =>
  Effect.forEach(
    [
      [target.schema, settings.schema],
      [target.usersTable, settings.usersTable],
      [target.pendingTable, settings.pendingTable],
      [target.usersEmailColumn, settings.usersEmailColumn],
      [target.pendingEmailColumn, settings.pendingEmailColumn],
    ] as const,
    ([value, setting]) => {
      if (value.trim() === "") return new ConfigError({ message: `${setting} is empty: give a name` })
      if (!isBareName(value)) {
        return new ConfigError({
          message: `${setting} "${value}" contains a dot or NUL: give a bare name (put the schema in --schema)`,
        })
      }
      return Effect.void
    },
  ).pipe(
    Effect.zipRight(
      // Every row of a table matches itself: the cleanup would empty it.
      target.usersTable === target.pendingTable
        ? new ConfigError({
            message: `${settings.usersTable} and ${settings.pendingTable} both name "${target.usersTable}": the pending table must be another table than the users table`,
          })
        : Effect.void,
    ),
  )

/** Tables besides the two the cleanup works on. */
export interface SideTables {
  readonly archiveTable: Option.Option<string>
  readonly historyTable: Option.Option<string>
}

/**
 * The archive and history tables are written to, so neither may be the users or the pending
 * table, nor each other. Checked by name (all are in --schema) before connecting.
 */
export const validateSideTables = (
  target: CleanupTarget,
  side: SideTables,
): Effect.Effect<void, ConfigError> => {
  const taken = [
    [target.usersTable, `the users table (${settings.usersTable})`],
    [target.pendingTable, `the pending table (${settings.pendingTable})`],
  ] as const
  const clash = (name: string, setting: string, others: ReadonlyArray<readonly [string, string]>) => {
    const other = others.find(([n]) => n === name)
    return other === undefined
      ? Effect.void
      : new ConfigError({
          message: `${setting} "${name}" is ${other[1]}: give a table of its own (dbsweep creates it if missing)`,
        })
  }
  return Effect.all([
    Option.match(side.archiveTable, {
      onNone: () => Effect.void,
      onSome: (name) => clash(name, settings.archiveTable, taken),
    }),
    Option.match(side.historyTable, {
      onNone: () => Effect.void,
      onSome: (name) =>
        clash(name, settings.historyTable, [
          ...taken,
          ...Option.match(side.archiveTable, {
            onNone: () => [],
            onSome: (a) => [[a, `the archive table (${settings.archiveTable})`] as const],
          }),
        ]),
    }),
  ]).pipe(Effect.asVoid)
}

const Name = Schema.Struct({ name: Schema.String })
const IndexDef = Schema.Struct({ def: Schema.String })

/** Email columns are compared with lower(): text-like types only. */
const textTypes = new Set(["text", "varchar", "bpchar", "citext"])

export interface Needs {
  /** A real run (deletes, writes the archive); a dry run only reads. */
  readonly delete: boolean
  readonly archiveTable?: string | undefined
  readonly historyTable?: string | undefined
}

/**
 * Looks the target up in the catalog before anything is written: schema, tables, email columns
 * and their types, primary key, privileges, and the archive and history tables (see
 * side-tables.ts). Every mistake found here is a usage error (exit 2), in a dry run too.
 */
export const resolveTarget = Effect.fn("Cleanup.resolveTarget")(function* (
  client: PgClientShape,
  target: CleanupTarget,
  needs: Needs,
) {
  yield* validateNames(target)
  yield* validateSideTables(target, {
    archiveTable: Option.fromNullable(needs.archiveTable),
    historyTable: Option.fromNullable(needs.historyTable),
  })
  const where = client.endpoint.display
  const schemas = yield* client
    .query(
      "checking the schema",
      (sql) => sql`select nspname as name from pg_namespace where nspname = ${target.schema}`,
    )
    .pipe(Effect.flatMap(decodeRows(Name, "checking the schema")))
  if (schemas.length === 0) {
    return yield* new PgMissingObject({
      target: where,
      kind: "schema",
      name: quoted(target.schema),
      setting: settings.schema,
    })
  }

  const table = Effect.fn("Cleanup.resolveTable")(function* (name: string, setting: string) {
    const found = yield* findRelation(client, target.schema, name)
    if (Option.isNone(found) || found.value.kind === "i" || found.value.kind === "S") {
      return yield* new PgMissingObject({
        target: where,
        kind: "table",
        name: quoted(target.schema, name),
        setting,
      })
    }
    if (found.value.kind !== "r") {
      return yield* new ConfigError({
        message: `${quoted(target.schema, name)} is ${kindName(found.value.kind)}, not a plain table: point ${setting} at a table`,
      })
    }
    return found.value.oid
  })

  const emailColumn = Effect.fn("Cleanup.resolveColumn")(function* (
    oid: string,
    table: string,
    name: string,
    setting: string,
  ) {
    const column = (yield* columnsOf(client, oid)).find((c) => c.name === name)
    const full = `${quoted(target.schema, table)}.${quoted(name)}`
    if (column === undefined) {
      return yield* new PgMissingObject({ target: where, kind: "column", name: full, setting })
    }
    if (!textTypes.has(column.base)) {
      return yield* new ConfigError({
        message: `column ${full} is ${column.type}, not text: point ${setting} at the email column (text, varchar, char or citext)`,
      })
    }
    return column
  })

  const privilege = Effect.fn("Cleanup.checkPrivilege")(function* (
    oid: string,
    table: string,
    privilege: string,
  ) {
    if (!(yield* hasTablePrivilege(client, oid, privilege))) {
      return yield* new PgPermissionError({
        target: where,
        privilege,
        name: quoted(target.schema, table),
        user: client.endpoint.user,
      })
    }
  })

  const usersOid = yield* table(target.usersTable, settings.usersTable)
  const pendingOid = yield* table(target.pendingTable, settings.pendingTable)
  yield* emailColumn(usersOid, target.usersTable, target.usersEmailColumn, settings.usersEmailColumn)
  yield* emailColumn(pendingOid, target.pendingTable, target.pendingEmailColumn, settings.pendingEmailColumn)
  const keys = yield* client
    .query(
      "reading the primary key",
      (sql) =>
        sql`select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
            where i.indrelid = ${pendingOid}::oid and i.indisprimary`,
    )
    .pipe(Effect.flatMap(decodeRows(Name, "reading the primary key")))
  if (keys.length !== 1) {
    return yield* new PgMissingObject({
      target: where,
      kind: "primary key",
      name: quoted(target.schema, target.pendingTable),
      setting: settings.pendingTable,
    })
  }
  yield* privilege(usersOid, target.usersTable, "SELECT")
  yield* privilege(pendingOid, target.pendingTable, needs.delete ? "DELETE" : "SELECT")
  if (needs.delete) yield* privilege(pendingOid, target.pendingTable, "SELECT")

  const pendingColumns = yield* columnsOf(client, pendingOid)
  const archive =
    needs.archiveTable === undefined
      ? undefined
      : yield* checkArchiveTable(client, target, needs.archiveTable, pendingColumns, needs.delete)
  if (needs.historyTable !== undefined) {
    yield* checkHistoryTable(client, target.schema, needs.historyTable)
  }

  const resolved: ResolvedTarget = {
    ...target,
    pendingKey: keys[0]!.name,
    pendingName: quoted(target.schema, target.pendingTable),
    usersName: quoted(target.schema, target.usersTable),
    usersIndexed: false,
    pendingColumns: pendingColumns.map((c) => c.name),
    archive,
  }
  const usersIndexed = yield* servingIndex(client, resolved, usersOid)
  return { ...resolved, usersIndexed }
})

const normalize = (def: string) =>
  def
    .replace(/::[a-z ]+/gi, "")
    .replace(/[()" ]/g, "")
    .toLowerCase()

/**
 * Whether an index on the users table serves the rule. With one, batches walk the pending table by
 * block range and probe it; without, they fall back to a match list computed once by a hash join
 * (no index needed), and the dry run scans: warn with the statement that creates the index.
 */
const servingIndex = Effect.fn("Cleanup.servingIndex")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  usersOid: string,
) {
  const defs = yield* client
    .query(
      "checking indexes",
      (sql) =>
        sql`select pg_get_indexdef(indexrelid, 1, true) as def from pg_index where indrelid = ${usersOid}::oid`,
    )
    .pipe(Effect.flatMap(decodeRows(IndexDef, "checking indexes")))
  const column = target.usersEmailColumn
  const wanted = normalize(target.caseSensitive ? quoted(column) : `lower(${quoted(column)})`)
  if (defs.some((d) => normalize(d.def) === wanted)) return true
  const expression = target.caseSensitive ? quoted(column) : `lower(${quoted(column)})`
  yield* Effect.logWarning(
    `no index on ${target.usersName} serves the email match; matching will scan the table: CREATE INDEX CONCURRENTLY ON ${target.usersName} (${expression});`,
  )
  return false
})
