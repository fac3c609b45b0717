import { HttpClientRequest } from "@effect/platform"
import { Chunk, Duration, Effect, Option, Schema, Stream } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import { type CouchError, isRetryable } from "../couch/errors.ts"
import { defaultRetryPolicy, type RetryPolicy, withRetry } from "../shared/retry.ts"
import { DocConflict, DocNotFound, InvalidDocument } from "./errors.ts"
import type { Doc, DocumentStoreShape, SaveResult, StoreError } from "./store.ts"
import { bodyOf, checkCollection } from "./table.ts"

const DocSchema = Schema.Struct(
  { _id: Schema.String, _rev: Schema.optional(Schema.String) },
  Schema.Record({ key: Schema.String, value: Schema.Unknown }),
)
const Ok = Schema.Struct({ ok: Schema.Boolean })
const Written = Schema.Struct({ id: Schema.String, rev: Schema.String })
// COUCHDB-FACTS §3: one element per doc, ok with a rev or an error and reason (no rev).
const BulkResults = Schema.Array(
  Schema.Struct({
    id: Schema.String,
    rev: Schema.optional(Schema.String),
    error: Schema.optional(Schema.String),
    reason: Schema.optional(Schema.String),
  }),
)
// COUCHDB-FACTS §4: `doc` is null for a deleted row; a missing key is `{key, error}`.
const AllDocs = Schema.Struct({
  rows: Schema.Array(
    Schema.Struct({
      id: Schema.optional(Schema.String),
      key: Schema.Unknown,
      error: Schema.optional(Schema.String),
      value: Schema.optional(Schema.Struct({ rev: Schema.String, deleted: Schema.optional(Schema.Boolean) })),
      doc: Schema.optional(Schema.NullOr(DocSchema)),
    }),
  ),
})
const AllDbs = Schema.Array(Schema.String)

export interface CouchStoreSettings {
  /** Transient failures (network, timeout, 5xx, 429). */
  readonly retry: RetryPolicy
  /** Real 409s on a save: re-read the current rev and write again, this many times. */
  readonly conflictRetry: RetryPolicy
}

export const defaultCouchStoreSettings: CouchStoreSettings = {
  retry: { ...defaultRetryPolicy, base: Duration.millis(200) },
  conflictRetry: { retries: 10, base: Duration.millis(5), factor: 2, cap: Duration.millis(500) },
}

const dbMissing = (e: StoreError) =>
  e._tag === "CouchNotFound" && e.reason.includes("Database does not exist")

/** What a bulk write answered for one document, as the port says it. */
const toResult = (r: (typeof BulkResults.Type)[number]): SaveResult =>
  r.rev !== undefined && r.error === undefined
    ? { id: r.id, ok: true, rev: r.rev }
    : { id: r.id, ok: false, error: r.error ?? "unknown", reason: r.reason ?? "no reason given" }

