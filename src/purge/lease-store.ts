import { HttpClientRequest } from "@effect/platform"
import { Effect, Either, Exit, Option, Schema } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import { type CouchError, concernsServer, isDbExisting, isDbMissing, isRetryable } from "../couch/errors.ts"
import { PutAnswer } from "../couch/schema.ts"
import { makeGroupCommit } from "../shared/group-commit.ts"
import { type RetryPolicy, withRetry } from "../shared/retry.ts"
import { type LeaseDoc, LeaseDoc as LeaseDocSchema, leaseDocId, leaseDocPath, leasesDb } from "./lease-doc.ts"
import { LeaseStoreError } from "./lease-errors.ts"

/**
 * The requests a lease is made of, each one request (retried only for what is worth it): the
 * lease document's PUT (a 409 is the compare-and-set saying no), GET and DELETE, and the lease
 * database's creation. Answers as CouchDB 3.5 gives them (COUCHDB-FACTS §1, §2).
 *
 * The writes (PUT, DELETE) of a run go by group commit: those asked for while one is on its way
 * go next, together, as one `_bulk_docs` (§3), each document with its own answer: a rev, or a
 * `conflict` that is the same compare-and-set's no. Every lease write lands in the one lease
 * database, whose updater writes one request at a time; a run of thousands of small databases
 * made it the bottleneck (two writes a database) until the writes went together.
 */

/** A write refused because the document changed (409), or because the lease database is missing. */
export type WriteRefusal = "conflict" | "no-database"

/** What a GET of a lease found: the lease, or none (missing, or released: deleted). */
export type ReadLease = Option.Option<Pick<LeaseDoc, "_rev" | "holder" | "expires_at">>

/**
 * What a failed lease request means to a user. The server's own errors (credentials refused, an
 * account locked, a server not reached or too slow, an answer that is not CouchDB's, a certificate
 * not trusted) pass as they are: they say what to fix, and stop a run of many at once. A 403 on
 * the lease database, or a server failing on it, is told as the lease that could not be taken.
 */
const storeError =
  (couch: CouchClientShape, db: string, operation: string) =>
  (e: CouchError): CouchError | LeaseStoreError => {
    if (
      concernsServer(e) ||
      e._tag === "CouchProtocolError" ||
      (e._tag === "CouchUnavailable" && e.kind === "timeout")
    ) {
      return e
    }
    const reason =
      e._tag === "CouchForbidden"
        ? `403 ${e.reason}`
        : e._tag === "CouchConflict"
          ? "409 conflict"
          : e.message
    return new LeaseStoreError({
      server: couch.server,
      db,
      operation,
      reason,
      refused: e._tag === "CouchForbidden",
    })
  }

/** One element of a `_bulk_docs` answer (COUCHDB-FACTS §3): a rev when written, else why not. */
const BulkAnswer = Schema.Array(
  Schema.Struct({
    id: Schema.String,
    rev: Schema.optional(Schema.String),
    error: Schema.optional(Schema.String),
    reason: Schema.optional(Schema.String),
  }),
)

/** A lease write: the document's new body (a PUT), or its deletion at a rev (a DELETE). */
interface LeaseWrite {
  readonly db: string
  readonly doc: Record<string, unknown>
  readonly alone: Effect.Effect<Either.Either<string, WriteRefusal>, CouchError | LeaseStoreError>
}

/**
 * One write's answer in a `_bulk_docs` answer, `row` the element in its place: a rev, or a
 * conflict (the compare-and-set's no); a document refused on its own (a validation function's
 * 403) is refused as a 403 to the PUT would be.
 */
const bulkResult = (
  server: string,
  operation: string,
  w: LeaseWrite,
  row: (typeof BulkAnswer.Type)[number] | undefined,
): Exit.Exit<Either.Either<string, WriteRefusal>, CouchError | LeaseStoreError> => {
  const failed = (reason: string, refused: boolean) =>
    Exit.fail(new LeaseStoreError({ server, db: w.db, operation, reason, refused }))
  if (row === undefined || row.id !== w.doc._id)
    return failed("the answer does not list the lease in its place", false)
  if (row.rev !== undefined && row.error === undefined) return Exit.succeed(Either.right(row.rev))
  if (row.error === "conflict") return Exit.succeed(Either.left("conflict"))
  const refused = row.error === "forbidden" || row.error === "unauthorized"
  return failed(`${refused ? "403 " : ""}${row.error ?? "no rev"}: ${row.reason ?? ""}`.trim(), refused)
}

/** A lease document that does not read as one still has a rev: it is taken over as expired. */
const RevOnly = Schema.Struct({ _rev: Schema.String })

