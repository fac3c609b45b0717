import { Deferred, Duration, Effect, Either, Fiber, Layer, ManagedRuntime, Option, Redacted } from "effect"
import { PgClient } from "../pg/client.ts"
import { loadPgSettings } from "../pg/config.ts"
import { parseDuration } from "../shared/duration.ts"
import { ConfigError } from "../shared/errors.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { CleanupJob, type CleanupStatus } from "./job.ts"
import type { CleanupOptions } from "./run.ts"
import { type CleanupSchedule, cron, every, runSchedule } from "./schedule.ts"
import { type CleanupTarget, defaultTarget } from "./target.ts"

export const defaultCleanupOptions: CleanupOptions = {
  target: defaultTarget,
  batchSize: 5000,
  concurrency: 2,
  lockTimeout: Duration.seconds(2),
  statementTimeout: Duration.seconds(30),
  dryRun: false,
  sample: 10,
  showEmails: false,
  archiveTable: Option.none(),
  archiveFile: Option.none(),
  historyTable: Option.none(),
  retry: defaultRetryPolicy,
}

/**
 * For Effect users: runs the job on `schedule` for as long as the layer lives. Closing the layer
 * stops the schedule after the current batch. Needs `CleanupJob` (and through it `PgClient`).
 */
export const cleanupScheduleLayer = (schedule: CleanupSchedule) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const job = yield* CleanupJob
      const stop = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkDaemon(
        runSchedule(job, schedule, stop).pipe(
          Effect.catchAll((e) => Effect.logError(`cleanup schedule stopped: ${e.message}`)),
        ),
      )
      yield* Effect.addFinalizer(() =>
        Deferred.succeed(stop, undefined).pipe(Effect.zipRight(Fiber.await(fiber))),
      )
    }),
  )

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
      const job = CleanupJob.layer(cleanup).pipe(Layer.provide(pg))
      return schedule === undefined ? job : Layer.provideMerge(cleanupScheduleLayer(schedule), job)
    }),
  )

/**
 * For applications that are not written with Effect: starts the cleanup inside this process.
 * Rejects if the settings are wrong or the database cannot be reached.
 */
export const startCleanupWorker = async (options: CleanupWorkerOptions = {}): Promise<CleanupWorker> => {
  const runtime = ManagedRuntime.make(workerLayer(options))
  const job = await runtime.runPromise(CleanupJob).catch(async (error: unknown) => {
    await runtime.dispose()
    throw error
  })
  return {
    status: () => runtime.runPromise(job.status),
    runNow: () => runtime.runPromise(job.run().pipe(Effect.map((s) => s.deleted))),
    stop: () => runtime.dispose(),
  }
}