/** The CouchDB requests the adapter is made of: retried sends, writes against the current rev, bulk and _all_docs reads. */
const couchRequests = (couch: CouchClientShape, settings: CouchStoreSettings) => {
  const describe = `CouchDB at ${couch.server}`
  const path = (db: string, id?: string) =>
    `/${encodeURIComponent(db)}${id === undefined ? "" : `/${id.startsWith("_design/") ? `_design/${encodeURIComponent(id.slice(8))}` : encodeURIComponent(id)}`}`
  const send = <A, I>(
    op: string,
    db: string,
    req: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I>,
  ): Effect.Effect<A, CouchError> =>
    couch.request(op, db, req, schema).pipe(
      withRetry(settings.retry, isRetryable),
      Effect.map((r) => r.body),
    )

  // 412 means a racing creator made it first: the database is there, which is all we wanted.
  const createDb = (db: string) =>
    send(`PUT /${db}`, db, HttpClientRequest.put(path(db)), Ok).pipe(
      Effect.asVoid,
      Effect.catchIf(
        (e) => e._tag === "CouchProtocolError" && e.reason.startsWith("HTTP 412"),
        () => Effect.void,
      ),
    )
  /** The current rev of a document, none when it is missing or deleted. */
  const currentRev = (db: string, id: string) =>
    send(`GET /${db}/${id}`, db, HttpClientRequest.get(path(db, id)), DocSchema).pipe(
      Effect.map((doc) => Option.fromNullable(doc._rev)),
      Effect.catchIf(
        (e) => e._tag === "CouchNotFound" && !dbMissing(e),
        () => Effect.succeedNone,
      ),
    )
  const refused =
    (collection: string, id: string) =>
    (e: CouchError | DocNotFound | DocConflict): Effect.Effect<never, StoreError> =>
      e._tag === "CouchBadRequest"
        ? Effect.fail(new InvalidDocument({ collection, id, reason: e.reason }))
        : Effect.fail(e)
  /** Writes once against the rev read just before; a 409 means someone wrote in between. */
  const writeOnce = (db: string, id: string, body: Record<string, unknown>, deleted: boolean) =>
    currentRev(db, id).pipe(
      Effect.flatMap((rev): Effect.Effect<typeof Written.Type, CouchError | DocNotFound> => {
        if (deleted && Option.isNone(rev))
          return Effect.fail(new DocNotFound({ store: describe, collection: db, id }))
        const request = deleted
          ? HttpClientRequest.del(path(db, id), { urlParams: { rev: Option.getOrThrow(rev) } })
          : HttpClientRequest.put(path(db, id)).pipe(
              HttpClientRequest.bodyUnsafeJson({
                ...body,
                _id: id,
                ...Option.match(rev, { onNone: () => ({}), onSome: (r) => ({ _rev: r }) }),
              }),
            )
        return send(`${deleted ? "DELETE" : "PUT"} /${db}/${id}`, db, request, Written)
      }),
    )
  const write = (collection: string, id: string, body: Record<string, unknown>, deleted: boolean) =>
    Effect.gen(function* () {
      const db = yield* checkCollection(collection)
      const attempt = writeOnce(db, id, body, deleted).pipe(
        Effect.catchIf(
          (e) => !deleted && e._tag === "CouchNotFound" && dbMissing(e),
          () => createDb(db).pipe(Effect.zipRight(writeOnce(db, id, body, deleted))),
        ),
      )
      const written = yield* attempt.pipe(
        withRetry(settings.conflictRetry, (e: StoreError) => e._tag === "CouchConflict"),
        Effect.catchTags({
          CouchConflict: () =>
            Effect.fail(
              new DocConflict({
                store: describe,
                collection,
                id,
                attempts: settings.conflictRetry.retries + 1,
              }),
            ),
          CouchNotFound: (e) =>
            Effect.fail(new DocNotFound({ store: describe, collection, ...(dbMissing(e) ? {} : { id }) })),
        }),
        Effect.catchAll(refused(collection, id)),
      )
      return { id, rev: written.rev }
    })

  const bulkDocs = (
    db: string,
    docs: ReadonlyArray<Doc>,
    newEdits = true,
  ): Effect.Effect<typeof BulkResults.Type, CouchError> =>
    send(
      `POST /${db}/_bulk_docs`,
      db,
      HttpClientRequest.post(`${path(db)}/_bulk_docs`).pipe(
        HttpClientRequest.bodyUnsafeJson(newEdits ? { docs } : { docs, new_edits: false }),
      ),
      BulkResults,
    ).pipe(Effect.catchIf(dbMissing, () => createDb(db).pipe(Effect.zipRight(bulkDocs(db, docs, newEdits)))))

  const allDocs = (db: string, params: Record<string, string>, keys?: ReadonlyArray<string>) =>
    send(
      `${keys === undefined ? "GET" : "POST"} /${db}/_all_docs`,
      db,
      keys === undefined
        ? HttpClientRequest.get(`${path(db)}/_all_docs`, { urlParams: { include_docs: "true", ...params } })
        : HttpClientRequest.post(`${path(db)}/_all_docs`, { urlParams: { include_docs: "true" } }).pipe(
            HttpClientRequest.bodyUnsafeJson({ keys }),
          ),
      AllDocs,
    )
  const notFound =
    (collection: string, id?: string) =>
    (e: StoreError): Effect.Effect<never, StoreError> =>
      dbMissing(e) || (id !== undefined && e._tag === "CouchNotFound")
        ? Effect.fail(new DocNotFound({ store: describe, collection, ...(dbMissing(e) ? {} : { id }) }))
        : Effect.fail(e)
  return { describe, path, send, write, bulkDocs, allDocs, notFound }
}

