import { Command, Options } from "@effect/cli"
import { Config, Console, Deferred, Duration, Effect, Either, Exit, Layer, Option } from "effect"
import { CleanupJob } from "../cleanup/job.ts"
import type { CleanupOptions, CleanupSummary } from "../cleanup/run.ts"
import { type CleanupSchedule, cron, every, runSchedule } from "../cleanup/schedule.ts"
import { defaultTarget, validateNames } from "../cleanup/target.ts"
import { defaultCleanupOptions } from "../cleanup/worker.ts"
import { PgClient } from "../pg/client.ts"
import { pgSettingsConfig } from "../pg/config.ts"
import { parseDuration } from "../shared/duration.ts"
import { ConfigError, JobFailed } from "../shared/errors.ts"
import { gracefully } from "../shared/graceful.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { commonOptions, withLogFormat } from "./common.ts"

const text = (name: string, env: string, description: string, fallback: string) =>
  Options.text(name).pipe(
    Options.withDescription(`${description} (env ${env}, default ${fallback})`),
    Options.withFallbackConfig(Config.string(env)),
    Options.withDefault(fallback),
  )

const optionalText = (name: string, env: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(`${description} (env ${env})`),
    Options.withFallbackConfig(Config.string(env)),
    Options.optional,
  )

const integer = (name: string, env: string, description: string, fallback: number) =>
  Options.integer(name).pipe(
    Options.withDescription(`${description} (env ${env}, default ${fallback})`),
    Options.withFallbackConfig(Config.integer(env)),
    Options.withDefault(fallback),
  )

const options = {
  ...commonOptions,
  schema: text("schema", "CLEANUP_SCHEMA", "schema of both tables", defaultTarget.schema),
  usersTable: text("users-table", "CLEANUP_USERS_TABLE", "table of real accounts", defaultTarget.usersTable),
  pendingTable: text(
    "pending-table",
    "CLEANUP_PENDING_TABLE",
    "table of pending sign-ups to clean",
    defaultTarget.pendingTable,
  ),
  usersEmailColumn: text(
    "users-email-column",
    "CLEANUP_USERS_EMAIL_COLUMN",
    "email column of the users table",
    defaultTarget.usersEmailColumn,
  ),
  pendingEmailColumn: text(
    "pending-email-column",
    "CLEANUP_PENDING_EMAIL_COLUMN",
    "email column of the pending table",
    defaultTarget.pendingEmailColumn,
  ),
  caseSensitive: Options.boolean("case-sensitive").pipe(
    Options.withDescription(
      "match emails exactly; by default Jane@X.com matches jane@x.com (env CLEANUP_CASE_SENSITIVE)",
    ),
    Options.withFallbackConfig(Config.boolean("CLEANUP_CASE_SENSITIVE")),
  ),
  once: Options.boolean("once").pipe(Options.withDescription("run once and exit (the default)")),
  runOnce: Options.boolean("run-once").pipe(
    Options.withDescription("same as --once (the original tool's flag)"),
  ),
  every: optionalText(
    "every",
    "CLEANUP_EVERY",
    "run as a daemon, first at once and then every DURATION (30m, 1h, 1d)",
  ),
  cron: optionalText("cron", "CLEANUP_CRON", 'run as a daemon on a cron schedule, e.g. "0 * * * *"'),
  daemon: Options.boolean("daemon").pipe(
    Options.withDescription(
      "run as a daemon every --interval hours (the original tool's flags; default 1 hour)",
    ),
  ),
  interval: Options.float("interval").pipe(
    Options.withDescription("hours between runs with --daemon (the original tool's flag)"),
    Options.optional,
  ),
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("count what would be deleted and show a sample; delete nothing"),
  ),
  sample: integer("sample", "CLEANUP_SAMPLE", "rows shown by --dry-run", defaultCleanupOptions.sample),
  showEmails: Options.boolean("show-emails").pipe(
    Options.withDescription("show whole emails in the --dry-run sample instead of j***@example.com"),
  ),
  batch: integer(
    "batch",
    "CLEANUP_BATCH",
    "most rows per batch transaction",
    defaultCleanupOptions.batchSize,
  ),
  concurrency: integer(
    "concurrency",
    "CLEANUP_CONCURRENCY",
    "batch transactions at once, each on its own connection",
    defaultCleanupOptions.concurrency,
  ),
  lockTimeout: text("lock-timeout", "CLEANUP_LOCK_TIMEOUT", "lock_timeout of each batch transaction", "2s"),
  statementTimeout: text(
    "statement-timeout",
    "CLEANUP_STATEMENT_TIMEOUT",
    "statement_timeout of each batch transaction",
    "30s",
  ),
  archiveTable: optionalText(
    "archive-table",
    "CLEANUP_ARCHIVE_TABLE",
    "copy deleted rows into this table (same schema; created if missing) in the same transaction",
  ),
  archiveFile: optionalText(
    "archive-file",
    "CLEANUP_ARCHIVE_FILE",
    "append deleted rows to this NDJSON file, synced to disk before each batch commits",
  ),
  historyTable: optionalText(
    "history-table",
    "CLEANUP_HISTORY_TABLE",
    "append one row per run to this table (same schema; created if missing)",
  ),
  retries: integer(
    "retries",
    "CLEANUP_RETRIES",
    "retries of a failed connection or batch (exponential with jitter)",
    defaultRetryPolicy.retries,
  ),
  retryBase: text("retry-base", "CLEANUP_RETRY_BASE", "first retry delay, doubled each retry", "1s"),
  json: Options.boolean("json").pipe(
    Options.withDescription("print each run's summary as one JSON line on stdout"),
  ),
}

