/**
 * The purge of one database from start to end: look up what it needs, set up its checkpointer,
 * sender, caps and pacer, pump the feed's units through the workers, and sum up. The parts it
 * wires live beside it (settings, summary, pump, unit-processor).
 */
import { Clock, Effect, Option } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import { type RunContext, untilStopped } from "../jobs/job.ts"
import { type Caps, prepareCaps } from "./caps.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { makeCheckpointer } from "./checkpointer.ts"
import { type Counter, makeCounter } from "./counts.ts"
import { readFeed } from "./feed.ts"
import { heldFor, showHeld } from "./holds.ts"
import { makePacer } from "./pacer.ts"
import { pump } from "./pump.ts"
import { makeSender } from "./sender.ts"
import { limitsFor, type PurgeSettings } from "./settings.ts"
import type { PurgeSummary } from "./summary.ts"
import { unitProcessor } from "./unit-processor.ts"
import { type Unit, unitsOf } from "./units.ts"

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n))

/**
 * What a run needs to know first, asked at once (a slow network costs one round trip, not four):
 * the server's version, the database, the stored checkpoint, and that the checkpoint can be
 * written (a dry run checks it too).
 */
const lookUp = (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  counter: Counter,
  options: PurgeSettings,
  stopping: RunContext["stopping"],
) => {
  const stored = Option.isSome(options.since) ? Effect.succeedNone : counter.retried(store.load(options.db))
  // A run of many has the server and the database already: only the checkpoint is asked, with
  // no fibers forked for answers at hand (thousands of databases each pay for them).
  const { server, info } = options
  if (server !== undefined && info !== undefined)
    return Effect.map(Effect.zipLeft(stored, store.check(options.db)), (s) => ({ server, info, stored: s }))
  // Nothing is purged yet: a stop ends the run here at once, whatever the server takes to answer.
  return Effect.all(
    {
      server: server === undefined ? counter.retried(couch.serverInfo) : Effect.succeed(server),
      info: info === undefined ? counter.retried(couch.dbInfo(options.db)) : Effect.succeed(info),
      stored,
      writable: store.check(options.db),
    },
    { concurrency: "unbounded" },
  ).pipe(untilStopped(stopping))
}

/** The run's first log line: where it purges, from where, and how. */
const logStart = (
  couch: CouchClientShape,
  options: PurgeSettings,
  run: {
    readonly version: string
    readonly since: string
    readonly tombstones: number
    readonly batchIds: number
  },
) =>
  Effect.logInfo(options.dryRun ? "purge dry run: nothing will be purged" : "purge starting").pipe(
    Effect.annotateLogs({
      db: options.db,
      server: couch.server,
      couchdb: run.version,
      since: run.since,
      tombstones_in_db: run.tombstones,
      batch_ids: run.batchIds,
      concurrency: options.concurrency,
      ...(options.maxRate !== undefined ? { max_rate: options.maxRate } : {}),
    }),
  )

/**
 * One purge of one database: read the feed from the checkpoint, purge the tombstones of each page
 * in units through the sender (`concurrency` at once), and move the checkpoint over finished units.
 * The checkpoint must be writable before anything is purged (a dry run checks it too).
 */
