import { Cause, Context, Effect, Exit, Layer, Option, Ref } from "effect"
import { PgClient } from "../pg/client.ts"
import type { PgError } from "../pg/errors.ts"
import type { ConfigError, JobFailed } from "../shared/errors.ts"
import type { ArchiveFileError } from "./archive-file.ts"
import { type CleanupOptions, type CleanupSummary, recordHistory, runCleanup } from "./run.ts"

export type CleanupError = PgError | ConfigError | JobFailed | ArchiveFileError

export interface LastRun {
  readonly startedAt: string
  readonly endedAt: string
  readonly durationMs: number
  readonly dryRun: boolean
  readonly skipped: boolean
  readonly deleted: number
  readonly batches: number
  /** Batches that failed after their retries (their rows stay for the next run). */
  readonly failures: number
  /** Why the run failed as a whole, if it did. */
  readonly error: string | undefined
}

/** What the HTTP mode and the library API show. */
export interface CleanupStatus {
  readonly running: boolean
  /** `every 1h`, `cron 0 * * * *`, or undefined when not scheduled. */
  readonly schedule: string | undefined
  readonly lastRun: LastRun | undefined
  readonly nextRun: string | undefined
  readonly runs: number
}

export interface CleanupJobShape {
  readonly options: CleanupOptions
  /**
   * One run. Runs never overlap: a call made while one is in progress waits for it. `stopping`
   * ends the run early, after the batches in flight.
   */
  readonly run: (stopping?: Effect.Effect<boolean>) => Effect.Effect<CleanupSummary, CleanupError>
  readonly status: Effect.Effect<CleanupStatus>
  /** For the scheduler: what it runs on and when it runs next. */
  readonly setSchedule: (schedule: string | undefined, nextRun: Date | undefined) => Effect.Effect<void>
}

export class CleanupJob extends Context.Tag("dbsweep/CleanupJob")<CleanupJob, CleanupJobShape>() {
  static readonly layer = (options: CleanupOptions) => Layer.effect(CleanupJob, make(options))
}

const messageOf = (cause: Cause.Cause<CleanupError>): string =>
  Option.match(Cause.failureOption(cause), {
    onSome: (e) => e.message,
    onNone: () => (Cause.isInterruptedOnly(cause) ? "interrupted" : Cause.pretty(cause).split("\n")[0]!),
  })

const make = Effect.fn("CleanupJob.make")(function* (options: CleanupOptions) {
  const client = yield* PgClient
  const turn = yield* Effect.makeSemaphore(1)
  const state = yield* Ref.make<CleanupStatus>({
    running: false,
    schedule: undefined,
    lastRun: undefined,
    nextRun: undefined,
    runs: 0,
  })

  const run: CleanupJobShape["run"] = (stopping = Effect.succeed(false)) =>
    turn.withPermits(1)(
      Effect.gen(function* () {
        const started = new Date()
        yield* Ref.update(state, (s) => ({ ...s, running: true }))
        const exit = yield* Effect.exit(runCleanup(client, options, stopping))
        const ended = new Date()
        const lastRun: LastRun = Exit.match(exit, {
          onSuccess: (s) => ({
            startedAt: s.startedAt,
            endedAt: s.endedAt,
            durationMs: s.durationMs,
            dryRun: s.dryRun,
            skipped: s.skipped,
            deleted: s.deleted,
            batches: s.batches,
            failures: s.failedBatches,
            error: undefined,
          }),
          onFailure: (cause) => ({
            startedAt: started.toISOString(),
            endedAt: ended.toISOString(),
            durationMs: ended.getTime() - started.getTime(),
            dryRun: options.dryRun,
            skipped: false,
            deleted: 0,
            batches: 0,
            failures: 0,
            error: messageOf(cause),
          }),
        })
        yield* Ref.update(state, (s) => ({ ...s, lastRun, runs: s.runs + 1 }))
        if (Option.isSome(options.historyTable)) {
          yield* recordHistory(client, options.target.schema, options.historyTable.value, {
            startedAt: new Date(lastRun.startedAt),
            endedAt: new Date(lastRun.endedAt),
            target: `${options.target.schema}.${options.target.pendingTable}`,
            dryRun: lastRun.dryRun,
            skipped: lastRun.skipped,
            deleted: lastRun.deleted,
            batches: lastRun.batches,
            failedBatches: lastRun.failures,
            error: lastRun.error ?? null,
          })
        }
        return yield* exit
      }).pipe(Effect.ensuring(Ref.update(state, (s) => ({ ...s, running: false })))),
    )

  return CleanupJob.of({
    options,
    run,
    status: Ref.get(state),
    setSchedule: (schedule, nextRun) =>
      Ref.update(state, (s) => ({ ...s, schedule, nextRun: nextRun?.toISOString() })),
  })
})