type Parsed = Command.Command.ParseConfig<typeof options>

const fail = (message: string) => new ConfigError({ message })

const duration = (flag: string, value: string) =>
  Either.mapLeft(parseDuration(value), (reason) => fail(`--${flag}: ${reason}`))

const bounded = (flag: string, value: number, min: number, max: number) =>
  Number.isInteger(value) && value >= min && value <= max
    ? Either.right(value)
    : Either.left(fail(`--${flag} must be a whole number from ${min} to ${max} (got ${value})`))

const tableName = (flag: string, value: Option.Option<string>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(value),
    onSome: (name) =>
      name.trim() === "" || name.includes(".")
        ? Effect.fail(fail(`--${flag} "${name}" must be a bare table name (it goes in --schema)`))
        : Effect.succeed(value),
  })

/** The schedule asked for, if any: --every, --cron, or the original tool's --daemon --interval. */
const scheduleOf = (o: Parsed) =>
  Effect.gen(function* () {
    const daemonFlags = [
      Option.isSome(o.every),
      Option.isSome(o.cron),
      o.daemon || Option.isSome(o.interval),
    ].filter(Boolean).length
    if (daemonFlags > 1) return yield* fail("give one of --every, --cron or --daemon/--interval")
    if (daemonFlags === 1 && (o.once || o.runOnce))
      return yield* fail("--once runs once: drop it, or drop the schedule")
    if (Option.isSome(o.every)) {
      const interval = yield* duration("every", o.every.value)
      if (Duration.lessThan(interval, Duration.millis(100)))
        return yield* fail("--every must be at least 100ms")
      return Option.some(every(interval))
    }
    if (Option.isSome(o.cron)) return Option.some(yield* cron(o.cron.value))
    if (o.daemon || Option.isSome(o.interval)) {
      const hours = Option.getOrElse(o.interval, () => 1)
      if (!(hours > 0)) return yield* fail(`--interval must be a number of hours above 0 (got ${hours})`)
      return Option.some(every(Duration.millis(hours * 3_600_000)))
    }
    return Option.none<CleanupSchedule>()
  })

const cleanupOptionsOf = (o: Parsed) =>
  Effect.gen(function* () {
    const target = {
      schema: o.schema,
      usersTable: o.usersTable,
      pendingTable: o.pendingTable,
      usersEmailColumn: o.usersEmailColumn,
      pendingEmailColumn: o.pendingEmailColumn,
      caseSensitive: o.caseSensitive,
    }
    yield* validateNames(target)
    if (Option.isSome(o.archiveTable) && Option.isSome(o.archiveFile)) {
      return yield* fail("give --archive-table or --archive-file, not both")
    }
    const cleanup: CleanupOptions = {
      target,
      batchSize: yield* bounded("batch", o.batch, 1, 1_000_000),
      concurrency: yield* bounded("concurrency", o.concurrency, 1, 64),
      lockTimeout: yield* duration("lock-timeout", o.lockTimeout),
      statementTimeout: yield* duration("statement-timeout", o.statementTimeout),
      dryRun: o.dryRun,
      sample: yield* bounded("sample", o.sample, 0, 10_000),
      showEmails: o.showEmails,
      archiveTable: yield* tableName("archive-table", o.archiveTable),
      archiveFile: o.archiveFile,
      historyTable: yield* tableName("history-table", o.historyTable),
      retry: {
        ...defaultRetryPolicy,
        retries: yield* bounded("retries", o.retries, 0, 100),
        base: yield* duration("retry-base", o.retryBase),
      },
    }
    return cleanup
  })

