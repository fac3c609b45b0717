import { FileSystem } from "@effect/platform"
import { Clock, Context, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import { compact, defaultPoll } from "../couch/admin.ts"
import { CouchClient, type CouchClientShape } from "../couch/client.ts"
import { isRetryable } from "../couch/errors.ts"
import { checkDatabaseName } from "../couch/names.ts"
import type { ReplicationInfo } from "../couch/replications.ts"
import { failedWork, type Job, type RunContext } from "../jobs/job.ts"
import { DurationFromString } from "../shared/duration.ts"
import { defaultRetryPolicy, withRetry } from "../shared/retry.ts"
import type { CapsSettings } from "./caps.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { makeFileCheckpointStore } from "./checkpoint-file.ts"
import { makeLocalDocCheckpointStore } from "./checkpoint-local.ts"
import { type HeldElsewhere, type Lease, makeLeases, type RunLeases } from "./lease.ts"
import { LeaseLost } from "./lease-errors.ts"
import { runPurge } from "./purge.ts"
import type { PurgeSettings } from "./settings.ts"
import type { PurgeCompaction, PurgeSummary } from "./summary.ts"

const whole = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max))

/** A CouchDB database name, by CouchDB's own rule. */
export const DatabaseName = Schema.String.pipe(
  Schema.filter((name) =>
    Either.match(checkDatabaseName(name), { onLeft: (why) => why, onRight: () => true }),
  ),
)

/** The default time a purger's lease runs without being renewed (`--lease-ttl`). */
export const defaultLeaseTtl = Duration.minutes(2)

/** A lease TTL: at least a second (renewals go every third of it), at most a day. */
export const LeaseTtl = DurationFromString.pipe(
  Schema.filter((d) =>
    Duration.lessThan(d, Duration.seconds(1)) || Duration.greaterThan(d, Duration.days(1))
      ? "must be from 1s to 1d, such as 2m"
      : true,
  ),
)

/** The purge job's options: what the CLI flags, the library API and HTTP bodies give. */
export const PurgeOptions = Schema.Struct({
  db: DatabaseName,
  batch: Schema.optionalWith(Schema.Union(Schema.Literal("auto"), whole(1, 100_000)), {
    default: () => "auto" as const,
  }),
  concurrency: Schema.optionalWith(whole(1, 1000), { default: () => 10 }),
  retries: Schema.optionalWith(whole(0, 100), { default: () => defaultRetryPolicy.retries }),
  retryBase: Schema.optionalWith(DurationFromString, { default: () => defaultRetryPolicy.base }),
  /** 0, now or a seq; the checkpoint when absent. */
  since: Schema.optionalWith(Schema.String, { as: "Option" }),
  dryRun: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  list: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  pageSize: Schema.optionalWith(whole(0, 100_000), { default: () => 0 }),
  /** Keep the checkpoint in this file instead of the database's `_local/dbsweep-purge`. */
  checkpointFile: Schema.optionalWith(Schema.String, { as: "Option" }),
  /** Most tombstones purged a second in each database (0: no limit). */
  maxRate: Schema.optionalWith(whole(0, 1_000_000), { default: () => 0 }),
  /** After a purge that went well, compact the database and wait for it (space is freed only then). */
  compact: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** `--grace`: hold back tombstones changed within this duration (history kept in the `_local` checkpoint). */
  grace: Schema.optionalWith(
    DurationFromString.pipe(
      Schema.filter(
        (d) => Duration.greaterThanOrEqualTo(d, Duration.seconds(1)) || "grace must be at least 1s",
      ),
    ),
    { as: "Option" },
  ),
  /** `--respect-replications`: hold back what replications reading the database have not checkpointed. */
  respectReplications: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** `--ignore-replication`: replications (document or replication id) not to respect. */
  ignoreReplications: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /**
   * How long the database's lease runs without renewal (`--lease-ttl`): a purger that crashed
   * holds the database this long at most, then a later run takes over.
   */
  leaseTtl: Schema.optionalWith(LeaseTtl, { default: () => defaultLeaseTtl }),
})
export type PurgeOptions = typeof PurgeOptions.Type

