import { Context, Duration, Effect, Either, Layer, ManagedRuntime, Option, Redacted } from "effect"
import { CleanupJob, type CleanupStatus, cleanupStatusOf } from "./cleanup/job.ts"
import { type CleanupOptions, defaultCleanupOptions } from "./cleanup/options.ts"
import { type CleanupSchedule, cron, every } from "./cleanup/schedule.ts"
import { type CleanupTarget, defaultTarget } from "./cleanup/target.ts"
import { stopsSchedule } from "./errors.ts"
import { JobRunner } from "./jobs/runner.ts"
import { PgClient } from "./pg/client.ts"
import { loadPgSettings } from "./pg/config.ts"
import { parseDuration } from "./shared/duration.ts"
import { ConfigError } from "./shared/errors.ts"
import { silentProgress } from "./shared/progress.ts"

export { defaultCleanupOptions }

/**
 * For Effect users: runs the cleanup on `schedule` through the runner for as long as the layer
 * lives. Closing the layer stops the schedule after the current batch. Needs `JobRunner` and
 * `CleanupJob` (and through it `PgClient`).
 */
export const cleanupScheduleLayer = (
  schedule: CleanupSchedule,
  options: CleanupOptions = defaultCleanupOptions,
) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const runner = yield* JobRunner
      const job = yield* CleanupJob
      const id = yield* runner.schedule(job, options, schedule)
      yield* Effect.addFinalizer(() => runner.unschedule(id))
    }),
  )

/** The options the worker's runs use. */
class WorkerOptions extends Context.Tag("dbsweep/CleanupWorkerOptions")<WorkerOptions, CleanupOptions>() {}

/** Options of `startCleanupWorker`, in plain values. */
export interface CleanupWorkerOptions {
  /** Defaults to DATABASE_URL (and the PG* variables). */
  readonly databaseUrl?: string
  readonly target?: Partial<CleanupTarget>
  /** "1h", "30m", … ; the first run starts at once. Neither this nor `cron`: no schedule, only `runNow()`. */
  readonly every?: string
  readonly cron?: string
  readonly batchSize?: number
  readonly concurrency?: number
  readonly lockTimeout?: string
  readonly statementTimeout?: string
  readonly archiveTable?: string
  readonly archiveFile?: string
  readonly historyTable?: string
  readonly poolSize?: number
}

export interface CleanupWorker {
  readonly status: () => Promise<CleanupStatus>
  /** Runs the cleanup now (after a run in progress, if any) and resolves to the number of rows deleted. */
  readonly runNow: () => Promise<number>
  /** Stops the schedule after the current batch and closes the connections. */
  readonly stop: () => Promise<void>
}

const durationOption = (name: string, value: string | undefined, fallback: Duration.Duration) =>
  value === undefined
    ? Either.right(fallback)
    : Either.mapLeft(parseDuration(value), (reason) => new ConfigError({ message: `${name}: ${reason}` }))

const workerLayer = (options: CleanupWorkerOptions) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const settings = yield* loadPgSettings
      const lockTimeout = yield* durationOption(
        "lockTimeout",
        options.lockTimeout,
        defaultCleanupOptions.lockTimeout,
      )
      const statementTimeout = yield* durationOption(
        "statementTimeout",
        options.statementTimeout,
        defaultCleanupOptions.statementTimeout,
      )
      const cleanup: CleanupOptions = {
        ...defaultCleanupOptions,
        target: { ...defaultTarget, ...options.target },
        batchSize: options.batchSize ?? defaultCleanupOptions.batchSize,
        concurrency: options.concurrency ?? defaultCleanupOptions.concurrency,
        lockTimeout,
        statementTimeout,
        archiveTable: Option.fromNullable(options.archiveTable),
        archiveFile: Option.fromNullable(options.archiveFile),
        historyTable: Option.fromNullable(options.historyTable),
      }
      const schedule =
        options.cron !== undefined
          ? yield* cron(options.cron)
          : options.every !== undefined
            ? every(yield* durationOption("every", options.every, Duration.hours(1)))
            : undefined
      const pg = PgClient.layer(
        {
          ...settings,
          url:
            options.databaseUrl === undefined
              ? settings.url
              : Option.some(Redacted.make(options.databaseUrl)),
          poolSize: options.poolSize ?? cleanup.concurrency + 2,
        },
        cleanup.retry,
      )
      const jobs = JobRunner.layer({ stopsSchedule }).pipe(
        Layer.provideMerge(CleanupJob.layer),
        Layer.provide(Layer.merge(pg, silentProgress)),
      )
      const scheduled = schedule === undefined ? Layer.empty : cleanupScheduleLayer(schedule, cleanup)
      return Layer.provideMerge(scheduled, jobs).pipe(Layer.merge(Layer.succeed(WorkerOptions, cleanup)))
    }),
  )

/**
 * For applications that are not written with Effect: starts the cleanup inside this process.
 * Rejects if the settings are wrong or the database cannot be reached.
 */
export const startCleanupWorker = async (options: CleanupWorkerOptions = {}): Promise<CleanupWorker> => {
  const runtime = ManagedRuntime.make(workerLayer(options))
  const { runner, job, cleanup } = await runtime
    .runPromise(Effect.all({ runner: JobRunner, job: CleanupJob, cleanup: WorkerOptions }))
    .catch(async (error: unknown) => {
      await runtime.dispose()
      throw error
    })
  return {
    status: () =>
      runtime.runPromise(
        Effect.all([runner.runsOf(job), runner.schedules]).pipe(
          Effect.map(([runs, schedules]) => cleanupStatusOf(runs, schedules)),
        ),
      ),
    runNow: () => runtime.runPromise(runner.run(job, cleanup).pipe(Effect.map((s) => s.deleted))),
    stop: () => runtime.dispose(),
  }
}
