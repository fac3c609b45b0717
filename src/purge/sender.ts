import { Clock, Console, Effect, Ref } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { CouchError } from "../couch/errors.ts"
import type { PurgeOutcome } from "../couch/schema.ts"
import { type BatchLimits, purgeBody, splitBatches, type Tombstone } from "./batches.ts"
import type { Counter } from "./counts.ts"

export interface SenderOptions {
  readonly db: string
  /** Print each purged document as an NDJSON line on stdout. */
  readonly list: boolean
}

const tooMany = /Exceeded maximum number of (documents|revisions)/i

const isRevList = (outcome: PurgeOutcome): outcome is ReadonlyArray<string> => Array.isArray(outcome)

export const ndjson = (id: string, revs: ReadonlyArray<string>) => Console.log(JSON.stringify({ id, revs }))

/**
 * Sends tombstones as `_purge` requests within the batch limits: each request retried under the
 * run's policy, its `purged` map checked against what was asked, and the batch shrunk when the
 * server refuses its size. `sendAll` is true when every document is accounted for.
 */
export const makeSender = Effect.fn("Purge.makeSender")(function* (
  couch: CouchClientShape,
  counter: Counter,
  initialLimits: BatchLimits,
  options: SenderOptions,
) {
  const db = options.db
  const limits = yield* Ref.make(initialLimits)

  const batchFailed = (batch: ReadonlyArray<Tombstone>, why: string) =>
    Effect.logError(`batch of ${batch.length} documents not purged: ${why}`).pipe(
      Effect.annotateLogs({ db, first_id: batch[0]?.id ?? "" }),
      Effect.as(false),
    )

  /** Counts one answer: revs purged, revs already gone, documents the server refused. */
  const account = Effect.fn("Purge.account")(function* (
    body: Record<string, ReadonlyArray<string>>,
    purged: Record<string, PurgeOutcome>,
  ) {
    let done = 0
    let gone = 0
    let failed = 0
    for (const [id, sent] of Object.entries(body)) {
      const outcome = purged[id]
      if (outcome === undefined || !isRevList(outcome)) {
        failed += 1
        const why =
          outcome === undefined ? "missing from the answer" : `${outcome.error}: ${outcome.reason ?? ""}`
        yield* Effect.logWarning(`document not purged: ${why}`).pipe(Effect.annotateLogs({ db, id }))
        continue
      }
      const removed = sent.filter((rev) => outcome.includes(rev))
      done += removed.length
      gone += sent.length - removed.length
      if (options.list && removed.length > 0) yield* ndjson(id, removed)
    }
    return { purged: done, gone, failed }
  })

  /** One `_purge` request; true when every document in it is accounted for. */
  const send = (batch: ReadonlyArray<Tombstone>): Effect.Effect<boolean, CouchError> =>
    Effect.gen(function* () {
      const body = purgeBody(batch)
      const t0 = yield* Clock.currentTimeMillis
      const result = yield* counter.retried(
        counter.bump({ requests: 1 }).pipe(Effect.zipRight(couch.purge(db, body))),
      )
      const { purged, gone, failed } = yield* account(body, result.answer.purged)
      yield* counter.bump({
        purgedRevs: purged,
        alreadyGone: gone,
        failedDocs: failed,
        accepted: result.status === 202 ? 1 : 0,
      })
      const ms = (yield* Clock.currentTimeMillis) - t0
      yield* Effect.logDebug("batch purged").pipe(
        Effect.annotateLogs({ db, ids: batch.length, purged, already_gone: gone, failed, ms }),
      )
      return failed === 0
    }).pipe(
      Effect.catchTag("CouchBadRequest", (e) =>
        tooMany.test(e.reason) ? shrinkAndResend(batch, e.reason) : batchFailed(batch, e.message),
      ),
      // 5xx/429 after every retry: this batch failed, the rest go on. A network failure or timeout
      // after every retry means the server is gone: stop (the checkpoint is still saved).
      Effect.catchTag("CouchUnavailable", (e) =>
        e.kind === "status" ? batchFailed(batch, e.message) : Effect.fail(e),
      ),
      Effect.catchTags({
        CouchConflict: (e) => batchFailed(batch, e.message),
        CouchProtocolError: (e) => batchFailed(batch, e.message),
      }),
    )

  /**
   * The server refused the size: halve the limit it named (relative to the refused batch, so
   * requests refused at the same time do not halve it again and again) and resend in pieces.
   */
  const shrinkAndResend = (
    batch: ReadonlyArray<Tombstone>,
    reason: string,
  ): Effect.Effect<boolean, CouchError> =>
    Effect.gen(function* () {
      const ids = batch.length
      const revs = batch.reduce((n, t) => n + t.revs.length, 0)
      const byDocs = /documents/i.test(reason)
      if ((byDocs && ids <= 1) || (!byDocs && revs <= 1)) return yield* batchFailed(batch, reason)
      const next = yield* Ref.updateAndGet(limits, (l) =>
        byDocs
          ? { ...l, maxIds: Math.max(1, Math.min(l.maxIds, Math.floor(ids / 2))) }
          : { ...l, maxRevs: Math.max(1, Math.min(l.maxRevs, Math.floor(revs / 2))) },
      )
      yield* Effect.logWarning(
        `server refused the batch size (${reason}); continuing with smaller batches`,
      ).pipe(Effect.annotateLogs({ db, max_ids: next.maxIds, max_revs: next.maxRevs }))
      return yield* sendAll(batch)
    })

  const sendAll = (tombstones: ReadonlyArray<Tombstone>): Effect.Effect<boolean, CouchError> =>
    Ref.get(limits).pipe(
      Effect.flatMap((l) => Effect.forEach(splitBatches(tombstones, l), send)),
      Effect.map((oks) => oks.every(Boolean)),
    )

  return { sendAll, limits: Ref.get(limits) }
})
