import { FileSystem } from "@effect/platform"
import { Context, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import { compact, defaultPoll } from "../couch/admin.ts"
import { CouchClient, type CouchClientShape } from "../couch/client.ts"
import { checkDatabaseName } from "../couch/names.ts"
import type { ReplicationInfo } from "../couch/replications.ts"
import { failedWork, type Job, type RunContext } from "../jobs/job.ts"
import { DurationFromString } from "../shared/duration.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import type { CapsSettings } from "./caps.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { makeFileCheckpointStore } from "./checkpoint-file.ts"
import { makeLocalDocCheckpointStore } from "./checkpoint-local.ts"
import { type PurgeCompaction, type PurgeSettings, type PurgeSummary, runPurge } from "./purge.ts"

const whole = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max))

/** A CouchDB database name, by CouchDB's own rule. */
export const DatabaseName = Schema.String.pipe(
  Schema.filter((name) =>
    Either.match(checkDatabaseName(name), { onLeft: (why) => why, onRight: () => true }),
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

/** Work that failed inside a finished purge, in one line. */
export const purgeProblems = (s: PurgeSummary): Option.Option<string> => {
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

/** What a purge run can fail with. */
export type PurgeError = Effect.Effect.Error<ReturnType<typeof purgeThenCompact>>

export class PurgeJob extends Context.Tag("dbsweep/PurgeJob")<
  PurgeJob,
  Job<PurgeOptions, PurgeSummary, typeof PurgeOptions.Encoded, PurgeError>
>() {
  /** Needs the CouchDB client and a file system (for `checkpointFile`). */
  static readonly layer = Layer.effect(
    PurgeJob,
    Effect.gen(function* () {
      const couch = yield* CouchClient
      const fs = yield* FileSystem.FileSystem
      const local = yield* makeLocalDocCheckpointStore(couch)
      return PurgeJob.of({
        name: "purge",
        options: PurgeOptions,
        target: (o) => o.db,
        problems: purgeProblems,
        run: (o, context) =>
          purgeThenCompact(
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
            o.compact,
          ),
      })
    }),
  )
}
