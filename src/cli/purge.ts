import { Command, Options } from "@effect/cli"
import { Config, Console, Duration, Effect, Either, Layer, Option } from "effect"
import { FileCheckpointStore } from "../purge/checkpoint-file.ts"
import { LocalDocCheckpointStore } from "../purge/checkpoint-local.ts"
import { type PurgeSummary, runPurge } from "../purge/purge.ts"
import { parseDuration } from "../shared/duration.ts"
import { ConfigError, JobFailed } from "../shared/errors.ts"
import { gracefully } from "../shared/graceful.ts"
import { logProgress } from "../shared/progress.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { commonOptions, stderrIsTerminal, withLogFormat } from "./common.ts"
import { couchLayer, couchOptions } from "./couch-connection.ts"
import { terminalProgress } from "./progress-bar.ts"

const positive = (name: string, max: number) => (n: number) =>
  Number.isInteger(n) && n >= 1 && n <= max
    ? Either.right(n)
    : Either.left(`--${name} must be a whole number from 1 to ${max} (got ${n})`)

const options = {
  ...commonOptions,
  ...couchOptions,
  db: Options.text("db").pipe(
    Options.withDescription("database to purge (env COUCHDB_DB_NAME)"),
    Options.withFallbackConfig(Config.string("COUCHDB_DB_NAME")),
    Options.optional,
  ),
  batch: Options.text("batch").pipe(
    Options.withDescription(
      "document ids per _purge request: auto (100 below CouchDB 3.5.1, 500 from 3.5.1) or a number; halved if the server refuses the size",
    ),
    Options.withDefault("auto"),
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("_purge requests in flight at once"),
    Options.withDefault(10),
  ),
  retries: Options.integer("retries").pipe(
    Options.withDescription(
      "retries of a failed request (network, timeout, 5xx, 429), exponential with jitter",
    ),
    Options.withDefault(defaultRetryPolicy.retries),
  ),
  retryBase: Options.text("retry-base").pipe(
    Options.withDescription("first retry delay, doubled each retry"),
    Options.withDefault("1s"),
  ),
  checkpointFile: Options.file("checkpoint-file").pipe(
    Options.withDescription(
      "keep the checkpoint in this file (the bare seq, like the original tool's last_seq.txt) instead of the database's _local/dbsweep-purge document",
    ),
    Options.optional,
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
  pageSize: Options.integer("page-size").pipe(
    Options.withDescription("rows per _changes request (0 = ten batches)"),
    Options.withDefault(0),
  ),
}

const humanSummary = (s: PurgeSummary): string => {
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
    `  checkpoint ${s.checkpoint ?? "(none)"} in ${s.checkpointStore}${s.dryRun ? " (unchanged by a dry run)" : ""}`,
  )
  if (s.interrupted) lines.push("  interrupted: run again to continue from the checkpoint")
  return lines.join("\n")
}

export const purgeCommand = Command.make("purge", options, (o) =>
  gracefully((stopping) =>
    Effect.gen(function* () {
      const db = yield* Option.match(o.db, {
        onNone: () =>
          new ConfigError({ message: "no database given: pass --db NAME or set COUCHDB_DB_NAME" }),
        onSome: Effect.succeed,
      })
      const batch: Either.Either<number | "auto", string> =
        o.batch === "auto"
          ? Either.right("auto")
          : Either.flatMap(
              /^\d+$/.test(o.batch)
                ? Either.right(Number(o.batch))
                : Either.left(`--batch must be auto or a number (got ${o.batch})`),
              positive("batch", 100_000),
            )
      if (Either.isLeft(batch)) return yield* new ConfigError({ message: batch.left })
      const concurrency = positive("concurrency", 1000)(o.concurrency)
      if (Either.isLeft(concurrency)) return yield* new ConfigError({ message: concurrency.left })
      if (!Number.isInteger(o.retries) || o.retries < 0 || o.retries > 100) {
        return yield* new ConfigError({
          message: `--retries must be a whole number from 0 to 100 (got ${o.retries})`,
        })
      }
      const retryBase = parseDuration(o.retryBase)
      if (Either.isLeft(retryBase))
        return yield* new ConfigError({ message: `--retry-base: ${retryBase.left}` })
      if (o.pageSize < 0) return yield* new ConfigError({ message: "--page-size must be 0 (auto) or more" })
      if (o.list && !o.dryRun && o.json) {
        return yield* new ConfigError({ message: "--list and --json both write to stdout: pick one" })
      }
      const store = Option.match(o.checkpointFile, {
        onNone: () => LocalDocCheckpointStore,
        onSome: FileCheckpointStore,
      })
      const progress = stderrIsTerminal() && !o.list ? terminalProgress : logProgress(10_000)
      const summary = yield* runPurge({
        db,
        batch: batch.right,
        concurrency: concurrency.right,
        retry: { ...defaultRetryPolicy, retries: o.retries, base: retryBase.right },
        since: o.since,
        dryRun: o.dryRun,
        list: o.list,
        pageSize: o.pageSize,
        checkpointEveryMs: Duration.toMillis("2 seconds"),
        stopping,
      }).pipe(Effect.provide(Layer.mergeAll(store, progress).pipe(Layer.provideMerge(couchLayer(o)))))
      if (o.json) yield* Console.log(JSON.stringify(summary))
      else yield* Effect.sync(() => process.stderr.write(`${humanSummary(summary)}\n`))
      const failed = summary.failedDocs + summary.failedBatches
      if (failed > 0) {
        return yield* new JobFailed({
          message: `${summary.failedDocs} documents and ${summary.failedBatches} batches were not purged (see the log); the checkpoint stays before them: run again`,
        })
      }
    }),
  ).pipe(withLogFormat(o.logFormat)),
).pipe(
  Command.withDescription(
    "Permanently purge deleted documents (tombstones) from a CouchDB database. Irreversible: try --dry-run first.",
  ),
)
