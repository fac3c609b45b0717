import { Clock, Context, Duration, Effect, Either, Layer, Option, Schema, Stream, Struct } from "effect"
import { CouchClient, type CouchClientShape } from "../couch/client.ts"
import { dbsInfo, dbsInfoKeys } from "../couch/dbs-info.ts"
import { concernsServer, isRetryable } from "../couch/errors.ts"
import { type ReplicationInfo, readReplications } from "../couch/replications.ts"
import type { DbInfo, ServerInfo } from "../couch/schema.ts"
import type { Job, RunContext } from "../jobs/job.ts"
import { partOf } from "../shared/progress.ts"
import { defaultRetryPolicy, withRetry } from "../shared/retry.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { makeLocalDocCheckpointStore } from "./checkpoint-local.ts"
import { addCounts, type PurgeCounts, zeroCounts } from "./counts.ts"
import { type Leases, makeLeases, type RunLeases } from "./lease.ts"
import { leasedPurge, type PurgeError } from "./leased.ts"
import { capsOf, PurgeOptions } from "./options.ts"
import { isSkipped, purgeProblems, type SkippedPurge } from "./outcome.ts"
import { inPartition, maxPartitions, showPartition } from "./partition.ts"
import { limitsFor, type PurgeSettings } from "./settings.ts"
import type { PurgeSummary } from "./summary.ts"
import { describeTargets, selectDbs, targetProblem } from "./targets.ts"

const NameOrGlob = Schema.String.pipe(
  Schema.filter((target) => {
    const why = targetProblem(target)
    return why === undefined ? true : why
  }),
)

/**
 * A purge of many databases: names and globs (`userdb-*`) and/or every database, `dbConcurrency`
 * databases at once, each with its own `_local` checkpoint. The other options are the one-database
 * purge's, applied to each (a checkpoint file holds one database's seq, so it is not one of them).
 */
export const PurgeManyOptions = Schema.Struct({
  ...Struct.omit(PurgeOptions.fields, "db", "checkpointFile"),
  dbs: Schema.optionalWith(Schema.Array(NameOrGlob), { default: () => [] }),
  allDbs: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  dbConcurrency: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 8 }),
  /** This worker's share of the selected databases (`--partition i/n`): by a stable hash of the name. */
  partition: Schema.optional(
    Schema.Struct({
      index: Schema.Int.pipe(Schema.nonNegative()),
      count: Schema.Int.pipe(Schema.between(1, maxPartitions)),
    }),
  ),
}).pipe(
  Schema.filter((o) => {
    if (o.dbs.length === 0 && !o.allDbs) return "name the databases (dbs: names or globs) or ask for allDbs"
    // A seq belongs to one database's feed: only 0 and now mean the same in every database.
    if (Option.isSome(o.since) && !["0", "now"].includes(o.since.value))
      return "since must be 0 or now when purging several databases (a seq belongs to one database)"
    if (o.partition !== undefined && o.partition.index >= o.partition.count)
      return `partition.index must be from 0 to ${o.partition.count - 1} with partition.count ${o.partition.count}`
    return true
  }),
)
export type PurgeManyOptions = typeof PurgeManyOptions.Type

/**
 * A database's summary in a run of many: its purge's, less what the run says once for all (whether
 * it is a dry run; the checkpoint store, always the database's own `_local/dbsweep-purge`), so a
 * run of 100,000 databases keeps and prints a quarter less.
 */
export type DbSummary = Omit<PurgeSummary, "dryRun" | "checkpointStore">

/** How one database of the run ended (skipped: another purger holds its lease). */
export type DbOutcome =
  | SkippedPurge
  | ({ readonly state: "succeeded" | "failed" | "interrupted" } & DbSummary & {
        /** For a run that finished with failures inside it: what failed. */
        readonly error?: string
        /**
         * The database held no deleted document when the run looked (`doc_del_count` 0): nothing
         * was read or written in it; its checkpoint, not read (`checkpoint` absent), stays.
         */
        readonly nothingToPurge?: true
      })
  | {
      readonly db: string
      /** failed: before or while purging (the error says why); not started: the run was stopped first. */
      readonly state: "failed" | "not started"
      readonly error?: string
    }