/** The couchdb adapter: collection = database, created on first save (COUCHDB-FACTS §1, §2). */
export const makeCouchStore = (couch: CouchClientShape, settings = defaultCouchStoreSettings) => {
  const { describe, path, send, write, bulkDocs, allDocs, notFound } = couchRequests(couch, settings)
  const store: DocumentStoreShape = {
    describe,
    save: Effect.fn("Docs.save")(function* (collection, id, doc) {
      return yield* write(collection, id, bodyOf(doc), false)
    }),
    saveMany: Effect.fn("Docs.saveMany")(function* (collection, docs) {
      const db = yield* checkCollection(collection)
      if (docs.length === 0) return []
      const results = yield* bulkDocs(db, docs)
      return results.map(toResult)
    }),
    saveReplicated: Effect.fn("Docs.saveReplicated")(function* (collection, docs) {
      const db = yield* checkCollection(collection)
      if (docs.length === 0) return []
      // new_edits:false answers only its errors, usually [] (COUCHDB-FACTS §3): the revisions are
      // kept exactly, as couchrestore writes them.
      const errors = new Map((yield* bulkDocs(db, docs, false)).map((r) => [r.id, toResult(r)]))
      return docs.map((d): SaveResult => errors.get(d._id) ?? { id: d._id, ok: true, rev: d._rev ?? "" })
    }),
    get: Effect.fn("Docs.get")(function* (collection, id) {
      const db = yield* checkCollection(collection)
      return yield* send(`GET /${db}/${id}`, db, HttpClientRequest.get(path(db, id)), DocSchema).pipe(
        Effect.catchAll(notFound(collection, id)),
      )
    }),
    getMany: Effect.fn("Docs.getMany")(function* (collection, ids) {
      const db = yield* checkCollection(collection)
      const found = new Map<string, Doc>()
      if (ids.length === 0) return found
      // One request: include_docs gives the body of a live doc and `value.deleted` of a tombstone.
      const answer = yield* allDocs(db, {}, ids).pipe(
        Effect.map(Option.some),
        Effect.catchIf(dbMissing, () => Effect.succeedNone),
      )
      for (const row of Option.match(answer, { onNone: () => [], onSome: (a) => a.rows })) {
        if (row.doc != null) found.set(row.doc._id, row.doc)
        else if (row.id !== undefined && row.value?.deleted === true) {
          found.set(row.id, { _id: row.id, _rev: row.value.rev, _deleted: true })
        }
      }
      return found
    }),
    list: (collection, options) => {
      const pageSize = options?.pageSize ?? 1000
      // Paged by start_key, never skip (CouchDB walks every skipped row); one extra row tells
      // where the next page starts.
      const page = (start: Option.Option<string>) =>
        checkCollection(collection).pipe(
          Effect.flatMap((db) =>
            allDocs(db, {
              limit: String(pageSize + 1),
              ...Option.match(start, {
                onNone: () => ({}),
                onSome: (k) => ({ start_key: JSON.stringify(k) }),
              }),
            }),
          ),
          Effect.catchAll(notFound(collection)),
          Effect.map(({ rows }) => {
            const docs = rows
              .slice(0, pageSize)
              .flatMap((r) => (r.doc != null && !r.doc._id.startsWith("_design/") ? [r.doc] : []))
            const next = rows.length > pageSize ? Option.fromNullable(rows[pageSize]?.id) : Option.none()
            return [Chunk.fromIterable(docs), Option.map(next, Option.some)] as const
          }),
        )
      return Stream.paginateChunkEffect(Option.none<string>(), page)
    },
    delete: Effect.fn("Docs.delete")(function* (collection, id) {
      return yield* write(collection, id, {}, true)
    }),
    collections: send("GET /_all_dbs", "", HttpClientRequest.get("/_all_dbs"), AllDbs).pipe(
      // System databases (`_users`, `_replicator`) are CouchDB's, not the application's.
      Effect.map((dbs) => dbs.filter((db) => !db.startsWith("_"))),
    ),
  }
  return store
}
