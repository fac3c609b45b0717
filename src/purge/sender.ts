import { Console, Effect } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { CouchError } from "../couch/errors.ts"
import type { PurgeOutcome } from "../couch/schema.ts"
import { type BatchLimits, purgeBody, revsOf, splitBatches, type Tombstone } from "./batches.ts"
import type { Counter } from "./counts.ts"

export interface SenderOptions {
  readonly db: string
  /** Print each purged document as an NDJSON line on stdout. */
  readonly list: boolean
  /** `--list` lines name the database (`{"db", "id", "revs"}`): a run of many databases. */
  readonly listDb?: boolean
}

const tooMany = /Exceeded maximum number of (documents|revisions)/i

const isRevList = (outcome: PurgeOutcome): outcome is ReadonlyArray<string> => Array.isArray(outcome)

/** One purged (or, in a dry run, selected) document as `--list` prints it. */
export const ndjsonLine = (id: string, revs: ReadonlyArray<string>, db?: string, held?: string) =>
  JSON.stringify({ ...(db === undefined ? {} : { db }), id, revs, ...(held === undefined ? {} : { held }) })

/** What one `_purge` answer says of the documents asked for. */
interface Accounted {
  readonly purged: number
  readonly gone: number
  /** Documents not purged, with why. */
  readonly refused: ReadonlyArray<readonly [id: string, why: string]>
  /** `--list` lines of the documents purged. */
  readonly listed: ReadonlyArray<string>
}

/** Counts one answer: revs purged, revs already gone, documents the server refused. */
const account = (
  body: Record<string, ReadonlyArray<string>>,
  purged: Record<string, PurgeOutcome>,
  list: boolean,
  db: string | undefined,
): Accounted => {
  let done = 0
  let gone = 0
  const refused: Array<readonly [string, string]> = []
  const listed: Array<string> = []
  for (const id in body) {
    const sent = body[id] ?? []
    const outcome = purged[id]
    if (outcome === undefined || !isRevList(outcome)) {
      refused.push([
        id,
        outcome === undefined ? "missing from the answer" : `${outcome.error}: ${outcome.reason ?? ""}`,
      ])
      continue
    }
    let removed = 0
    for (const rev of sent) if (outcome.includes(rev)) removed += 1
    done += removed
    gone += sent.length - removed
    if (list && removed > 0)
      listed.push(
        ndjsonLine(id, removed === sent.length ? sent : sent.filter((rev) => outcome.includes(rev)), db),
      )
  }
  return { purged: done, gone, refused, listed }
}

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
  // A plain variable, not a Ref: read for every unit, on one thread.
  let limits = initialLimits

  const batchFailed = (batch: ReadonlyArray<Tombstone>, why: string) =>
    Effect.logError(`batch of ${batch.length} documents not purged: ${why}`).pipe(
      Effect.annotateLogs({ db, first_id: batch[0]?.id ?? "" }),
      Effect.as(false),
    )

  /** What a request that failed after its retries means for its batch. */
  const failed = (batch: ReadonlyArray<Tombstone>, e: CouchError): Effect.Effect<boolean, CouchError> => {
    switch (e._tag) {
      case "CouchBadRequest":
        return tooMany.test(e.reason) ? shrinkAndResend(batch, e.reason) : batchFailed(batch, e.message)
      // 5xx/429 after every retry: this batch failed, the rest go on. A network failure or timeout
      // after every retry means the server is gone: stop (the checkpoint is still saved).
      case "CouchUnavailable":
        return e.kind === "status" ? batchFailed(batch, e.message) : Effect.fail(e)
      case "CouchConflict":
      case "CouchProtocolError":
        return batchFailed(batch, e.message)
      default:
        return Effect.fail(e)
    }
  }

  /**
   * One `_purge` request; true when every document in it is accounted for. The answer is counted
   * in the step that receives it: a unit's request is a few effect steps, not a dozen.
   */
  const send = (batch: ReadonlyArray<Tombstone>): Effect.Effect<boolean, CouchError> => {
    const body = purgeBody(batch)
    const attempt = Effect.suspend(() => {
      counter.add({ requests: 1 })
      return couch.purge(db, body)
    })
    return Effect.flatMap(counter.retried(attempt), (result) => {
      const { purged, gone, refused, listed } = account(
        body,
        result.answer.purged,
        options.list,
        options.listDb ? options.db : undefined,
      )
      counter.add({
        purgedRevs: purged,
        alreadyGone: gone,
        failedDocs: refused.length,
        accepted: result.status === 202 ? 1 : 0,
      })
      // Nearly every answer purges everything asked: nothing more to do for it.
      if (refused.length === 0 && listed.length === 0) return Effect.succeed(true)
      return Effect.all(
        [
          Effect.forEach(refused, ([id, why]) =>
            Effect.logWarning(`document not purged: ${why}`).pipe(Effect.annotateLogs({ db, id })),
          ),
          listed.length > 0 ? Console.log(listed.join("\n")) : Effect.void,
        ],
        { discard: true },
      ).pipe(Effect.as(refused.length === 0))
    }).pipe(Effect.catchAll((e) => failed(batch, e)))
  }

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
      const revs = revsOf(batch)
      const byDocs = /documents/i.test(reason)
      if ((byDocs && ids <= 1) || (!byDocs && revs <= 1)) return yield* batchFailed(batch, reason)
      const l = limits
      const next = byDocs
        ? { ...l, maxIds: Math.max(1, Math.min(l.maxIds, Math.floor(ids / 2))) }
        : { ...l, maxRevs: Math.max(1, Math.min(l.maxRevs, Math.floor(revs / 2))) }
      limits = next
      yield* Effect.logWarning(
        `server refused the batch size (${reason}); continuing with smaller batches`,
      ).pipe(Effect.annotateLogs({ db, max_ids: next.maxIds, max_revs: next.maxRevs }))
      return yield* sendAll(batch)
    })

  const sendAll = (tombstones: ReadonlyArray<Tombstone>): Effect.Effect<boolean, CouchError> => {
    const batches = splitBatches(tombstones, limits)
    // A unit is most often one batch: send it without a loop around it.
    const only = batches.length === 1 ? batches[0] : undefined
    return only !== undefined
      ? send(only)
      : Effect.map(Effect.forEach(batches, send), (oks) => oks.every(Boolean))
  }

  return { sendAll, limits: Effect.sync(() => limits) }
})
