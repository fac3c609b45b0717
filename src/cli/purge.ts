/**
 * `dbsweep purge`: checks the flags against each other, then runs the purge of one database or
 * of many through the job runner and prints its summary. The flags, the choice of databases and
 * the summary text live beside it (purge-options, purge-targets, purge-summary).
 */
import { Command } from "@effect/cli"
import { Effect, Either, Option } from "effect"
import { purgeApp } from "../app-purge.ts"
import { checkDatabaseName } from "../couch/names.ts"
import { PurgeJob } from "../purge/job.ts"
import { PurgeManyJob } from "../purge/many.ts"
import type { PurgeManyOptions } from "../purge/many-options.ts"
import type { PurgeOptions } from "../purge/options.ts"
import type { Partition } from "../purge/partition.ts"
import { targetProblem } from "../purge/targets.ts"
import { ConfigError } from "../shared/errors.ts"
import { logProgress } from "../shared/progress.ts"
import { stderrIsTerminal, withLogFormat } from "./common.ts"
import { shown } from "./options.ts"
import { terminalMultiProgress, terminalProgress } from "./progress-bar.ts"
import { purgeOptions } from "./purge-options.ts"
import { humanManySummary, humanSummary } from "./purge-summary.ts"
import { namedTargets, oneDatabase, partitionOption } from "./purge-targets.ts"
import { runOnce } from "./run-job.ts"

export const purgeCommand = Command.make("purge", purgeOptions, (o) =>
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
