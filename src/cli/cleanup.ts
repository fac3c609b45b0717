import { Command, Options } from "@effect/cli"
import { Config, Duration, Effect, Exit, Option } from "effect"
import { cleanupApp } from "../app-cleanup.ts"
import { CleanupJob } from "../cleanup/job.ts"
import { type CleanupOptions, defaultCleanupOptions } from "../cleanup/options.ts"
import type { CleanupSummary } from "../cleanup/run.ts"
import { type CleanupSchedule, cron, every } from "../cleanup/schedule.ts"
import { isBareName, settings } from "../cleanup/settings.ts"
import { defaultTarget, validateNames, validateSideTables } from "../cleanup/target.ts"
import { JobRunner } from "../jobs/runner.ts"
import { loadPgSettings } from "../pg/config.ts"
import { ConfigError } from "../shared/errors.ts"
import { silentProgress } from "../shared/progress.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { commonOptions, withLogFormat } from "./common.ts"
import { CleanStop } from "./exit.ts"
import { durationOption, integerOption, optionalDurationOption, optionalText, textOption } from "./options.ts"
import { printSummary, runOnce } from "./run-job.ts"

const text = (flag: string, env: string, description: string, fallback: string) =>
  textOption(flag, { env, fallback, description })

const optional = (flag: string, env: string, description: string) => optionalText(flag, { env, description })

const whole = (flag: string, env: string, description: string, fallback: number, min: number, max: number) =>
  integerOption(flag, { env, min, max, fallback, description })

/**
 * The longest interval offered: effect's clock (like setTimeout) cannot wait beyond 2^31-1 ms in
 * one timer, and a daemon that runs less than monthly is better served by cron.
 */
const longestWait = Duration.days(24)

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
  // The variable is read in the handler (see `caseSensitiveOf`), so a bad value names it.
  caseSensitive: Options.boolean("case-sensitive").pipe(
    Options.withDescription(
      "match emails exactly; by default Jane@X.com matches jane@x.com (env CLEANUP_CASE_SENSITIVE)",
    ),
  ),
  once: Options.boolean("once").pipe(Options.withDescription("run once and exit (the default)")),
  runOnce: Options.boolean("run-once").pipe(
    Options.withDescription("same as --once (the original tool's flag)"),
  ),
  every: optionalDurationOption("every", {
    env: "CLEANUP_EVERY",
    min: Duration.millis(100),
    max: longestWait,
    description: "run as a daemon, first at once and then every DURATION (30m, 1h, 1d)",
  }),
  cron: optional("cron", "CLEANUP_CRON", 'run as a daemon on a cron schedule, e.g. "0 * * * *"'),
  daemon: Options.boolean("daemon").pipe(
    Options.withDescription(
      "run as a daemon every --interval hours (the original tool's flags; default 1 hour)",
    ),
  ),
  interval: Options.text("interval").pipe(
    Options.withDescription("hours between runs with --daemon (the original tool's flag)"),
    Options.optional,
  ),
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("count what would be deleted and show a sample; delete nothing"),
  ),
  sample: whole(
    "sample",
    "CLEANUP_SAMPLE",
    "rows shown by --dry-run",
    defaultCleanupOptions.sample,
    0,
    10_000,
  ),
  showEmails: Options.boolean("show-emails").pipe(
    Options.withDescription("show whole emails in the --dry-run sample instead of j***@example.com"),
  ),
  batch: whole(
    "batch",
    "CLEANUP_BATCH",
    "most rows per batch transaction",
    defaultCleanupOptions.batchSize,
    1,
    1_000_000,
  ),
  concurrency: whole(
    "concurrency",
    "CLEANUP_CONCURRENCY",
    "batch transactions at once, each on its own connection",
    defaultCleanupOptions.concurrency,
    1,
    64,
  ),
  // lock_timeout 0 means "wait forever" to PostgreSQL; below 1ms it would round to that.
  lockTimeout: durationOption("lock-timeout", {
    env: "CLEANUP_LOCK_TIMEOUT",
    fallback: "2s",
    min: Duration.millis(1),
    max: Duration.minutes(10),
    description: "lock_timeout of each batch transaction",
  }),
  // Below 100ms no batch can finish; above an hour a stuck batch holds its locks too long.
  statementTimeout: durationOption("statement-timeout", {
    env: "CLEANUP_STATEMENT_TIMEOUT",
    fallback: "30s",
    min: Duration.millis(100),
    max: Duration.hours(1),
    description: "statement_timeout of each batch transaction",
  }),
  archiveTable: optional(
    "archive-table",
    "CLEANUP_ARCHIVE_TABLE",
    "copy deleted rows into this table (same schema; created if missing) in the same transaction",
  ),
  archiveFile: optional(
    "archive-file",
    "CLEANUP_ARCHIVE_FILE",
    "append deleted rows to this NDJSON file, synced to disk before each batch commits",
  ),
  historyTable: optional(
    "history-table",
    "CLEANUP_HISTORY_TABLE",
    "append one row per run to this table (same schema; created if missing)",
  ),
  retries: whole(
    "retries",
    "CLEANUP_RETRIES",
    "retries of a failed connection or batch (exponential with jitter)",
    defaultRetryPolicy.retries,
    0,
    100,
  ),
  retryBase: durationOption("retry-base", {
    env: "CLEANUP_RETRY_BASE",
    fallback: "1s",
    min: Duration.zero,
    max: Duration.minutes(10),
    description: "first retry delay, doubled each retry",
  }),
  json: Options.boolean("json").pipe(
    Options.withDescription("print each run's summary as one JSON line on stdout"),
  ),
}

