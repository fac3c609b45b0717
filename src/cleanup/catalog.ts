import { Effect, Option, Schema } from "effect"
import { decodeRows, type PgClientShape } from "../pg/client.ts"

/** Catalog lookups of the preflight: names are parameters, compared exactly as given. */

const Relation = Schema.Struct({ oid: Schema.String, kind: Schema.String, comment: Schema.String })
export type Relation = typeof Relation.Type

/** Any relation (table, view, index, sequence, …) named `name` in `schema`. */
export const findRelation = Effect.fn("Catalog.findRelation")(function* (
  client: PgClientShape,
  schema: string,
  name: string,
) {
  const rows = yield* client
    .query(
      "checking a table",
      (sql) =>
        sql`select c.oid::text as oid, c.relkind::text as kind, coalesce(obj_description(c.oid, 'pg_class'), '') as comment
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = ${schema} and c.relname = ${name}`,
    )
    .pipe(Effect.flatMap(decodeRows(Relation, "checking a table")))
  return Option.fromNullable(rows[0])
})

/** Tables rows can be inserted into and deleted from: plain and partitioned. */
export const isTable = (r: Relation) => r.kind === "r" || r.kind === "p"

export const kindName = (kind: string) =>
  ({
    r: "a table",
    p: "a partitioned table",
    v: "a view",
    m: "a materialized view",
    f: "a foreign table",
    i: "an index",
    I: "a partitioned index",
    S: "a sequence",
    c: "a composite type",
    t: "a TOAST table",
  })[kind] ?? "not a table"

const Column = Schema.Struct({
  name: Schema.String,
  /** As `format_type` writes it: `character varying(255)`, `timestamp with time zone`. */
  type: Schema.String,
  /** The type under any domain: `text`, `varchar`, `bpchar`, `citext`, `int4`, … */
  base: Schema.String,
  notNull: Schema.Boolean,
  hasDefault: Schema.Boolean,
  generated: Schema.Boolean,
})
export type Column = typeof Column.Type

/** The live columns of a relation, in order. */
export const columnsOf = Effect.fn("Catalog.columnsOf")(function* (client: PgClientShape, oid: string) {
  return yield* client
    .query(
      "reading columns",
      (sql) =>
        sql`select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, bt.typname::text as base,
                   a.attnotnull as "notNull", (a.atthasdef or a.attidentity <> '') as "hasDefault",
                   a.attgenerated <> '' as generated
            from pg_attribute a
            join pg_type t on t.oid = a.atttypid
            join pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
            where a.attrelid = ${oid}::oid and a.attnum > 0 and not a.attisdropped
            order by a.attnum`,
    )
    .pipe(Effect.flatMap(decodeRows(Column, "reading columns")))
})

const Allowed = Schema.Struct({ allowed: Schema.Boolean })

export const hasTablePrivilege = Effect.fn("Catalog.hasTablePrivilege")(function* (
  client: PgClientShape,
  oid: string,
  privilege: string,
) {
  const rows = yield* client
    .query(
      "checking privileges",
      (sql) => sql`select has_table_privilege(${oid}::oid, ${privilege}) as allowed`,
    )
    .pipe(Effect.flatMap(decodeRows(Allowed, "checking privileges")))
  return rows[0]?.allowed === true
})

export const mayCreateIn = Effect.fn("Catalog.mayCreateIn")(function* (
  client: PgClientShape,
  schema: string,
) {
  const rows = yield* client
    .query("checking privileges", (sql) => sql`select has_schema_privilege(${schema}, 'CREATE') as allowed`)
    .pipe(Effect.flatMap(decodeRows(Allowed, "checking privileges")))
  return rows[0]?.allowed === true
})
