import { Clock, Context, Effect, Exit, Layer, Option } from "effect"
import { failedWork, type Job, type RunContext } from "../jobs/job.ts"
import type { RunStatus, ScheduleStatus } from "../jobs/status.ts"
import { failureLine } from "../jobs/status.ts"
import { PgClient, type PgClientShape } from "../pg/client.ts"
import { type CleanupOptions, CleanupOptionsSchema } from "./options.ts"
import { type CleanupSummary, recordHistory, runCleanup } from "./run.ts"

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

/** What the library API shows of the cleanup: derived from the runner's statuses. */
export interface CleanupStatus {
  readonly running: boolean
  /** `every 1h`, `cron 0 * * * *`, or undefined when not scheduled. */
  readonly schedule: string | undefined
  readonly lastRun: LastRun | undefined
  readonly nextRun: string | undefined
  readonly runs: number
}

const iso = (millis: number) => new Date(millis).toISOString()

/** One run, recorded in the history table (when one is set) however it ended. */
const runAndRecord = Effect.fn("Cleanup.runAndRecord")(function* (
  client: PgClientShape,
  options: CleanupOptions,
  context: RunContext,
) {
  const started = yield* Clock.currentTimeMillis
  const exit = yield* Effect.exit(runCleanup(client, options, context.stopping))
  if (Option.isSome(options.historyTable)) {
    const ended = yield* Clock.currentTimeMillis
    const s = Exit.isSuccess(exit) ? exit.value : undefined
    yield* recordHistory(client, options.target.schema, options.historyTable.value, {
      startedAt: new Date(s?.startedAt ?? iso(started)),
      endedAt: new Date(s?.endedAt ?? iso(ended)),
      target: `${options.target.schema}.${options.target.pendingTable}`,
      dryRun: options.dryRun,
      skipped: s?.skipped ?? false,
      deleted: s?.deleted ?? 0,
      batches: s?.batches ?? 0,
      failedBatches: s?.failedBatches ?? 0,
      error: Exit.isFailure(exit) ? failureLine(exit.cause) : null,
    })
  }
  return yield* exit
})

export const cleanupProblems = (s: CleanupSummary): Option.Option<string> =>
  failedWork(
    s.failedBatches,
    () =>
      `${s.failedBatches} batches failed after retries (see the log); their rows are still there: run again`,
  )

/** The cleanup as a job of the runner. Needs `PgClient`. */
/** What a cleanup run can fail with. */
export type CleanupError = Effect.Effect.Error<ReturnType<typeof runAndRecord>>

export class CleanupJob extends Context.Tag("dbsweep/CleanupJob")<
  CleanupJob,
  Job<CleanupOptions, CleanupSummary, typeof CleanupOptionsSchema.Encoded, CleanupError>
>() {
  static readonly layer = Layer.effect(
    CleanupJob,
    PgClient.pipe(
      Effect.map((client) =>
        CleanupJob.of({
          name: "cleanup",
          options: CleanupOptionsSchema,
          target: (o) => `${o.target.schema}.${o.target.pendingTable}`,
          problems: cleanupProblems,
          run: (o, context) => runAndRecord(client, o, context),
        }),
      ),
    ),
  )
}

const lastRunOf = (run: RunStatus<CleanupSummary>): LastRun => {
  const s = run.summary
  const started = Date.parse(run.startedAt)
  const ended = run.finishedAt === undefined ? started : Date.parse(run.finishedAt)
  return {
    startedAt: s?.startedAt ?? run.startedAt,
    endedAt: s?.endedAt ?? run.finishedAt ?? run.startedAt,
    durationMs: s?.durationMs ?? ended - started,
    dryRun: s?.dryRun ?? false,
    skipped: s?.skipped ?? false,
    deleted: s?.deleted ?? 0,
    batches: s?.batches ?? 0,
    failures: s?.failedBatches ?? 0,
    error: s === undefined ? run.error : undefined,
  }
}

/**
 * The cleanup's status from the runner's cleanup runs (`runner.runsOf(job)`, newest first) and its
 * schedules.
 */
export const cleanupStatusOf = (
  runs: ReadonlyArray<RunStatus<CleanupSummary>>,
  schedules: ReadonlyArray<ScheduleStatus>,
): CleanupStatus => {
  const mine = runs.filter((r) => r.job === "cleanup")
  const finished = mine.filter((r) => r.state !== "running")
  const schedule = schedules.find((s) => s.job === "cleanup" && s.state !== "stopped")
  return {
    running: mine.some((r) => r.state === "running"),
    schedule: schedule?.schedule,
    lastRun: finished[0] === undefined ? undefined : lastRunOf(finished[0]),
    nextRun: schedule?.nextRunAt,
    runs: finished.length,
  }
}