/** The safety caps a purge's options ask for; none when neither --grace nor --respect-replications. */
export const capsOf = (
  o: Pick<PurgeOptions, "grace" | "respectReplications" | "ignoreReplications">,
  replications?: ReadonlyArray<ReplicationInfo>,
): { readonly caps?: CapsSettings } =>
  Option.isNone(o.grace) && !o.respectReplications
    ? {}
    : {
        caps: {
          ...(Option.isSome(o.grace) ? { graceMs: Duration.toMillis(o.grace.value) } : {}),
          respectReplications: o.respectReplications,
          ignoreReplications: o.ignoreReplications,
          ...(replications !== undefined ? { replications } : {}),
        },
      }

/** A purge that held the database's lease; `leaseLost` says why it lost it, if it did. */
export type LeasedSummary = PurgeSummary & { readonly leaseLost?: string }

/** A database left alone: another purger holds its lease. Not a failure (exit 0 for it). */
export interface SkippedPurge extends HeldElsewhere {
  readonly db: string
  readonly state: "skipped"
  readonly reason: string
  readonly dryRun: false
  readonly durationMs: number
}

/** How a purge of one database ended: purged (or dry run), or skipped. */
export type PurgeOutcome = LeasedSummary | SkippedPurge

export const isSkipped = (s: PurgeOutcome): s is SkippedPurge => "state" in s && s.state === "skipped"

/** The words a skipped database is reported with (summary, --json, /jobs). */
export const heldReason = "held by another purger"

/** Work that failed inside a finished purge, in one line. */
export const purgeProblems = (s: PurgeOutcome): Option.Option<string> => {
  if (isSkipped(s)) return Option.none()
  if (s.leaseLost !== undefined) {
    return Option.some(
      `lost the lease of ${s.db} (${s.leaseLost}): stopped purging it and left its checkpoint at ${s.checkpoint ?? "the start"} for the lease holder; nothing is skipped, the next run goes on from there`,
    )
  }
  if (!s.checkpointSaved) {
    return Option.some(
      `the purge ran but its checkpoint could not be saved in ${s.checkpointStore} (${s.checkpointError}): fix that and run again; it will repeat work since ${s.checkpoint ?? "the start"}, skipping nothing`,
    )
  }
  if (s.compaction !== undefined && "error" in s.compaction) {
    return Option.some(
      `the purge went well but the compaction after it failed (${s.compaction.error}): run dbsweep couch compact ${s.db} --wait`,
    )
  }
  return failedWork(
    s.failedDocs + s.failedBatches,
    () =>
      `${s.failedDocs} documents and ${s.failedBatches} batches were not purged (see the log); the checkpoint stays before them: run again`,
  )
}

/** Whether a finished purge is one to compact after: real, complete, nothing failed. */
const wentWell = (s: PurgeSummary) =>
  !s.dryRun && !s.interrupted && s.checkpointSaved && s.failedDocs + s.failedBatches === 0

/**
 * The purge, then with `compactAfter` the database's compaction, waited for: a purge frees no disk
 * until the database is compacted (https://docs.couchdb.org/en/stable/maintenance/compaction.html).
 * A failed compaction is reported in the summary, not lost with the purge's counts.
 */
export const purgeThenCompact = Effect.fn("Purge.purgeThenCompact")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  settings: PurgeSettings,
  context: RunContext,
  compactAfter: boolean,
) {
  const summary = yield* runPurge(couch, store, settings, context)
  if (!compactAfter || !wentWell(summary)) return summary
  const options = { views: false, wait: true, poll: defaultPoll }
  const compaction = yield* compact(couch, settings.db, options, context.progress).pipe(
    Effect.map(
      (r): PurgeCompaction => ({
        fileBefore: r.fileBefore,
        fileAfter: r.fileAfter ?? r.fileBefore,
        reclaimed: r.reclaimed ?? 0,
        durationMs: r.durationMs,
      }),
    ),
    Effect.catchAll((e) => Effect.succeed<PurgeCompaction>({ error: e.message })),
  )
  const done: PurgeSummary = { ...summary, compaction }
  return done
})

/**
 * A checkpoint store that writes only while this purger holds the database's lease, and only for
 * as long as it may still trust it, so a purger that lost it never moves the checkpoint (the new
 * holder's) backwards.
 */
