/**
 * A purge of many databases as a Job: select the databases (and this worker's partition of them),
 * read their info in batches, purge `dbConcurrency` at once through each database's step, sum up.
 */
import { Clock, Context, Effect, Layer, Stream } from "effect"
import { CouchClient, type CouchClientShape } from "../couch/client.ts"
import { dbsInfoKeys } from "../couch/dbs-info.ts"
import { isRetryable } from "../couch/errors.ts"
import { readReplications } from "../couch/replications.ts"
import { type Job, type RunContext, untilStopped } from "../jobs/job.ts"
import { defaultRetryPolicy, withRetry } from "../shared/retry.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { makeLocalDocCheckpointStore } from "./checkpoint-local.ts"
import { addCounts, type PurgeCounts, zeroCounts } from "./counts.ts"
import { type Leases, makeLeases } from "./lease.ts"
import type { PurgeError } from "./leased.ts"
import { infoReader } from "./many-info.ts"
import { needsLease, purgeOne } from "./many-one.ts"
import { PurgeManyOptions } from "./many-options.ts"
import { manyProblems, type PurgeManySummary } from "./many-summary.ts"
import { inPartition, showPartition } from "./partition.ts"
import { describeTargets, selectDbs } from "./targets.ts"

/**
 * A full garbage collection every `gcEvery` databases (where the runtime offers one: Bun): a run
 * of many makes garbage fast, mostly short-lived, and the heap otherwise grows well past what is
 * live before the collector catches up: 2,000 small databases peaked at 158 MB of RSS with 31 MB
 * live after a collection; with one every 100 databases, 145 MB, and no CPU cost that could be
 * measured (a collection of that heap takes a few milliseconds).
 */
const gcEvery = 100

/** A run's collector: told how many databases went by, it collects each time `gcEvery` more have. */
const garbageCollector = () => {
  let since = 0
  return (dbs: number) =>
    Effect.sync(() => {
      since += dbs
      if (since < gcEvery) return
      since = 0
      ;(globalThis as { Bun?: { gc: (force: boolean) => void } }).Bun?.gc(true)
    })
}

/** The run: select the databases, purge `dbConcurrency` at once, sum up. */
const runMany = Effect.fn("Purge.many.run")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  leasesOf: Leases,
  o: PurgeManyOptions,
  context: RunContext,
) {
  const startedAt = yield* Clock.currentTimeMillis
  const retry = { ...defaultRetryPolicy, retries: o.retries, base: o.retryBase }
  const leases = yield* leasesOf.forRun(retry, { releaseLater: true })
  // Until the databases are purged, a stop ends the run at once (a server that never answers).
  const beforeWork = untilStopped(context.stopping)
  // Asked once for the run (the version picks the batch size), not once per database.
  const server = yield* couch.serverInfo.pipe(withRetry(retry, isRetryable), beforeWork)
  const selected = yield* beforeWork(selectDbs(couch, o))
  for (const glob of selected.unmatched) {
    yield* Effect.logWarning(`${glob} matches no database on ${couch.server}`)
  }
  const partition = o.partition
  const mine =
    partition === undefined ? selected.dbs : selected.dbs.filter((db) => inPartition(db, partition))
  yield* Effect.logInfo(
    partition === undefined
      ? `purging ${mine.length} databases`
      : `purging ${mine.length} of ${selected.dbs.length} databases (partition ${showPartition(partition)})`,
  ).pipe(
    Effect.annotateLogs({
      selection: describeTargets(o),
      db_concurrency: o.dbConcurrency,
      ...(partition !== undefined ? { partition: showPartition(partition) } : {}),
    }),
  )
  yield* context.progress.start(
    `${mine.length} databases${partition !== undefined ? ` (partition ${showPartition(partition)})` : ""}${o.dryRun ? " (dry run)" : ""}`,
    0,
  )
  // --respect-replications: the server's replications are read once for the run, not per database.
  const replications = o.respectReplications
    ? yield* beforeWork(readReplications(couch, withRetry(retry, isRetryable)))
    : undefined
  const infoOf = infoReader(couch, o, context)
  const ahead = Math.max(1, o.dbConcurrency * 2)
  const collect = garbageCollector()
  // The databases' info 100 a request, read a batch ahead of the databases being purged (so it
  // is seconds old, not as old as the run), then `dbConcurrency` databases at once, in order.
  const databases = yield* Stream.fromIterable(mine).pipe(
    Stream.grouped(dbsInfoKeys),
    Stream.mapEffect(infoOf),
    Stream.flattenIterables,
    Stream.buffer({ capacity: dbsInfoKeys }),
    // Leases taken a few databases ahead, together (one request for a group), so no lease request
    // waits between one database's purge and the next.
    Stream.grouped(ahead),
    Stream.tap((group) => collect(group.length)),
    Stream.tap((group) =>
      Effect.flatMap(context.stopping, (stop) =>
        stop
          ? Effect.void
          : leases.reserve(
              Array.from(group)
                .filter(([, info]) => needsLease(o, info))
                .map(([db]) => db),
              o.leaseTtl,
            ),
      ),
    ),
    Stream.flattenChunks,
    Stream.buffer({ capacity: ahead }),
    Stream.mapEffect(
      ([db, info]) => purgeOne(couch, store, o, context, server, leases, db, info, replications),
      {
        concurrency: o.dbConcurrency,
      },
    ),
    Stream.runCollect,
    Effect.map((outcomes) => Array.from(outcomes)),
    Effect.ensuring(leases.settle),
    Effect.ensuring(context.progress.stop),
  )
  const summary: PurgeManySummary = {
    ...databases.reduce<PurgeCounts>((sum, d) => ("tombstones" in d ? addCounts(sum, d) : sum), zeroCounts),
    dryRun: o.dryRun,
    selection: describeTargets(o),
    databases,
    unmatched: selected.unmatched,
    ...(partition !== undefined
      ? { partition: showPartition(partition), selectedInAllPartitions: selected.dbs.length }
      : {}),
    succeeded: databases.filter((d) => d.state === "succeeded").length,
    failed: databases.filter((d) => d.state === "failed").length,
    skipped: databases.filter((d) => d.state === "skipped").length,
    interrupted: yield* context.stopping,
    durationMs: (yield* Clock.currentTimeMillis) - startedAt,
  }
  return summary
})

export class PurgeManyJob extends Context.Tag("dbsweep/PurgeManyJob")<
  PurgeManyJob,
  Job<PurgeManyOptions, PurgeManySummary, typeof PurgeManyOptions.Encoded, PurgeError>
>() {
  /** The job; needs the CouchDB client (every database keeps its checkpoint in its own `_local` document). */
  static readonly make = Effect.gen(function* () {
    const couch = yield* CouchClient
    const local = yield* makeLocalDocCheckpointStore(couch)
    const leases = yield* makeLeases(couch)
    return PurgeManyJob.of({
      name: "purge",
      options: PurgeManyOptions,
      target: describeTargets,
      problems: manyProblems,
      run: (o, context) => runMany(couch, local, leases, o, context),
    })
  })
  static readonly layer = Layer.effect(PurgeManyJob, PurgeManyJob.make)
}