export interface PurgeManySummary extends PurgeCounts {
  readonly dryRun: boolean
  /** What was asked for: names, globs, all. */
  readonly selection: string
  readonly databases: ReadonlyArray<DbOutcome>
  /** Globs (and --all-dbs) that matched no database. */
  readonly unmatched: ReadonlyArray<string>
  /** With a partition: which (`i/n`), and how many databases the selection held in all partitions. */
  readonly partition?: string
  readonly selectedInAllPartitions?: number
  readonly succeeded: number
  readonly failed: number
  /** Databases left alone because another purger holds their lease. */
  readonly skipped: number
  readonly interrupted: boolean
  readonly durationMs: number
}

/** The databases that failed, each with why: names every one in the summary, the first ten here. */
export const manyProblems = (s: PurgeManySummary): Option.Option<string> => {
  const failed = s.databases.filter((d): d is Exclude<DbOutcome, SkippedPurge> => d.state === "failed")
  if (failed.length === 0) return Option.none()
  const named = failed.slice(0, 10).map((d) => `${d.db} (${d.error ?? "failed"})`)
  const more = failed.length > 10 ? `; and ${failed.length - 10} more (see the summary)` : ""
  return Option.some(
    `${failed.length} of ${s.databases.length} databases failed: ${named.join("; ")}${more}. The others went on; each failed database keeps its checkpoint: run again`,
  )
}

/** Whether a failure of one database is one every other would meet too (stop the run instead). */
const stopsRun = (e: PurgeError): boolean =>
  e._tag === "LeaseStoreError"
    ? e.refused
    : e._tag === "CouchUnauthorized" ||
        e._tag === "CouchForbidden" ||
        e._tag === "CouchUnavailable" ||
        e._tag === "UntrustedCertificate"
      ? concernsServer(e)
      : false

/** One database of the run, purged as a one-database run would be; its failure is its own. */
const purgeOne = Effect.fn("Purge.many.one")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  o: PurgeManyOptions,
  context: RunContext,
  server: ServerInfo,
  leases: RunLeases,
  db: string,
  info: DbInfo | undefined,
  replications: ReadonlyArray<ReplicationInfo> | undefined,
) {
  if (yield* context.stopping) {
    const skipped: DbOutcome = { db, state: "not started" }
    return skipped
  }
  const progress = yield* partOf(context.progress, db)
  const settings: PurgeSettings = {
    db,
    batch: o.batch,
    concurrency: o.concurrency,
    retry: { ...defaultRetryPolicy, retries: o.retries, base: o.retryBase },
    since: o.since,
    dryRun: o.dryRun,
    list: o.list,
    listDb: true,
    pageSize: o.pageSize,
    checkpointEveryMs: Duration.toMillis("2 seconds"),
    server,
    ...(info !== undefined ? { info } : {}),
    ...(o.maxRate > 0 ? { maxRate: o.maxRate } : {}),
    ...capsOf(o, replications),
  }
  // Nothing to purge, provably: doc_del_count counts the documents whose winning revision is a
  // deletion, and those are exactly the ones a purge takes (a deleted winner means every leaf is
  // deleted). One deleted after the count is in the feed after the stored checkpoint, which stays
  // where it is: the next run finds it. So no lease, checkpoint, feed or write for the database.
  // Not where the run must write (--since moves the checkpoint; --grace records an observation
  // every run), compact, or read the feed (--respect-replications).
  if (info?.doc_del_count === 0 && Option.isNone(o.since) && !o.compact && settings.caps === undefined) {
    const idle: DbOutcome = {
      state: "succeeded",
      db,
      ...zeroCounts,
      since: "checkpoint",
      checkpoint: undefined,
      checkpointSaved: true,
      checkpointError: undefined,
      batchLimit: limitsFor(settings, server.version),
      ...(o.maxRate > 0 ? { maxRate: o.maxRate } : {}),
      interrupted: false,
      durationMs: 0,
      nothingToPurge: true,
    }
    return idle
  }
  const ran = yield* leasedPurge(
    couch,
    store,
    settings,
    { stopping: context.stopping, progress },
    { leases, ttl: o.leaseTtl, compact: o.compact },
  ).pipe(
    Effect.either,
    // What every other database would meet too ends the run (one line, as for one database).
    Effect.flatMap((r) => (Either.isLeft(r) && stopsRun(r.left) ? Effect.fail(r.left) : Effect.succeed(r))),
  )
  if (Either.isLeft(ran)) {
    const error = ran.left.message.split("\n")[0]!
    yield* Effect.logError(`${db}: failed, the other databases go on`).pipe(
      Effect.annotateLogs({ db, error }),
    )
    const failed: DbOutcome = { db, state: "failed", error }
    return failed
  }
  const summary = ran.right
  if (isSkipped(summary)) return summary
  const problem = Option.getOrUndefined(purgeProblems(summary))
  const state = problem !== undefined ? "failed" : summary.interrupted ? "interrupted" : "succeeded"
  yield* Effect.logInfo(`${db}: ${state}`).pipe(
    Effect.annotateLogs({
      db,
      tombstones: summary.tombstones,
      purged_revs: summary.purgedRevs,
      failed_docs: summary.failedDocs,
      ...(problem !== undefined ? { error: problem } : {}),
    }),
  )
  const { dryRun: _dryRun, checkpointStore: _store, ...own } = summary
  const done: DbOutcome = { state, ...own, ...(problem !== undefined ? { error: problem } : {}) }
  return done
})