type Parsed = Command.Command.ParseConfig<typeof options>

const fail = (message: string) => new ConfigError({ message })

/** `setting` names the flag and its variable, as in cleanup/settings.ts. */
const tableName = (setting: string, value: Option.Option<string>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(value),
    onSome: (name) =>
      !isBareName(name)
        ? Effect.fail(fail(`${setting} "${name}" must be a bare table name (it goes in --schema)`))
        : Effect.succeed(value),
  })

const truthy = ["true", "1", "yes", "on"]
const falsy = ["false", "0", "no", "off", ""]

/** --case-sensitive, or CLEANUP_CASE_SENSITIVE when the flag is not given. */
const caseSensitiveOf = (flag: boolean) =>
  Effect.gen(function* () {
    if (flag) return true
    const raw = yield* Config.option(Config.string("CLEANUP_CASE_SENSITIVE")).pipe(
      Effect.orElseSucceed(() => Option.none<string>()),
    )
    if (Option.isNone(raw)) return false
    const value = raw.value.trim().toLowerCase()
    if (truthy.includes(value)) return true
    if (falsy.includes(value)) return false
    return yield* fail(`CLEANUP_CASE_SENSITIVE is "${raw.value}": use true or false`)
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
      return Option.some(every(o.every.value))
    }
    if (Option.isSome(o.cron)) return Option.some(yield* cron(o.cron.value))
    if (o.daemon || Option.isSome(o.interval)) {
      const raw = Option.getOrElse(o.interval, () => "1")
      const hours = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN
      const maxHours = Duration.toHours(longestWait)
      if (!(hours > 0 && hours <= maxHours)) {
        return yield* fail(`--interval is "${raw}": give a number of hours above 0 and at most ${maxHours}`)
      }
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
      caseSensitive: yield* caseSensitiveOf(o.caseSensitive),
    }
    yield* validateNames(target)
    if (Option.isSome(o.archiveTable) && Option.isSome(o.archiveFile)) {
      return yield* fail("give --archive-table or --archive-file, not both")
    }
    const archiveTable = yield* tableName(settings.archiveTable, o.archiveTable)
    const historyTable = yield* tableName(settings.historyTable, o.historyTable)
    yield* validateSideTables(target, { archiveTable, historyTable })
    const cleanup: CleanupOptions = {
      target,
      batchSize: o.batch,
      concurrency: o.concurrency,
      lockTimeout: o.lockTimeout,
      statementTimeout: o.statementTimeout,
      dryRun: o.dryRun,
      sample: o.sample,
      showEmails: o.showEmails,
      archiveTable,
      archiveFile: o.archiveFile,
      historyTable,
      retry: {
        ...defaultRetryPolicy,
        retries: o.retries,
        base: o.retryBase,
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

export const cleanupCommand = Command.make("cleanup", options, (o) =>
  Effect.gen(function* () {
    const schedule = yield* scheduleOf(o)
    const cleanup = yield* cleanupOptionsOf(o)
    const pg = yield* loadPgSettings
    const printer = { json: o.json, human: humanSummary }
    // Connecting happens while the layer is built, before any run: a signal then stops at once,
    // as there is nothing in flight to finish.
    const jobs = cleanupApp(
      { settings: { ...pg, poolSize: cleanup.concurrency + 2 }, retry: cleanup.retry },
      silentProgress,
    )
    const work = Effect.gen(function* () {
      const job = yield* CleanupJob
      if (Option.isNone(schedule)) return yield* runOnce(job, cleanup, printer)
      // A daemon stopped by a signal ends cleanly (exit 0) once its current batch is done.
      yield* (yield* CleanStop).declare
      const runner = yield* JobRunner
      const id = yield* runner.schedule(job, cleanup, schedule.value, (exit) =>
        Exit.isSuccess(exit) ? printSummary(printer)(exit.value) : Effect.void,
      )
      // An error no later run can fix (a refused login, a missing table) ends the daemon with it.
      yield* runner.awaitSchedule(id)
    })
    return yield* work.pipe(Effect.provide(jobs))
  }).pipe(withLogFormat(o.logFormat)),
).pipe(
  Command.withDescription(
    "Delete pending sign-ups whose email already belongs to a user (PostgreSQL), once or on a schedule. Try --dry-run first.",
  ),
)
