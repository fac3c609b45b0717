/**
 * The flags of `dbsweep purge`, each with its help text, range and fallback: apart from the
 * command so the flags a user reads in `--help` are in one place.
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Duration, Effect, Either } from "effect"
import { leasesDb } from "../purge/lease-doc.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { commonOptions } from "./common.ts"
import { couchOptions } from "./couch-connection.ts"
import {
  durationOption,
  integerOption,
  optionalDurationOption,
  parseWhole,
  pathOption,
  shown,
} from "./options.ts"

const batchOption = Options.text("batch").pipe(
  Options.withDescription(
    "document ids per _purge request: auto (100 below CouchDB 3.5.1, 500 from 3.5.1) or a number; halved if the server refuses the size",
  ),
  Options.withDefault("auto"),
  Options.mapEffect((raw) =>
    raw.trim() === "auto"
      ? Effect.succeed<number | "auto">("auto")
      : Either.match(parseWhole(raw, 1, 100_000), {
          onLeft: () =>
            Effect.fail(
              ValidationError.invalidValue(
                HelpDoc.p(`--batch must be auto or a whole number from 1 to 100000 (got ${shown(raw)})`),
              ),
            ),
          onRight: (n) => Effect.succeed<number | "auto">(n),
        }),
  ),
)

export const purgeOptions = {
  ...commonOptions,
  ...couchOptions,
  db: Options.text("db").pipe(
    Options.withDescription(
      "database to purge (env COUCHDB_DB_NAME); give it again for more, or a glob such as 'userdb-*' (* any run of characters, ? one) matched against the server's databases",
    ),
    Options.repeated,
  ),
  allDbs: Options.boolean("all-dbs").pipe(
    Options.withDescription(
      "purge every database of the server, except _users, _replicator, _global_changes and dbsweep_leases (the purge leases) unless named with --db",
    ),
  ),
  dbConcurrency: integerOption("db-concurrency", {
    min: 1,
    max: 100,
    fallback: 8,
    description: "databases purged at once when purging several (each with its own checkpoint)",
  }),
  partition: Options.text("partition").pipe(
    Options.withDescription(
      "purge only this worker's share i/n of the selected databases (0/4 .. 3/4; by a stable hash of the name), so n workers split them with no coordination; defaults to JOB_COMPLETION_INDEX / DBSWEEP_PARTITIONS (a Kubernetes Indexed Job)",
    ),
    Options.optional,
  ),
  batch: batchOption,
  concurrency: integerOption("concurrency", {
    min: 1,
    max: 1000,
    fallback: 10,
    description: "_purge requests in flight at once",
  }),
  maxRate: integerOption("max-rate", {
    min: 0,
    max: 1_000_000,
    fallback: 0,
    description:
      "most tombstones purged a second in each database (0: no limit), so a purge leaves a busy server room for live traffic; requests then hold at most this many ids",
  }),
  retries: integerOption("retries", {
    min: 0,
    max: 100,
    fallback: defaultRetryPolicy.retries,
    description: "retries of a failed request (network, timeout, 5xx, 429), exponential with jitter",
  }),
  retryBase: durationOption("retry-base", {
    fallback: "1s",
    min: Duration.millis(1),
    max: Duration.minutes(10),
    description: "first retry delay, doubled each retry",
  }),
  checkpointFile: pathOption(
    "checkpoint-file",
    "keep the checkpoint in this file (the bare seq, like the original tool's last_seq.txt) instead of the database's _local/dbsweep-purge document",
  ),
  since: Options.text("since").pipe(
    Options.withDescription(
      "start from 0 (everything), now (only later changes) or a seq, instead of the checkpoint",
    ),
    Options.optional,
  ),
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("count what would be purged; purge nothing"),
  ),
  list: Options.boolean("list").pipe(
    Options.withDescription(
      "print each selected (with --dry-run) or purged document as NDJSON {id, revs} on stdout",
    ),
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print the final summary as JSON on stdout")),
  compact: Options.boolean("compact").pipe(
    Options.withDescription(
      "after a purge that went well, compact the database and wait for it: a purge frees no disk until then",
    ),
  ),
  grace: optionalDurationOption("grace", {
    min: Duration.seconds(1),
    description:
      "safety cap: hold back tombstones changed within this time (e.g. 7d, 36h), so a mistaken deletion can still be undone; each run records the database's update_seq in its _local checkpoint, and until one is this old nothing is purged",
  }),
  respectReplications: Options.boolean("respect-replications").pipe(
    Options.withDescription(
      "safety cap: hold back tombstones a replication reading the database (_scheduler/docs, _active_tasks) has not checkpointed yet, so no replica misses a deletion; a replication in crashing, error or failed state holds the whole database back",
    ),
  ),
  ignoreReplication: Options.text("ignore-replication").pipe(
    Options.withDescription(
      "with --respect-replications: do not wait for this replication (its _replicator document id or replication id); give it again for more",
    ),
    Options.repeated,
  ),
  leaseTtl: durationOption("lease-ttl", {
    env: "DBSWEEP_LEASE_TTL",
    fallback: "2m",
    min: Duration.seconds(1),
    max: Duration.days(1),
    description: `each database is purged under a lease (a document in the ${leasesDb} database) so that one purger works on it at a time across hosts; the holder renews it every third of this time. A purger that crashed holds its databases this long at most: a later run then takes over. A database another purger holds is skipped and reported as held. A dry run takes no lease`,
  }),
  pageSize: integerOption("page-size", {
    min: 0,
    max: 100_000,
    fallback: 0,
    description: "rows per _changes request (0 = ten batches)",
  }),
}