export const makeLeaseStore = (couch: CouchClientShape, retry: RetryPolicy) => {
  const retried = <A>(self: Effect.Effect<A, CouchError>) => self.pipe(withRetry(retry, isRetryable))
  const doc = (method: "GET" | "PUT" | "DELETE", db: string) => `${method} /${leasesDb}/${leaseDocId(db)}`

  /** PUT of the lease (with `_rev` in the body to replace one): the new rev, or why not. */
  const putAlone = (db: string, body: Record<string, unknown>) =>
    retried(
      couch.request(
        doc("PUT", db),
        leasesDb,
        HttpClientRequest.put(leaseDocPath(db)).pipe(HttpClientRequest.bodyUnsafeJson(body)),
        PutAnswer,
      ),
    ).pipe(
      Effect.map((r): Either.Either<string, WriteRefusal> => Either.right(r.body.rev)),
      Effect.catchAll((e) =>
        e._tag === "CouchConflict"
          ? Effect.succeed(Either.left<WriteRefusal>("conflict"))
          : isDbMissing(e)
            ? Effect.succeed(Either.left<WriteRefusal>("no-database"))
            : Effect.fail(storeError(couch, db, doc("PUT", db))(e)),
      ),
    )

  /** The lease as it stands; a document that is not a lease reads as an expired one. */
  const get = (db: string) =>
    retried(
      couch.request(doc("GET", db), leasesDb, HttpClientRequest.get(leaseDocPath(db)), Schema.Unknown),
    ).pipe(
      Effect.map((r): ReadLease => {
        const lease = Schema.decodeUnknownOption(LeaseDocSchema)(r.body)
        if (Option.isSome(lease)) return lease
        return Option.map(Schema.decodeUnknownOption(RevOnly)(r.body), ({ _rev }) => ({
          _rev,
          holder: "(not a dbsweep lease)",
          expires_at: "",
        }))
      }),
      Effect.catchAll((e) =>
        e._tag === "CouchNotFound" && !isDbMissing(e)
          ? Effect.succeed<ReadLease>(Option.none())
          : Effect.fail(storeError(couch, db, doc("GET", db))(e)),
      ),
    )

  /** DELETE with the rev: true when deleted, false when it was not ours to delete (409) or gone. */
  const removeAlone = (db: string, rev: string) =>
    retried(
      couch.request(
        doc("DELETE", db),
        leasesDb,
        HttpClientRequest.del(leaseDocPath(db), { urlParams: { rev } }),
        Schema.Unknown,
      ),
    ).pipe(
      Effect.as(true),
      Effect.catchAll((e) =>
        e._tag === "CouchConflict" || e._tag === "CouchNotFound"
          ? Effect.succeed(false)
          : Effect.fail(storeError(couch, db, doc("DELETE", db))(e)),
      ),
    )

  /**
   * Two or more writes in one `_bulk_docs`: each its own answer (`bulkResult`). The lease database
   * missing is "no-database" for each, as for a PUT alone; another failure of the request is each
   * write's failure.
   */
  const bulk = (writes: ReadonlyArray<LeaseWrite>) => {
    const operation = `POST /${leasesDb}/_bulk_docs`
    return retried(
      couch.request(
        operation,
        leasesDb,
        HttpClientRequest.post(`/${leasesDb}/_bulk_docs`).pipe(
          HttpClientRequest.bodyUnsafeJson({ docs: writes.map((w) => w.doc) }),
        ),
        BulkAnswer,
      ),
    ).pipe(
      Effect.map((r) => writes.map((w, i) => bulkResult(couch.server, operation, w, r.body[i]))),
      Effect.catchAll((e) =>
        Effect.succeed(
          writes.map((w) =>
            isDbMissing(e)
              ? Exit.succeed(Either.left<WriteRefusal>("no-database"))
              : Exit.fail(storeError(couch, w.db, operation)(e)),
          ),
        ),
      ),
    )
  }

  const writes = makeGroupCommit({
    max: 100,
    key: (w: LeaseWrite) => w.db,
    one: (w: LeaseWrite) => w.alone,
    many: bulk,
  })

  /** The lease written (with `_rev` in the body to replace one): the new rev, or why not. */
  const put = (db: string, body: Record<string, unknown>) =>
    writes.write({ db, doc: { _id: leaseDocId(db), ...body }, alone: putAlone(db, body) })

  /** The lease deleted at `rev`: true when deleted, false when it was not ours to delete or gone. */
  const remove = (db: string, rev: string) =>
    writes
      .write({
        db,
        doc: { _id: leaseDocId(db), _rev: rev, _deleted: true },
        alone: Effect.map(removeAlone(db, rev), (deleted) =>
          deleted ? Either.right(rev) : Either.left<WriteRefusal>("conflict"),
        ),
      })
      .pipe(Effect.map(Either.isRight))

  /** Creates the lease database; a 412 (another purger created it first) is as good (§1). */
  const createDb = (db: string) =>
    retried(
      couch.request(
        `PUT /${leasesDb}`,
        leasesDb,
        HttpClientRequest.put(`/${leasesDb}`),
        Schema.Struct({ ok: Schema.Boolean }),
      ),
    ).pipe(
      Effect.asVoid,
      Effect.catchAll((e) =>
        isDbExisting(e) ? Effect.void : Effect.fail(storeError(couch, db, `PUT /${leasesDb}`)(e)),
      ),
    )

  return { put, get, remove, createDb }
}

export type LeaseStore = ReturnType<typeof makeLeaseStore>