export const runPurge = Effect.fn("Purge.run")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  options: PurgeSettings,
  context: RunContext,
) {
  const startedAt = yield* Clock.currentTimeMillis
  const db = options.db
  const counter = yield* makeCounter(options.retry, { dryRun: options.dryRun })
  const { server, info, stored } = yield* lookUp(couch, store, counter, options, context.stopping)
  // After the database's info arrived: every change from now on is after its update_seq.
  const observedAt = yield* Clock.currentTimeMillis
  const initialLimits = limitsFor(options, server.version)
  const since = Option.getOrElse(options.since, () => Option.getOrElse(stored, () => "0"))
  // Ten batches a page, as README says: parsing and checking a page is one stretch of work that
  // nothing else on the event loop (the HTTP mode's requests) can interrupt, so it stays short.
  const pageSize = options.pageSize > 0 ? options.pageSize : clamp(initialLimits.maxIds * 10, 1000, 10_000)
  const checkpointer = yield* makeCheckpointer(store, counter, {
    db,
    dryRun: options.dryRun,
    everyMs: options.checkpointEveryMs,
    stored,
  })
  const sender = yield* makeSender(couch, counter, initialLimits, {
    db,
    list: options.list,
    listDb: options.listDb ?? false,
  })

  yield* logStart(couch, options, {
    version: server.version,
    since: Option.isSome(options.since) ? since : Option.isSome(stored) ? "checkpoint" : "0",
    tombstones: info.doc_del_count,
    batchIds: initialLimits.maxIds,
  })
  yield* context.progress.start(options.dryRun ? `${db} (dry run)` : db, info.doc_del_count)

  // Still nothing purged while the caps read what they hold (a feed of its own, perhaps long): a
  // stop ends the run at once here too (an observation left unwritten costs only that observation).
  const caps: Caps | undefined =
    options.caps === undefined
      ? undefined
      : yield* prepareCaps(
          couch,
          store,
          counter,
          { db, updateSeq: info.update_seq, observedAt, dryRun: options.dryRun },
          options.caps,
        ).pipe(untilStopped(context.stopping))
  // Everything held back: the checkpoint does not move at all.
  if (caps?.holds.all !== undefined) yield* checkpointer.hold(0)
  const hold = caps === undefined ? undefined : (id: string) => heldFor(caps.holds, id)

  const pacer = yield* makePacer(options.dryRun ? undefined : options.maxRate)
  const processUnit = unitProcessor({ counter, checkpointer, sender, pacer, options, context })

  // The queue holds about one page of units beyond those in flight, so the next page is read
  // while units are purged.
  const unitsPerPage = Math.ceil(pageSize / initialLimits.maxIds) + 1
  let unitCount = 0
  const readPages = (offer: (units: ReadonlyArray<Unit>) => Effect.Effect<void>) =>
    readFeed(
      couch,
      counter,
      {
        db,
        since,
        sinceGiven: Option.isSome(options.since),
        store: store.describe(db),
        // The first page is small, so purging starts after a short read.
        firstPage: Math.min(pageSize, initialLimits.maxIds * options.concurrency),
        pageSize,
        // A seq every batch's worth of rows: the checkpoint lags at most that far behind the work.
        seqInterval: initialLimits.maxIds,
        stopping: context.stopping,
      },
      (page, from) =>
        Effect.flatMap(Effect.zipRight(caps?.catchUp ?? Effect.void, sender.limits), (limits) => {
          const units = unitsOf(page, limits, unitCount, from, hold)
          unitCount += units.length
          const first = units.find((u) => u.held !== undefined)
          return first === undefined
            ? offer(units)
            : Effect.zipRight(checkpointer.hold(first.n), offer(units))
        }),
    )
  // No more workers than the tombstones the database holds can keep busy (a database of 50 needs
  // one): a run of thousands of small databases starts a fiber per worker in each. Tombstones
  // made since the count are purged all the same, by fewer workers.
  const workers = clamp(Math.ceil(info.doc_del_count / initialLimits.maxIds), 1, options.concurrency)
  yield* pump(readPages, processUnit, workers, options.concurrency + unitsPerPage).pipe(
    Effect.ensuring(context.progress.stop.pipe(Effect.zipRight(checkpointer.finish))),
  )

  const end = yield* checkpointer.end
  const counts = yield* counter.get
  if (caps !== undefined) {
    yield* Effect.logInfo(`${db}: held back ${showHeld(counts.heldBack)} tombstones`).pipe(
      Effect.annotateLogs({
        db,
        held_grace: counts.heldBack.grace,
        held_replication: counts.heldBack.replication,
        held_replication_error: counts.heldBack["replication-error"],
      }),
    )
  }
  const summary: PurgeSummary = {
    db,
    dryRun: options.dryRun,
    since,
    checkpoint: end.checkpoint,
    checkpointStore: store.describe(db),
    checkpointSaved: end.error === undefined,
    checkpointError: end.error,
    ...counts,
    batchLimit: yield* sender.limits,
    ...(options.maxRate !== undefined ? { maxRate: options.maxRate } : {}),
    ...(caps !== undefined ? { caps: caps.report } : {}),
    interrupted: yield* context.stopping,
    durationMs: (yield* Clock.currentTimeMillis) - startedAt,
  }
  return summary
})