const holderOnly = (store: CheckpointStoreShape, lease: Lease): CheckpointStoreShape => ({
  ...store,
  save: (db, seq) =>
    Effect.flatMap(lease.trustedFor, (ms) =>
      ms > 0
        ? store.save(db, seq).pipe(
            Effect.timeoutFail({
              duration: Duration.millis(ms),
              onTimeout: () =>
                new LeaseLost({ db, reason: "the lease ran out while the checkpoint was written" }),
            }),
          )
        : Effect.flatMap(
            lease.lost,
            (lost) =>
              new LeaseLost({ db, reason: Option.getOrElse(lost, () => "it could not be renewed in time") }),
          ),
    ),
  // --grace's observation is written into the same `_local` document: only by the holder too
  // (one left out costs nothing but that observation).
  ...(store.observations === undefined
    ? {}
    : {
        observations: {
          load: store.observations.load,
          record: (db, observation) =>
            Effect.flatMap(lease.trustedFor, (ms) =>
              ms > 0 && store.observations !== undefined
                ? store.observations.record(db, observation).pipe(Effect.timeoutOption(ms), Effect.asVoid)
                : Effect.void,
            ),
        },
      }),
})

/**
 * The purge of one database under its lease: skipped when another purger holds it; stopped (no
 * new work, requests in flight finish, checkpoint left alone) when the lease is lost meanwhile.
 * A dry run takes no lease: it writes nothing, not even the checkpoint.
 */
export const leasedPurge = Effect.fn("Purge.leased")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  settings: PurgeSettings,
  context: RunContext,
  lease: { readonly leases: RunLeases; readonly ttl: Duration.Duration; readonly compact: boolean },
) {
  if (settings.dryRun) {
    const summary: PurgeOutcome = yield* purgeThenCompact(couch, store, settings, context, lease.compact)
    return summary
  }
  const startedAt = yield* Clock.currentTimeMillis
  // The server is asked first (the run needs its version anyway), so a URL that is not CouchDB
  // or a login refused is told as such, not as a lease that could not be taken.
  const server = settings.server ?? (yield* couch.serverInfo.pipe(withRetry(settings.retry, isRetryable)))
  const held = yield* lease.leases.withLease(settings.db, lease.ttl, (l) =>
    Effect.gen(function* () {
      const stopping = Effect.zipWith(context.stopping, l.lost, (stop, lost) => stop || Option.isSome(lost))
      const summary = yield* purgeThenCompact(
        couch,
        holderOnly(store, l),
        { ...settings, server },
        { ...context, stopping },
        lease.compact,
      )
      const lost = yield* l.lost
      const done: LeasedSummary = Option.isSome(lost) ? { ...summary, leaseLost: lost.value } : summary
      return done
    }),
  )
  if (Either.isRight(held)) {
    const done: PurgeOutcome = held.right
    return done
  }
  const skipped: PurgeOutcome = {
    db: settings.db,
    state: "skipped",
    reason: heldReason,
    ...held.left,
    dryRun: false,
    durationMs: (yield* Clock.currentTimeMillis) - startedAt,
  }
  return skipped
})

/** What a purge run can fail with. */
export type PurgeError = Effect.Effect.Error<ReturnType<typeof leasedPurge>>

export class PurgeJob extends Context.Tag("dbsweep/PurgeJob")<
  PurgeJob,
  Job<PurgeOptions, PurgeOutcome, typeof PurgeOptions.Encoded, PurgeError>
>() {
  /** Needs the CouchDB client and a file system (for `checkpointFile`). */
  static readonly layer = Layer.effect(
    PurgeJob,
    Effect.gen(function* () {
      const couch = yield* CouchClient
      const fs = yield* FileSystem.FileSystem
      const local = yield* makeLocalDocCheckpointStore(couch)
      const leases = yield* makeLeases(couch)
      return PurgeJob.of({
        name: "purge",
        options: PurgeOptions,
        target: (o) => o.db,
        problems: purgeProblems,
        run: (o, context) =>
          Effect.flatMap(
            leases.forRun({ ...defaultRetryPolicy, retries: o.retries, base: o.retryBase }),
            (run) =>
              leasedPurge(
                couch,
                Option.match(o.checkpointFile, {
                  onNone: () => local,
                  onSome: (path) => makeFileCheckpointStore(fs, path),
                }),
                {
                  db: o.db,
                  batch: o.batch,
                  concurrency: o.concurrency,
                  retry: { ...defaultRetryPolicy, retries: o.retries, base: o.retryBase },
                  since: o.since,
                  dryRun: o.dryRun,
                  list: o.list,
                  pageSize: o.pageSize,
                  checkpointEveryMs: Duration.toMillis("2 seconds"),
                  ...(o.maxRate > 0 ? { maxRate: o.maxRate } : {}),
                  ...capsOf(o),
                },
                context,
                { leases: run, ttl: o.leaseTtl, compact: o.compact },
              ),
          ),
      })
    }),
  )
}
