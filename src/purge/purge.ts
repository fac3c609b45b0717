import { Chunk, Console, Effect, Option, Ref, Stream } from "effect"
import { CouchClient } from "../couch/client.ts"
import type { CouchError } from "../couch/errors.ts"
import type { ChangesPage, PurgeOutcome } from "../couch/schema.ts"
import { isRetryable } from "../shared/classify.ts"
import { ConfigError } from "../shared/errors.ts"
import { Progress } from "../shared/progress.ts"
import { type RetryPolicy, withRetry } from "../shared/retry.ts"
import { type BatchLimits, purgeBody, splitBatches, type Tombstone } from "./batches.ts"
import { CheckpointStore } from "./checkpoint.ts"
import { autoLimits, type Unit, unitsOf } from "./units.ts"
import { completeUnit, emptyWatermark } from "./watermark.ts"

export interface PurgeOptions {
  readonly db: string
  /** Most ids per `_purge` request, or "auto" (from the server's version). */
  readonly batch: number | "auto"
  readonly concurrency: number
  readonly retry: RetryPolicy
  /** Where to start: the stored checkpoint, or an explicit "0", "now" or seq. */
  readonly since: Option.Option<string>
  readonly dryRun: boolean
  /** Print each selected (dry run) or purged document as an NDJSON line on stdout. */
  readonly list: boolean
  /** Rows per `_changes` page; 0 picks one from the batch size. */
  readonly pageSize: number
  /** Least time between checkpoint writes while running (the last one is always written). */
  readonly checkpointEveryMs: number
  /** Raised on Ctrl-C/SIGTERM: stop taking new work. */
  readonly stopping: Effect.Effect<boolean>
}

export interface PurgeSummary {
  readonly db: string
  readonly dryRun: boolean
  readonly since: string
  /** The seq the store holds at the end (what the next run starts from). */
  readonly checkpoint: string | undefined
  readonly checkpointStore: string
  /** False when the last checkpoint write failed: the next run repeats work, nothing is skipped. */
  readonly checkpointSaved: boolean
  /** Why the last checkpoint write failed. */
  readonly checkpointError: string | undefined
  /** Deleted documents found in the feed. */
  readonly tombstones: number
  /** Leaf revs of those documents (what was, or in a dry run would be, sent). */
  readonly revs: number
  readonly purgedRevs: number
  /** Revs the server no longer had as leaves (purged meanwhile, or the doc was edited). */
  readonly alreadyGone: number
  readonly failedDocs: number
  readonly failedBatches: number
  readonly requests: number
  /** Requests answered 202: accepted without quorum. */
  readonly accepted: number
  readonly retries: number
  readonly batchLimit: BatchLimits
  readonly interrupted: boolean
  readonly durationMs: number
}

type Counts = Omit<
  PurgeSummary,
  | "db"
  | "dryRun"
  | "since"
  | "checkpoint"
  | "checkpointStore"
  | "checkpointSaved"
  | "checkpointError"
  | "batchLimit"
  | "interrupted"
  | "durationMs"
>

const zero: Counts = {
  tombstones: 0,
  revs: 0,
  purgedRevs: 0,
  alreadyGone: 0,
  failedDocs: 0,
  failedBatches: 0,
  requests: 0,
  accepted: 0,
  retries: 0,
}

const tooMany = /Exceeded maximum number of (documents|revisions)/i

const isRevList = (outcome: PurgeOutcome): outcome is ReadonlyArray<string> => Array.isArray(outcome)

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n))

const ndjson = (id: string, revs: ReadonlyArray<string>) => Console.log(JSON.stringify({ id, revs }))

