/**
 * The purge job's options as a Schema: what the CLI flags, the library API and HTTP bodies give,
 * decoded and checked in one place; and the safety caps they ask for. A run of many reuses them.
 */
import { Duration, Either, Option, Schema } from "effect"
import { checkDatabaseName } from "../couch/names.ts"
import type { ReplicationInfo } from "../couch/replications.ts"
import { DurationFromString } from "../shared/duration.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import type { CapsSettings } from "./caps.ts"
import type { PurgeSettings } from "./settings.ts"

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

/**
 * The settings of one database's purge from a job's options (a run of many gives each of its
 * databases the same ones): checkpoints written at most every 2 s while running.
 */
export const settingsOf = (
  o: Omit<PurgeOptions, "db" | "checkpointFile">,
  db: string,
  replications?: ReadonlyArray<ReplicationInfo>,
): PurgeSettings => ({
  db,
  batch: o.batch,
  concurrency: o.concurrency,
  retry: { ...defaultRetryPolicy, retries: o.retries, base: o.retryBase },
  since: o.since,
  dryRun: o.dryRun,
  list: o.list,
  pageSize: o.pageSize,
  checkpointEveryMs: Duration.toMillis("2 seconds"),
  ...(o.maxRate > 0 ? { maxRate: o.maxRate } : {}),
  ...capsOf(o, replications),
})
