import { HttpBody, HttpClientRequest } from "@effect/platform"
import { Chunk, Clock, Duration, Effect, Either, Option, Schema, Stream } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import {
  type CouchError,
  CouchProtocolError,
  isDbExisting,
  isDbMissing,
  isRetryable,
} from "../couch/errors.ts"
import { defaultRetryPolicy, type RetryPolicy, withRetry } from "../shared/retry.ts"
import { type BulkResult, checkAllDocs, checkBulkResults, checkDoc } from "./couch-answers.ts"
import { DocConflict, DocNotFound, InvalidDocument } from "./errors.ts"
import type { Doc, DocumentStoreShape, SaveResult, StoreError } from "./store.ts"
import { bodyOf, checkCollection, codePointOrder } from "./table.ts"

const Ok = Schema.Struct({ ok: Schema.Boolean })
const Written = Schema.Struct({ id: Schema.String, rev: Schema.String })
const AllDbs = Schema.Array(Schema.String)

export interface CouchStoreSettings {
  /** Transient failures (network, timeout, 5xx, 429). */
  readonly retry: RetryPolicy
  /**
   * Real 409s on a save: re-read the current rev and write again after a wait, bounded in count
   * and time. Full jitter: a writer that re-writes the document in a tight loop falls into step
   * with fixed waits and wins every time; random shares of a growing delay get between its writes.
   */
  readonly conflictRetry: RetryPolicy
}

export const defaultCouchStoreSettings: CouchStoreSettings = {
  retry: { ...defaultRetryPolicy, base: Duration.millis(200) },
  conflictRetry: {
    retries: 50,
    base: Duration.millis(2),
    factor: 2,
    cap: Duration.millis(200),
    jitter: [0, 1],
    within: Duration.seconds(10),
  },
}

/**
 * A JSON body as text: a bulk body of hundreds of documents is stringified once and handed to
 * `fetch` as it is (`bodyUnsafeJson` encodes it to bytes, which the client decodes again).
 */
const jsonText = (body: unknown) =>
  HttpClientRequest.setBody(HttpBody.raw(JSON.stringify(body), { contentType: "application/json" }))

/** What a bulk write answered for one document, as the port says it. */
const toResult = (r: BulkResult): SaveResult =>
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

  /** A request whose 2xx answer is checked by hand (`check`): the bulk answers, read per row. */
  const sendChecked = <A>(
    op: string,
    db: string,
    req: HttpClientRequest.HttpClientRequest,
    check: (json: unknown) => Either.Either<A, string>,
  ): Effect.Effect<A, CouchError> =>
    send(op, db, req, Schema.Unknown).pipe(
      Effect.flatMap((json) =>
        Either.match(check(json), {
          onLeft: (reason) =>
            Effect.fail(new CouchProtocolError({ server: couch.server, operation: op, reason })),
          onRight: (a) => Effect.succeed(a),
        }),
      ),
    )
  const getDoc = (db: string, id: string) =>
    sendChecked(`GET /${db}/${id}`, db, HttpClientRequest.get(path(db, id)), (json) => checkDoc(json, ""))

  // 412 means a racing creator made it first: the database is there, which is all we wanted.
  const createDb = (db: string) =>
    send(`PUT /${db}`, db, HttpClientRequest.put(path(db)), Ok).pipe(
      Effect.asVoid,
      Effect.catchIf(isDbExisting, () => Effect.void),
    )
  /** The current rev of a document, none when it is missing or deleted. */
  const currentRev = (db: string, id: string) =>
    getDoc(db, id).pipe(
      Effect.map((doc) => Option.fromNullable(doc._rev)),
      Effect.catchIf(
        (e) => e._tag === "CouchNotFound" && !isDbMissing(e),
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
      let attempts = 0
      const attempt = Effect.suspend(() => {
        attempts += 1
        return writeOnce(db, id, body, deleted)
      }).pipe(
        Effect.catchIf(
          (e) => !deleted && e._tag === "CouchNotFound" && isDbMissing(e),
          () => createDb(db).pipe(Effect.zipRight(writeOnce(db, id, body, deleted))),
        ),
      )
      const started = yield* Clock.currentTimeMillis
      const written = yield* attempt.pipe(
        withRetry(settings.conflictRetry, (e: StoreError) => e._tag === "CouchConflict"),
        Effect.catchTags({
          CouchConflict: () =>
            Clock.currentTimeMillis.pipe(
              Effect.flatMap((now) =>
                Effect.fail(
                  new DocConflict({
                    store: describe,
                    collection,
                    id,
                    attempts,
                    seconds: (now - started) / 1000,
                  }),
                ),
              ),
            ),
          CouchNotFound: (e) =>
            Effect.fail(new DocNotFound({ store: describe, collection, ...(isDbMissing(e) ? {} : { id }) })),
        }),
        Effect.catchAll(refused(collection, id)),
      )
      return { id, rev: written.rev }
    })

  const bulkDocs = (
    db: string,
    docs: ReadonlyArray<Doc>,
    newEdits = true,
  ): Effect.Effect<ReadonlyArray<BulkResult>, CouchError> =>
    sendChecked(
      `POST /${db}/_bulk_docs`,
      db,
      HttpClientRequest.post(`${path(db)}/_bulk_docs`).pipe(
        jsonText(newEdits ? { docs } : { docs, new_edits: false }),
      ),
      checkBulkResults,
    ).pipe(
      Effect.catchIf(isDbMissing, () => createDb(db).pipe(Effect.zipRight(bulkDocs(db, docs, newEdits)))),
    )

  const allDocs = (db: string, params: Record<string, string>, keys?: ReadonlyArray<string>) =>
    sendChecked(
      `${keys === undefined ? "GET" : "POST"} /${db}/_all_docs`,
      db,
      keys === undefined
        ? HttpClientRequest.get(`${path(db)}/_all_docs`, { urlParams: { include_docs: "true", ...params } })
        : HttpClientRequest.post(`${path(db)}/_all_docs`, { urlParams: { include_docs: "true" } }).pipe(
            jsonText({ keys }),
          ),
      checkAllDocs,
    )
  const notFound =
    (collection: string, id?: string) =>
    (e: StoreError): Effect.Effect<never, StoreError> =>
      isDbMissing(e) || (id !== undefined && e._tag === "CouchNotFound")
        ? Effect.fail(new DocNotFound({ store: describe, collection, ...(isDbMissing(e) ? {} : { id }) }))
        : Effect.fail(e)
  return { describe, send, getDoc, write, bulkDocs, allDocs, notFound }
}