export const runPurge = Effect.fn("Purge.run")(function* (options: PurgeOptions) {
  const couch = yield* CouchClient
  const store = yield* CheckpointStore
  const progress = yield* Progress
  const startedAt = Date.now()
  const db = options.db
  const counts = yield* Ref.make(zero)
  const bump = (delta: Partial<Counts>) =>
    Ref.update(counts, (c) => {
      const next = { ...c }
      for (const [k, v] of Object.entries(delta) as Array<[keyof Counts, number]>) next[k] += v
      return next
    })
  const retried = <A, E extends CouchError | ConfigError>(effect: Effect.Effect<A, E>) =>
    effect.pipe(
      withRetry(options.retry, isRetryable, (e: CouchError | ConfigError) =>
        bump({ retries: 1 }).pipe(Effect.zipRight(Effect.logDebug(`retrying after: ${e.message}`))),
      ),
    )

  // Independent look-ups: asked at once, so a slow network costs one round trip, not three. The
  // checkpoint must be writable before anything is purged (a dry run checks it too).
  const [server, info, stored] = yield* Effect.all(
    [
      retried(couch.serverInfo),
      retried(couch.dbInfo(db)),
      Option.isSome(options.since) ? Effect.succeedNone : retried(store.load(db)),
      store.check(db),
    ],
    { concurrency: "unbounded" },
  )
  const initialLimits =
    options.batch === "auto" ? autoLimits(server.version) : { maxIds: options.batch, maxRevs: 1000 }
  const limits = yield* Ref.make(initialLimits)
  const since = Option.getOrElse(options.since, () => Option.getOrElse(stored, () => "0"))
  const pageSize = options.pageSize > 0 ? options.pageSize : clamp(initialLimits.maxIds * 50, 2000, 10_000)
  const mark = yield* Ref.make(emptyWatermark)
  const lastSaved = yield* Ref.make({ seq: Option.getOrUndefined(stored), at: Date.now() })
  const saveLock = yield* Effect.makeSemaphore(1)
  const saveError = yield* Ref.make<string | undefined>(undefined)

  yield* Effect.logInfo(options.dryRun ? "purge dry run: nothing will be purged" : "purge starting").pipe(
    Effect.annotateLogs({
      db,
      server: couch.server,
      couchdb: server.version,
      since: Option.isSome(options.since) ? since : Option.isSome(stored) ? "checkpoint" : "0",
      tombstones_in_db: info.doc_del_count,
      batch_ids: initialLimits.maxIds,
      concurrency: options.concurrency,
    }),
  )
  yield* progress.start(options.dryRun ? `${db} (dry run)` : db, info.doc_del_count)

  /** Writes the checkpoint if it moved; `force` ignores the interval (the final write). */
  const saveCheckpoint = (force: boolean) =>
    saveLock.withPermits(1)(
      Effect.gen(function* () {
        const { checkpoint } = yield* Ref.get(mark)
        const saved = yield* Ref.get(lastSaved)
        if (options.dryRun || checkpoint === undefined || checkpoint === saved.seq) return
        if (!force && Date.now() - saved.at < options.checkpointEveryMs) return
        yield* retried(store.save(db, checkpoint))
        yield* Ref.set(lastSaved, { seq: checkpoint, at: Date.now() })
        yield* Ref.set(saveError, undefined)
        yield* Effect.logDebug("checkpoint saved").pipe(Effect.annotateLogs({ db, seq: checkpoint }))
      }),
    )

  const complete = (unit: Unit) =>
    Ref.update(mark, (m) => completeUnit(m, unit.n, unit.seq)).pipe(
      Effect.zipRight(
        saveCheckpoint(false).pipe(
          Effect.catchAll((e) => Effect.logWarning(`could not save the checkpoint yet: ${e.message}`)),
        ),
      ),
    )

  /** Sends one `_purge` body and checks the answer; true when every document in it is accounted for. */
  const send = (batch: ReadonlyArray<Tombstone>): Effect.Effect<boolean, CouchError> =>
    Effect.gen(function* () {
      const body = purgeBody(batch)
      const t0 = Date.now()
      const result = yield* retried(bump({ requests: 1 }).pipe(Effect.zipRight(couch.purge(db, body))))
      let purged = 0
      let gone = 0
      let failed = 0
      for (const [id, sent] of Object.entries(body)) {
        const outcome = result.answer.purged[id]
        if (outcome === undefined || !isRevList(outcome)) {
          failed += 1
          const why =
            outcome === undefined ? "missing from the answer" : `${outcome.error}: ${outcome.reason ?? ""}`
          yield* Effect.logWarning(`document not purged: ${why}`).pipe(Effect.annotateLogs({ db, id }))
          continue
        }
        const done = sent.filter((rev) => outcome.includes(rev))
        purged += done.length
        gone += sent.length - done.length
        if (options.list && done.length > 0) yield* ndjson(id, done)
      }
      yield* bump({
        purgedRevs: purged,
        alreadyGone: gone,
        failedDocs: failed,
        accepted: result.status === 202 ? 1 : 0,
      })
      yield* Effect.logDebug("batch purged").pipe(
        Effect.annotateLogs({
          db,
          ids: batch.length,
          purged,
          already_gone: gone,
          failed,
          ms: Date.now() - t0,
        }),
      )
      return failed === 0
    }).pipe(
      Effect.catchTag("CouchBadRequest", (e) =>
        tooMany.test(e.reason) ? shrinkAndRetry(batch, e.reason) : batchFailed(batch, e.message),
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

  const batchFailed = (batch: ReadonlyArray<Tombstone>, why: string) =>
    Effect.logError(`batch of ${batch.length} documents not purged: ${why}`).pipe(
      Effect.annotateLogs({ db, first_id: batch[0]?.id ?? "" }),
      Effect.as(false),
    )

  /**
   * The server refused the size: halve the limit it named (relative to the refused batch, so
   * requests refused at the same time do not halve it again and again) and resend in pieces.
   */
  const shrinkAndRetry = (
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

  const processUnit = (unit: Unit): Effect.Effect<void, CouchError> =>
    Effect.gen(function* () {
      // Stopping: leave the unit undone, so the checkpoint stays before it.
      if (yield* options.stopping) return
      const docs = unit.tombstones.length
      if (docs === 0) return yield* complete(unit)
      yield* bump({ tombstones: docs, revs: unit.tombstones.reduce((n, t) => n + t.revs.length, 0) })
      if (options.dryRun) {
        if (options.list)
          yield* Effect.forEach(unit.tombstones, (t) => ndjson(t.id, t.revs), { discard: true })
        yield* complete(unit)
      } else if (yield* sendAll(unit.tombstones)) {
        yield* complete(unit)
      } else {
        yield* bump({ failedBatches: 1 })
      }
      yield* progress.advance(docs)
    })

  // The first page is small, so purging starts after a short read; later pages are full size.
  const firstPage = Math.min(pageSize, initialLimits.maxIds * options.concurrency)
  const pages = Stream.paginateChunkEffect({ from: since, limit: firstPage }, ({ from, limit }) =>
    Effect.gen(function* () {
      const none = Option.none<{ from: string; limit: number }>()
      if (yield* options.stopping) return [Chunk.empty<ChangesPage>(), none] as const
      const page = yield* retried(couch.changes(db, { since: from, limit, style: "all_docs" })).pipe(
        // Only the first `since` comes from outside (flag or checkpoint); CouchDB refuses a seq it
        // cannot read with 400 (e.g. a last_seq.txt written for another database).
        Effect.catchTag("CouchBadRequest", (e) =>
          from === since && /sequence|since/i.test(e.reason)
            ? Effect.fail<ConfigError | CouchError>(
                new ConfigError({
                  message: Option.isSome(options.since)
                    ? `--since ${since} is not a seq database "${db}" accepts (${e.reason}): use 0, now or a seq from its _changes feed`
                    : `the checkpoint in ${store.describe(db)} holds a seq database "${db}" refuses (${e.reason}): remove it, or pass --since 0 to start over`,
                }),
              )
            : Effect.fail(e),
        ),
      )
      const last = page.results.length < limit || page.pending === 0
      return [Chunk.of(page), last ? none : Option.some({ from: page.last_seq, limit: pageSize })] as const
    }),
  )
  const unitCount = yield* Ref.make(0)
  const run = pages.pipe(
    // Read the next page while this one is being purged.
    Stream.buffer({ capacity: 2 }),
    Stream.mapEffect((page) =>
      Ref.get(limits).pipe(
        Effect.flatMap((l) =>
          Ref.modify(unitCount, (n) => {
            const units = unitsOf(page, l, n)
            return [units, n + units.length] as const
          }),
        ),
      ),
    ),
    Stream.flattenIterables,
    Stream.mapEffect(processUnit, { concurrency: options.concurrency, unordered: true }),
    Stream.runDrain,
  )
  yield* run.pipe(
    Effect.ensuring(
      progress.stop.pipe(
        Effect.zipRight(
          saveCheckpoint(true).pipe(
            Effect.catchAll((e) =>
              Ref.set(saveError, e.message).pipe(
                Effect.zipRight(Effect.logError(`could not save the checkpoint: ${e.message}`)),
              ),
            ),
          ),
        ),
      ),
    ),
  )

  const c = yield* Ref.get(counts)
  const checkpointError = yield* Ref.get(saveError)
  const summary: PurgeSummary = {
    db,
    dryRun: options.dryRun,
    since,
    checkpoint: (yield* Ref.get(lastSaved)).seq,
    checkpointStore: store.describe(db),
    checkpointSaved: checkpointError === undefined,
    checkpointError,
    ...c,
    batchLimit: yield* Ref.get(limits),
    interrupted: yield* options.stopping,
    durationMs: Date.now() - startedAt,
  }
  return summary
})
