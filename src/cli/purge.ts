import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Config, Duration, Effect, Either, Option } from "effect"
import { purgeApp } from "../app.ts"
import { isGlob } from "../couch/all-dbs.ts"
import { checkDatabaseName } from "../couch/names.ts"
import { bytes } from "../couch/reports.ts"
import { showHeld, totalHeld } from "../purge/holds.ts"
import { PurgeJob } from "../purge/job.ts"
import { leasesDb } from "../purge/lease-doc.ts"
import { PurgeManyJob } from "../purge/many.ts"
import type { PurgeManyOptions } from "../purge/many-options.ts"
import type { PurgeManySummary } from "../purge/many-summary.ts"
import type { PurgeOptions } from "../purge/options.ts"
import { isSkipped, type PurgeOutcome, type SkippedPurge } from "../purge/outcome.ts"
import { type Partition, resolvePartition } from "../purge/partition.ts"
import type { PurgeSummary } from "../purge/summary.ts"
import { targetProblem } from "../purge/targets.ts"
import { ConfigError } from "../shared/errors.ts"
import { logProgress } from "../shared/progress.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { commonOptions, stderrIsTerminal, withLogFormat } from "./common.ts"
import { couchOptions } from "./couch-connection.ts"
import {
  durationOption,
  integerOption,
  optionalDurationOption,
  parseWhole,
  pathOption,
  shown,
} from "./options.ts"
import { terminalMultiProgress, terminalProgress } from "./progress-bar.ts"
import { runOnce } from "./run-job.ts"

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

