import { Clock, Console, Effect, Option, Queue } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { DbInfo, ServerInfo } from "../couch/schema.ts"
import type { RunContext } from "../jobs/job.ts"
import type { RetryPolicy } from "../shared/retry.ts"
import { type BatchLimits, revsOf } from "./batches.ts"
import { type Caps, type CapsReport, type CapsSettings, prepareCaps } from "./caps.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { makeCheckpointer } from "./checkpointer.ts"
import { type Counter, makeCounter, type PurgeCounts } from "./counts.ts"
import { readFeed } from "./feed.ts"
import { type HeldReason, heldFor, showHeld } from "./holds.ts"
import { makePacer, type Pacer } from "./pacer.ts"
import { makeSender, ndjsonLine } from "./sender.ts"
import { autoLimits, type Unit, unitsOf } from "./units.ts"

export interface PurgeSettings {
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
  /** List lines name the database (a run of many databases). */
  readonly listDb?: boolean
  /** Rows per `_changes` page; 0 picks one from the batch size. */
  readonly pageSize: number
  /** Least time between checkpoint writes while running (the last one is always written). */
  readonly checkpointEveryMs: number
  /** The server's `GET /` answer when the caller has it (a run of many databases asks once). */
  readonly server?: ServerInfo
  /** The database's info when the caller has it (a run of many reads 100 at a time). */
  readonly info?: DbInfo
  /** `--max-rate`: most tombstones purged a second in this database (none: as fast as it goes). */
  readonly maxRate?: number
  /** The safety caps (`--grace`, `--respect-replications`); none: every tombstone found is purged. */
  readonly caps?: CapsSettings
}

export interface PurgeSummary extends PurgeCounts {
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
  readonly batchLimit: BatchLimits
  /** `--max-rate` when one was set: most tombstones purged a second. */
  readonly maxRate?: number
  /** What the safety caps found (with `--grace` / `--respect-replications`). */
  readonly caps?: CapsReport
  readonly interrupted: boolean
  readonly durationMs: number
  /**
   * With `compact`: the compaction run after the purge (a purge frees no disk until then): the
   * file size before and after, or why it failed. Absent when not asked for, or on a dry run.
   */
  readonly compaction?: PurgeCompaction
}

export type PurgeCompaction =
  | {
      readonly fileBefore: number
      readonly fileAfter: number
      readonly reclaimed: number
      readonly durationMs: number
    }
  | { readonly error: string }

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
) => {
  const stored = Option.isSome(options.since) ? Effect.succeedNone : counter.retried(store.load(options.db))
  // A run of many has the server and the database already: only the checkpoint is asked, with
  // no fibers forked for answers at hand (thousands of databases each pay for them).
  const { server, info } = options
  if (server !== undefined && info !== undefined)
    return Effect.map(Effect.zipLeft(stored, store.check(options.db)), (s) => ({ server, info, stored: s }))
  return Effect.all(
    {
      server: server === undefined ? counter.retried(couch.serverInfo) : Effect.succeed(server),
      info: info === undefined ? counter.retried(couch.dbInfo(options.db)) : Effect.succeed(info),
      stored,
      writable: store.check(options.db),
    },
    { concurrency: "unbounded" },
  )
}

/**
 * The run's two sides: `readPages` turns feed pages into units and hands them to a bounded queue
 * (`capacity`: it waits while the queue is full, so memory does not grow with the feed), and
 * `workers` workers take units from it and process them. A failure on either side (the feed, or a
 * server gone) interrupts the other.
 */