const humanSummary = (s: CleanupSummary): string => {
  if (s.skipped) return `${s.target}: skipped, another dbsweep cleanup of this table is running`
  const seconds = (s.durationMs / 1000).toFixed(1)
  if (s.dryRun) {
    return [
      `${s.target}: would delete ${s.matched} pending rows (dry run, nothing deleted, ${seconds}s)`,
      ...s.sample.map((r) => `  ${r.id}  ${r.email}`),
    ].join("\n")
  }
  const lines = [
    `${s.target}: deleted ${s.deleted} pending rows in ${s.batches} batches in ${seconds}s (longest batch ${s.longestBatchMs} ms)`,
  ]
  if (s.failedBatches > 0 || s.retries > 0)
    lines.push(`  failed batches ${s.failedBatches}, retries ${s.retries}`)
  if (s.interrupted) lines.push("  stopped early: run again to finish")
  return lines.join("\n")
}

const report = (json: boolean) => (s: CleanupSummary) =>
  json ? Console.log(JSON.stringify(s)) : Effect.sync(() => process.stderr.write(`${humanSummary(s)}\n`))

/**
 * In daemon mode a signal means "stop after the current batch", a clean stop that exits 0. The
 * runtime's own handlers (interrupt, exit 130) are set aside meanwhile and come back after the
 * first signal, so a second one still forces the exit.
 */
const stopOnSignals = (stop: Deferred.Deferred<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const signals = ["SIGINT", "SIGTERM"] as const
      const saved = signals.map((signal) => [signal, process.listeners(signal)] as const)
      let restored = false
      const restore = () => {
        if (restored) return
        restored = true
        for (const [signal, listeners] of saved) {
          process.removeListener(signal, onSignal)
          for (const listener of listeners) process.on(signal, listener)
        }
      }
      const onSignal = () => {
        Deferred.unsafeDone(stop, Exit.void)
        restore()
      }
      for (const [signal] of saved) {
        process.removeAllListeners(signal)
        process.on(signal, onSignal)
      }
      return restore
    }),
    (restore) => Effect.sync(restore),
  )

export const cleanupCommand = Command.make("cleanup", options, (o) =>
  Effect.gen(function* () {
    const schedule = yield* scheduleOf(o)
    const cleanup = yield* cleanupOptionsOf(o)
    const settings = yield* pgSettingsConfig
    const pg = PgClient.layer({ ...settings, poolSize: cleanup.concurrency + 2 }, cleanup.retry)
    const layer = CleanupJob.layer(cleanup).pipe(Layer.provide(pg))

    if (Option.isSome(schedule)) {
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const job = yield* CleanupJob
          const stop = yield* Deferred.make<void>()
          yield* stopOnSignals(stop)
          yield* runSchedule(job, schedule.value, stop, report(o.json))
        }),
      ).pipe(Effect.provide(layer))
    }

    // The summary is printed inside, so an interrupted run (exit 130) still reports what it did.
    const summary = yield* gracefully((stopping) =>
      Effect.gen(function* () {
        const job = yield* CleanupJob
        const done = yield* job.run(stopping)
        yield* report(o.json)(done)
        return done
      }).pipe(Effect.provide(layer)),
    )
    if (summary.failedBatches > 0) {
      return yield* new JobFailed({
        message: `${summary.failedBatches} batches failed after retries (see the log); their rows are still there: run again`,
      })
    }
  }).pipe(withLogFormat(o.logFormat)),
).pipe(
  Command.withDescription(
    "Delete pending sign-ups whose email already belongs to a user (PostgreSQL), once or on a schedule. Try --dry-run first.",
  ),
)