/**
 * The info of a batch of databases from one `POST /_dbs_info` (retried as any request). Where the
 * server has no `_dbs_info` (400, 404, 405: before CouchDB 2.2, or a proxy that does not pass it)
 * it is not asked again; where it fails otherwise, or a database is not in its answer, each of
 * those databases reads its own info (and meets its own error there, as a run of one would).
 */
const infoReader = (couch: CouchClientShape, o: PurgeManyOptions, context: RunContext) => {
  let supported = true
  const unsupported = ["CouchBadRequest", "CouchNotFound", "CouchProtocolError"]
  const none = new Map<string, DbInfo>()
  return (dbs: Iterable<string>) => {
    const names = Array.from(dbs)
    const read = Effect.gen(function* () {
      // A stopping run starts no more databases: their info is not needed.
      if (!supported || (yield* context.stopping)) return none
      return yield* dbsInfo(couch, names).pipe(
        withRetry({ ...defaultRetryPolicy, retries: o.retries, base: o.retryBase }, isRetryable),
        Effect.catchAll((e) =>
          Effect.sync(() => {
            if (unsupported.includes(e._tag)) supported = false
            return none
          }),
        ),
      )
    })
    return Effect.map(read, (found) => names.map((db) => [db, found.get(db)] as const))
  }
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
  const leases = yield* leasesOf.forRun(retry)
  // Asked once for the run (the version picks the batch size), not once per database.
  const server = yield* couch.serverInfo.pipe(withRetry(retry, isRetryable))
  const selected = yield* selectDbs(couch, o)
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
    ? yield* readReplications(couch, withRetry(retry, isRetryable))
    : undefined
  const infoOf = infoReader(couch, o, context)
  // The databases' info 100 a request, read a batch ahead of the databases being purged (so it
  // is seconds old, not as old as the run), then `dbConcurrency` databases at once, in order.
  const databases = yield* Stream.fromIterable(mine).pipe(
    Stream.grouped(dbsInfoKeys),
    Stream.mapEffect(infoOf),
    Stream.flattenIterables,
    Stream.buffer({ capacity: dbsInfoKeys }),
    Stream.mapEffect(
      ([db, info]) => purgeOne(couch, store, o, context, server, leases, db, info, replications),
      {
        concurrency: o.dbConcurrency,
      },
    ),
    Stream.runCollect,
    Effect.map((outcomes) => Array.from(outcomes)),
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
  /** Needs the CouchDB client: every database keeps its checkpoint in its own `_local` document. */
  static readonly layer = Layer.effect(
    PurgeManyJob,
    Effect.gen(function* () {
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
    }),
  )
}