const pump = <E1, E2>(
  readPages: (offer: (units: ReadonlyArray<Unit>) => Effect.Effect<void>) => Effect.Effect<void, E1>,
  processUnit: (unit: Unit) => Effect.Effect<void, E2>,
  workers: number,
  capacity: number,
) =>
  Effect.gen(function* () {
    const queue = yield* Queue.bounded<Unit | undefined>(capacity)
    const reader = readPages((units) => queue.offerAll(units)).pipe(
      // One end mark per worker: each stops when it takes one.
      Effect.zipRight(queue.offerAll(Array.from({ length: workers }, () => undefined))),
    )
    const worker = Effect.gen(function* () {
      for (let unit = yield* queue.take; unit !== undefined; unit = yield* queue.take) {
        yield* processUnit(unit)
      }
    })
    yield* Effect.all(
      [
        reader,
        Effect.all(
          Array.from({ length: workers }, () => worker),
          { concurrency: "unbounded", discard: true },
        ),
      ],
      { concurrency: "unbounded", discard: true },
    )
  })

/** The batch limits a run starts with: `--batch` or the server's, and under --max-rate a request holds at most a second's worth, so the pace is even, not bursts. */
export const limitsFor = (options: PurgeSettings, version: string): BatchLimits => {
  const asked = options.batch === "auto" ? autoLimits(version) : { maxIds: options.batch, maxRevs: 1000 }
  return options.maxRate !== undefined && !options.dryRun
    ? { ...asked, maxIds: Math.max(1, Math.min(asked.maxIds, Math.floor(options.maxRate))) }
    : asked
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

/** Counts the tombstones a unit holds back, by reason; a dry run's `--list` shows them, marked. */
const holdBack = (
  run: {
    readonly counter: Counter
    readonly options: PurgeSettings
    readonly context: RunContext
  },
  held: NonNullable<Unit["held"]>,
) =>
  Effect.gen(function* () {
    const { counter, options, context } = run
    const by: Partial<Record<HeldReason, number>> = {}
    for (const t of held) by[t.reason] = (by[t.reason] ?? 0) + 1
    yield* counter.bump({ heldBack: by })
    for (const [reason, n] of Object.entries(by)) yield* context.progress.hold?.(reason, n) ?? Effect.void
    if (options.dryRun && options.list)
      yield* Console.log(
        held
          .map((t) => ndjsonLine(t.id, t.revs, options.listDb ? options.db : undefined, t.reason))
          .join("\n"),
      )
  })

/** Purges (or in a dry run, lists) one unit; leaves it undone when stopping or when it failed. */
const unitProcessor =
  (run: {
    readonly counter: Counter
    readonly checkpointer: Effect.Effect.Success<ReturnType<typeof makeCheckpointer>>
    readonly sender: Effect.Effect.Success<ReturnType<typeof makeSender>>
    readonly pacer: Pacer
    readonly options: PurgeSettings
    readonly context: RunContext
  }) =>
  (unit: Unit) =>
    Effect.gen(function* () {
      const { counter, checkpointer, sender, pacer, options, context } = run
      if (yield* context.stopping) return
      const held = unit.held
      if (held !== undefined) yield* holdBack(run, held)
      // A unit holding a tombstone back is never done: the checkpoint stays before it.
      const done = held === undefined ? checkpointer.complete(unit) : Effect.void
      const docs = unit.tombstones.length
      if (docs === 0) return yield* done
      if (!options.dryRun) {
        // --max-rate: wait for this unit's slot; a stop during the wait leaves the unit undone.
        const waited = yield* pacer.take(docs, context.stopping)
        if (waited > 0 && (yield* context.stopping)) return
      }
      yield* counter.bump({ tombstones: docs, revs: revsOf(unit.tombstones) })
      if (options.dryRun) {
        if (options.list)
          yield* Console.log(
            unit.tombstones
              .map((t) => ndjsonLine(t.id, t.revs, options.listDb ? options.db : undefined))
              .join("\n"),
          )
        yield* done
      } else if (yield* sender.sendAll(unit.tombstones)) {
        yield* done
      } else {
        yield* counter.bump({ failedBatches: 1 })
      }
      yield* context.progress.advance(docs)
    })

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
  const { server, info, stored } = yield* lookUp(couch, store, counter, options)
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

  const caps: Caps | undefined =
    options.caps === undefined
      ? undefined
      : yield* prepareCaps(
          couch,
          store,
          counter,
          { db, updateSeq: info.update_seq, observedAt, dryRun: options.dryRun },
          options.caps,
        )
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
