import { Effect, Schema } from "effect"
import { decodeRows, type PgClientShape } from "../pg/client.ts"
import { PgMissingObject, PgPermissionError } from "../pg/errors.ts"
import { ConfigError } from "../shared/errors.ts"

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
}

/** `"schema"."name"` with embedded quotes doubled: for messages and suggested statements only. */
export const quoted = (...parts: ReadonlyArray<string>) =>
  parts.map((p) => `"${p.replaceAll('"', '""')}"`).join(".")

const settings = {
  schema: "--schema / CLEANUP_SCHEMA",
  usersTable: "--users-table / CLEANUP_USERS_TABLE",
  pendingTable: "--pending-table / CLEANUP_PENDING_TABLE",
  usersEmailColumn: "--users-email-column / CLEANUP_USERS_EMAIL_COLUMN",
  pendingEmailColumn: "--pending-email-column / CLEANUP_PENDING_EMAIL_COLUMN",
} as const

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
      if (value.includes(".") || value.includes("\u0000")) {
        return new ConfigError({
          message: `${setting} "${value}" contains a dot or NUL: give a bare name (put the schema in --schema)`,
        })
      }
      return Effect.void
    },
  ).pipe(Effect.asVoid)

const Relation = Schema.Struct({ oid: Schema.String, kind: Schema.String })
const Column = Schema.Struct({ name: Schema.String })
const Privilege = Schema.Struct({ allowed: Schema.Boolean })
const IndexDef = Schema.Struct({ def: Schema.String })

/** Looks the target up in the catalog: schema, tables, columns, primary key, privileges. */
export const resolveTarget = Effect.fn("Cleanup.resolveTarget")(function* (
  client: PgClientShape,
  target: CleanupTarget,
  needs: { readonly delete: boolean },
) {
  yield* validateNames(target)
  const where = client.endpoint.display
  const schemas = yield* client
    .query(
      "checking the schema",
      (sql) => sql`select nspname as name from pg_namespace where nspname = ${target.schema}`,
    )
    .pipe(Effect.flatMap(decodeRows(Column, "checking the schema")))
  if (schemas.length === 0) {
    return yield* new PgMissingObject({
      target: where,
      kind: "schema",
      name: quoted(target.schema),
      setting: settings.schema,
    })
  }

  const table = Effect.fn("Cleanup.resolveTable")(function* (name: string, setting: string) {
    const rows = yield* client
      .query(
        "checking a table",
        (sql) =>
          sql`select c.oid::text as oid, c.relkind::text as kind from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname = ${target.schema} and c.relname = ${name} and c.relkind in ('r', 'p', 'v', 'm', 'f')`,
      )
      .pipe(Effect.flatMap(decodeRows(Relation, "checking a table")))
    const found = rows[0]
    if (found === undefined) {
      return yield* new PgMissingObject({
        target: where,
        kind: "table",
        name: quoted(target.schema, name),
        setting,
      })
    }
    if (found.kind !== "r") {
      return yield* new ConfigError({
        message: `${quoted(target.schema, name)} is not a plain table (it is a view, partitioned or foreign table): point ${setting} at a table`,
      })
    }
    return found.oid
  })

  const column = Effect.fn("Cleanup.resolveColumn")(function* (
    oid: string,
    table: string,
    name: string,
    setting: string,
  ) {
    const rows = yield* client
      .query(
        "checking a column",
        (sql) =>
          sql`select attname as name from pg_attribute where attrelid = ${oid}::oid and attname = ${name} and attnum > 0 and not attisdropped`,
      )
      .pipe(Effect.flatMap(decodeRows(Column, "checking a column")))
    if (rows.length === 0) {
      return yield* new PgMissingObject({
        target: where,
        kind: "column",
        name: `${quoted(target.schema, table)}.${quoted(name)}`,
        setting,
      })
    }
  })

  const privilege = Effect.fn("Cleanup.checkPrivilege")(function* (
    oid: string,
    table: string,
    privilege: string,
  ) {
    const rows = yield* client
      .query(
        "checking privileges",
        (sql) => sql`select has_table_privilege(${oid}::oid, ${privilege}) as allowed`,
      )
      .pipe(Effect.flatMap(decodeRows(Privilege, "checking privileges")))
    if (rows[0]?.allowed !== true) {
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
  yield* column(usersOid, target.usersTable, target.usersEmailColumn, settings.usersEmailColumn)
  yield* column(pendingOid, target.pendingTable, target.pendingEmailColumn, settings.pendingEmailColumn)
  const keys = yield* client
    .query(
      "reading the primary key",
      (sql) =>
        sql`select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
            where i.indrelid = ${pendingOid}::oid and i.indisprimary`,
    )
    .pipe(Effect.flatMap(decodeRows(Column, "reading the primary key")))
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

  const resolved: ResolvedTarget = {
    ...target,
    pendingKey: keys[0]!.name,
    pendingName: quoted(target.schema, target.pendingTable),
    usersName: quoted(target.schema, target.usersTable),
    usersIndexed: false,
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