/**
 * When `getMany` reads a batch of ids as one range of `_all_docs` before asking for them as keys.
 * A re-run of a migration asks for batches the target already holds, in id order: read as a range
 * they are one scan of the index, where as keys each is a lookup of its own. On a real CouchDB
 * 3.5.0, 50,000 documents of about 600 bytes in batches of 500, 10 at a time: 2.5-3.5 s as
 * ranges, 7.7-8.8 s as keys. A range holds live documents only and may hold others than those
 * asked for (at most twice as many rows as ids are read); the ids it does not answer (missing,
 * deleted, past its end, or placed elsewhere by the server's order) are then asked as keys, so
 * the answer is the keys' answer either way. A range that answers under half of its ids (new
 * documents, a target holding many others) costs a request: the next `pause` batches of that
 * collection go straight to keys, then a range is tried again.
 */
export const rangeAdvisor = (
  options: { readonly min: number; readonly pause: number } = { min: 16, pause: 8 },
) => {
  const paused = new Map<string, number>()
  return {
    /** The range to read first (`_all_docs` params), or none: ids too few, out of order, or paused. */
    advise: (collection: string, ids: ReadonlyArray<string>) => {
      if (ids.length < options.min) return undefined
      const left = paused.get(collection) ?? 0
      if (left > 0) {
        paused.set(collection, left - 1)
        return undefined
      }
      for (let i = 1; i < ids.length; i++) if (codePointOrder(ids[i - 1]!, ids[i]!) >= 0) return undefined
      return {
        params: {
          start_key: JSON.stringify(ids[0]),
          end_key: JSON.stringify(ids[ids.length - 1]),
          limit: String(ids.length * 2),
        },
      }
    },
    /** How a range went: `answered` of its `asked` ids. */
    record: (collection: string, answered: number, asked: number) => {
      if (answered * 2 < asked) paused.set(collection, options.pause)
      else paused.delete(collection)
    },
  }
}

/** The couchdb adapter: collection = database, created on first save (COUCHDB-FACTS §1, §2). */
export const makeCouchStore = (couch: CouchClientShape, settings = defaultCouchStoreSettings) => {
  const { describe, send, getDoc, write, bulkDocs, allDocs, notFound } = couchRequests(couch, settings)
  const ranges = rangeAdvisor()
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
      return yield* getDoc(db, id).pipe(Effect.catchAll(notFound(collection, id)))
    }),
    getMany: Effect.fn("Docs.getMany")(function* (collection, ids) {
      const db = yield* checkCollection(collection)
      const found = new Map<string, Doc>()
      if (ids.length === 0) return found
      // A batch in id order is first read as a range, when ranges have been paying off here.
      const asked = ranges.advise(collection, ids)
      if (asked !== undefined) {
        const rows = yield* allDocs(db, asked.params).pipe(
          Effect.catchIf(isDbMissing, () => Effect.succeed([])),
        )
        const wanted = new Set(ids)
        for (const row of rows)
          if (row.doc != null && wanted.has(row.doc._id)) found.set(row.doc._id, row.doc)
        ranges.record(collection, found.size, ids.length)
        if (found.size === ids.length) return found
      }
      // The rest as keys, in one request: include_docs gives the body of a live doc and
      // `value.deleted` of a tombstone.
      const rest = found.size === 0 ? ids : ids.filter((id) => !found.has(id))
      const answer = yield* allDocs(db, {}, rest).pipe(
        Effect.map(Option.some),
        Effect.catchIf(isDbMissing, () => Effect.succeedNone),
      )
      for (const row of Option.getOrElse(answer, () => [])) {
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
          Effect.map((rows) => {
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