const options = {
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

/** A database another purger holds: who, until when, and where the lease is. */
const skippedLine = (s: SkippedPurge) =>
  `${s.db}: skipped, ${s.reason} (${s.holder}, lease until ${s.expiresAt}; ${s.lease})`

const humanSummary = (outcome: PurgeOutcome): string => {
  if (isSkipped(outcome)) return skippedLine(outcome)
  const s = outcome
  const verb = s.dryRun ? "would purge" : "purged"
  const lines = [
    `${s.db}: ${verb} ${s.dryRun ? s.revs : s.purgedRevs} revs of ${s.tombstones} deleted documents in ${(s.durationMs / 1000).toFixed(1)}s`,
  ]
  if (!s.dryRun) {
    lines.push(
      `  already gone ${s.alreadyGone}, failed documents ${s.failedDocs}, failed batches ${s.failedBatches}, requests ${s.requests}, retries ${s.retries}, accepted without quorum (202) ${s.accepted}`,
    )
  }
  lines.push(
    s.checkpointSaved
      ? `  checkpoint ${s.checkpoint ?? "(none)"} in ${s.checkpointStore}${s.dryRun ? " (unchanged by a dry run)" : ""}`
      : `  checkpoint NOT saved in ${s.checkpointStore} (${s.checkpointError}); it stays at ${s.checkpoint ?? "(none)"}: the next run repeats work from there, nothing is skipped`,
  )
  lines.push(...capsLines(s))
  if (s.compaction !== undefined) {
    lines.push(
      "error" in s.compaction
        ? `  compaction after the purge failed: ${s.compaction.error}`
        : `  compacted in ${(s.compaction.durationMs / 1000).toFixed(1)}s: file size ${bytes(s.compaction.fileBefore)} -> ${bytes(s.compaction.fileAfter)} (reclaimed ${bytes(s.compaction.reclaimed)})`,
    )
  }
  if (s.leaseLost !== undefined) lines.push(`  lease lost (${s.leaseLost}): stopped, checkpoint left alone`)
  else if (s.interrupted) lines.push("  interrupted: run again to continue from the checkpoint")
  return lines.join("\n")
}

/** What the safety caps held back and why, for an operator. */
const capsLines = (s: PurgeSummary): ReadonlyArray<string> => {
  if (s.caps === undefined) return []
  const lines: Array<string> = []
  const held = totalHeld(s.heldBack)
  lines.push(
    held === 0
      ? "  held back 0 tombstones"
      : `  held back ${showHeld(s.heldBack)} tombstones: not ${s.dryRun ? "selected" : "purged"}; the checkpoint stays before the first, so a later run looks at them again`,
  )
  const grace = s.caps.grace
  if (grace?.waitUntil !== undefined)
    lines.push(
      `  --grace: no observation of ${s.db} is old enough yet; nothing is purged before ${grace.waitUntil}`,
    )
  else if (grace?.since !== undefined)
    lines.push(`  --grace: tombstones changed since ${grace.since} (the newest observation that old) wait`)
  const r = s.caps.replications
  if (r !== undefined) {
    if (r.broken.length > 0)
      lines.push(
        `  replications in an error state hold the whole database back: ${r.broken.join(", ")} (see the log; --ignore-replication ID lets one go)`,
      )
    lines.push(
      r.watched.length === 0
        ? "  no other replication reads this database"
        : `  replications reading this database: ${r.watched.join(", ")}`,
    )
    if (r.ignored.length > 0) lines.push(`  ignored replications: ${r.ignored.join(", ")}`)
  }
  return lines
}

const summaryLine = (s: Omit<PurgeSummary, "dryRun" | "checkpointStore">, dryRun: boolean): string =>
  `${dryRun ? "would purge" : "purged"} ${dryRun ? s.revs : s.purgedRevs} revs of ${s.tombstones} deleted documents in ${(s.durationMs / 1000).toFixed(1)}s${totalHeld(s.heldBack) > 0 ? `; held back ${showHeld(s.heldBack)}` : ""}${s.caps?.grace?.waitUntil !== undefined ? ` (grace: nothing before ${s.caps.grace.waitUntil})` : ""}${(s.caps?.replications?.broken.length ?? 0) > 0 ? ` (replication in error: ${s.caps?.replications?.broken.join(", ")})` : ""}`

/** A run of many databases: the whole, then one line per database (and why each failure failed). */
const humanManySummary = (s: PurgeManySummary): string => {
  const verb = s.dryRun ? "would purge" : "purged"
  const notStarted = s.databases.filter((d) => d.state === "not started").length
  const skipped = s.databases.filter((d) => d.state === "skipped").length
  const interrupted = s.databases.filter((d) => d.state === "interrupted").length
  const lines = [
    `${s.databases.length} databases (${s.selection}${s.partition !== undefined ? `; partition ${s.partition}: ${s.databases.length} of ${s.selectedInAllPartitions ?? 0}` : ""}): ${verb} ${s.dryRun ? s.revs : s.purgedRevs} revs of ${s.tombstones} deleted documents in ${(s.durationMs / 1000).toFixed(1)}s; ${s.succeeded} succeeded, ${s.failed} failed${skipped > 0 ? `, ${skipped} skipped (held by another purger)` : ""}${interrupted > 0 ? `, ${interrupted} interrupted` : ""}${notStarted > 0 ? `, ${notStarted} not started` : ""}`,
  ]
  if (totalHeld(s.heldBack) > 0)
    lines.push(`  held back ${showHeld(s.heldBack)} tombstones in all (see each database)`)
  for (const glob of s.unmatched) lines.push(`  ${glob} matched no database`)
  for (const d of s.databases) {
    if (d.state === "skipped") {
      lines.push(`  ${skippedLine(d)}`)
    } else if (!("tombstones" in d)) {
      lines.push(
        `  ${d.db}: ${d.state === "failed" ? `FAILED: ${d.error ?? ""}` : "not started (the run was stopped)"}`,
      )
    } else if (d.state === "failed") {
      lines.push(`  ${d.db}: FAILED: ${d.error ?? ""} (${summaryLine(d, s.dryRun)})`)
    } else {
      lines.push(`  ${d.db}: ${summaryLine(d, s.dryRun)}${d.state === "interrupted" ? " (interrupted)" : ""}`)
    }
  }
  if (s.interrupted) lines.push("  interrupted: run again to continue from each database's checkpoint")
  return lines.join("\n")
}

/**
 * A `--db` with no value, or an empty one, in the arguments of `purge`. The parser of a repeated
 * flag drops both without a word, which would turn `--db "$DB"` with DB unset into another
 * selection; so they are refused before parsing, with the message a single `--db` always gave.
 */
export const dbFlagProblem = (argv: ReadonlyArray<string>): string | undefined => {
  if (!argv.includes("purge")) return undefined
  for (const [i, arg] of argv.entries()) {
    if (arg === "--db=") return `--db / COUCHDB_DB_NAME ${checkEmpty}`
    if (arg !== "--db") continue
    const next = argv[i + 1]
    if (next === undefined || next.startsWith("--")) {
      return "--db needs a value (e.g. --db NAME, or a glob such as --db 'userdb-*')"
    }
    if (next === "") return `--db / COUCHDB_DB_NAME ${checkEmpty}`
  }
  return undefined
}
const checkEmpty = Either.match(checkDatabaseName(""), { onLeft: (why) => why, onRight: () => "is empty" })

/** The one database of a run that names exactly one (and no glob, no --all-dbs): purged as always. */
const oneDatabase = (dbs: ReadonlyArray<string>, allDbs: boolean) =>
  !allDbs && dbs.length === 1 && !isGlob(dbs[0]!) ? Option.some(dbs[0]!) : Option.none()

/** The databases named by --db, or by COUCHDB_DB_NAME when --db is not given. */
const namedTargets = (given: ReadonlyArray<string>, allDbs: boolean) =>
  given.length > 0
    ? Effect.succeed(given)
    : Config.option(Config.string("COUCHDB_DB_NAME")).pipe(
        Effect.orElseSucceed(() => Option.none<string>()),
        Effect.flatMap((env) =>
          Option.match(env, {
            onNone: () =>
              allDbs
                ? Effect.succeed<ReadonlyArray<string>>([])
                : new ConfigError({
                    message:
                      "no database given: pass --db NAME (or a glob, or --all-dbs) or set COUCHDB_DB_NAME",
                  }),
            onSome: (name) => Effect.succeed<ReadonlyArray<string>>([name]),
          }),
        ),
      )

/** `--partition`, else JOB_COMPLETION_INDEX and DBSWEEP_PARTITIONS (a Kubernetes Indexed Job). */
const partitionOption = (flag: Option.Option<string>) =>
  Effect.gen(function* () {
    const env = (name: string) =>
      Config.option(Config.string(name)).pipe(
        Effect.orElseSucceed(() => Option.none<string>()),
        Effect.map(Option.getOrUndefined),
      )
    const resolved = resolvePartition(Option.getOrUndefined(flag), {
      index: yield* env("JOB_COMPLETION_INDEX"),
      count: yield* env("DBSWEEP_PARTITIONS"),
    })
    if ("problem" in resolved) return yield* new ConfigError({ message: resolved.problem })
    return resolved.partition
  })

export const purgeCommand = Command.make("purge", options, (o) =>
  Effect.gen(function* () {
    const targets = yield* namedTargets(o.db, o.allDbs)
    if (o.ignoreReplication.length > 0 && !o.respectReplications) {
      return yield* new ConfigError({
        message:
          "--ignore-replication only means something with --respect-replications: add it, or drop --ignore-replication",
      })
    }
    if (Option.isSome(o.grace) && Option.isSome(o.checkpointFile)) {
      return yield* new ConfigError({
        message:
          "--grace keeps its history of observations in the database's _local/dbsweep-purge document, which --checkpoint-file replaces: leave out one of them",
      })
    }
    const caps = {
      grace: o.grace,
      respectReplications: o.respectReplications,
      ignoreReplications: o.ignoreReplication.map((id) => id.trim()).filter((id) => id !== ""),
    }
    const partition: Partition | undefined = yield* partitionOption(o.partition)
    // A worker's share of one named database may be nothing: a partition is always a run of many.
    const one = partition === undefined ? oneDatabase(targets, o.allDbs) : Option.none()
    if (Option.isSome(one)) {
      const db = yield* Either.mapLeft(
        checkDatabaseName(one.value),
        (why) => new ConfigError({ message: `--db / COUCHDB_DB_NAME ${why}` }),
      )
      if (o.list && !o.dryRun && o.json) {
        return yield* new ConfigError({ message: "--list and --json both write to stdout: pick one" })
      }
      const job = yield* PurgeJob
      const options: PurgeOptions = {
        db,
        batch: o.batch,
        concurrency: o.concurrency,
        retries: o.retries,
        retryBase: o.retryBase,
        since: o.since,
        dryRun: o.dryRun,
        list: o.list,
        pageSize: o.pageSize,
        maxRate: o.maxRate,
        checkpointFile: o.checkpointFile,
        compact: o.compact,
        leaseTtl: o.leaseTtl,
        ...caps,
      }
      return yield* runOnce(job, options, { json: o.json, human: humanSummary })
    }
    for (const target of targets) {
      const why = targetProblem(target)
      if (why !== undefined) return yield* new ConfigError({ message: `--db ${why}` })
    }
    if (o.list && !o.dryRun && o.json) {
      return yield* new ConfigError({ message: "--list and --json both write to stdout: pick one" })
    }
    if (Option.isSome(o.checkpointFile)) {
      return yield* new ConfigError({
        message:
          "--checkpoint-file holds one database's checkpoint: leave it out when purging several (each keeps its own in its _local/dbsweep-purge document)",
      })
    }
    if (Option.isSome(o.since) && !["0", "now"].includes(o.since.value.trim())) {
      return yield* new ConfigError({
        message: `--since ${shown(o.since.value)} is a seq of one database: with several databases use 0 or now`,
      })
    }
    const job = yield* PurgeManyJob
    const options: PurgeManyOptions = {
      dbs: targets,
      allDbs: o.allDbs,
      dbConcurrency: o.dbConcurrency,
      ...(partition !== undefined ? { partition } : {}),
      batch: o.batch,
      concurrency: o.concurrency,
      retries: o.retries,
      retryBase: o.retryBase,
      since: Option.map(o.since, (since) => since.trim()),
      dryRun: o.dryRun,
      list: o.list,
      pageSize: o.pageSize,
      maxRate: o.maxRate,
      compact: o.compact,
      leaseTtl: o.leaseTtl,
      ...caps,
    }
    yield* runOnce(job, options, { json: o.json, human: humanManySummary })
  }).pipe(
    Effect.provide(
      purgeApp(
        o,
        !stderrIsTerminal() || o.list
          ? logProgress(10_000)
          : Option.isNone(o.partition) &&
              (Option.isSome(oneDatabase(o.db, o.allDbs)) || (o.db.length === 0 && !o.allDbs))
            ? terminalProgress
            : terminalMultiProgress,
      ),
    ),
    withLogFormat(o.logFormat),
  ),
).pipe(
  Command.withDescription(
    "Permanently purge deleted documents (tombstones) from CouchDB databases: one (--db NAME), several (--db again), a glob (--db 'userdb-*') or all (--all-dbs). Irreversible: try --dry-run first.",
  ),
)
