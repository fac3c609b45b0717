import { Schema } from "effect"

/**
 * CouchDB answers, decoded at the edge. Sequences are opaque (strings in CouchDB 2+, numbers in
 * 1.x): kept as given and only ever sent back, never parsed or compared.
 * https://docs.couchdb.org/en/stable/api/database/changes.html
 */
export const Seq = Schema.Union(Schema.String, Schema.Number).pipe(
  Schema.transform(Schema.String, { strict: true, decode: (s) => String(s), encode: (s) => s }),
)

export const ErrorBody = Schema.Struct({
  error: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
})

export const ServerInfo = Schema.Struct({
  couchdb: Schema.String,
  version: Schema.String,
})
export type ServerInfo = typeof ServerInfo.Type

export const DbInfo = Schema.Struct({
  db_name: Schema.String,
  doc_count: Schema.Number,
  doc_del_count: Schema.Number,
  update_seq: Seq,
})
export type DbInfo = typeof DbInfo.Type

export const AllDbs = Schema.Array(Schema.String)

export const ChangeRow = Schema.Struct({
  /** Null on the rows `seq_interval` skips (all but every Nth). */
  seq: Schema.NullOr(Seq),
  id: Schema.String,
  changes: Schema.Array(Schema.Struct({ rev: Schema.String })),
  deleted: Schema.optional(Schema.Boolean),
})
export type ChangeRow = typeof ChangeRow.Type

export const ChangesPage = Schema.Struct({
  results: Schema.Array(ChangeRow),
  last_seq: Seq,
  pending: Schema.optional(Schema.Number),
})
export type ChangesPage = typeof ChangesPage.Type

/** Per document: the revs purged (possibly none: already gone), or an error for that document. */
export const PurgeOutcome = Schema.Union(
  Schema.Array(Schema.String),
  Schema.Struct({ error: Schema.String, reason: Schema.optional(Schema.String) }),
)

export type PurgeOutcome = typeof PurgeOutcome.Type

/** https://docs.couchdb.org/en/stable/api/database/misc.html#post--db-_purge */
export const PurgeAnswer = Schema.Struct({
  purge_seq: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number))),
  purged: Schema.Record({ key: Schema.String, value: PurgeOutcome }),
})
export type PurgeAnswer = typeof PurgeAnswer.Type

export const LocalDoc = Schema.Struct({ _id: Schema.String, _rev: Schema.optional(Schema.String) })

export const PutAnswer = Schema.Struct({
  ok: Schema.optional(Schema.Boolean),
  id: Schema.String,
  rev: Schema.String,
})

/** GET /{db} with what the admin calls read (COUCHDB-FACTS §1). */
export const DbDetails = Schema.Struct({
  db_name: Schema.String,
  doc_count: Schema.Number,
  doc_del_count: Schema.Number,
  update_seq: Seq,
  purge_seq: Seq,
  sizes: Schema.Struct({ file: Schema.Number, active: Schema.Number, external: Schema.Number }),
  compact_running: Schema.Boolean,
})
export type DbDetails = typeof DbDetails.Type

export const OkAnswer = Schema.Struct({ ok: Schema.Boolean })

/** One entry of GET /_active_tasks (COUCHDB-FACTS §9: one task per shard). */
export const ActiveTask = Schema.Struct({
  type: Schema.String,
  /** A shard path; null on a replication task (observed on 3.5.0). */
  database: Schema.optional(Schema.NullOr(Schema.String)),
  progress: Schema.optional(Schema.Number),
  design_document: Schema.optional(Schema.NullOr(Schema.String)),
})
export type ActiveTask = typeof ActiveTask.Type
export const ActiveTasks = Schema.Array(ActiveTask)

/** GET /_scheduler/docs/_replicator/{id} (COUCHDB-FACTS §10). */
export const SchedulerDoc = Schema.Struct({
  doc_id: Schema.String,
  state: Schema.NullOr(Schema.String),
  source: Schema.optional(Schema.NullOr(Schema.String)),
  target: Schema.optional(Schema.NullOr(Schema.String)),
  error_count: Schema.optional(Schema.Number),
  info: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
})
export type SchedulerDoc = typeof SchedulerDoc.Type

/** `_all_docs` rows: only the ids are read. */
export const AllDocsIds = Schema.Struct({ rows: Schema.Array(Schema.Struct({ id: Schema.String })) })

/** Any JSON object, e.g. a design document as stored. */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
