import { Cause, Exit, Option } from "effect"
import type { JobError } from "./job.ts"

/** What the runner shows of a run: the same shape for the CLI, the library API and the HTTP mode. */
export type RunState = "running" | "succeeded" | "failed" | "interrupted"

export interface RunProgress {
  readonly label: string
  readonly done: number
  readonly total: number
  /** Items per second since the run started. */
  readonly ratePerSecond: number
  /** The parts in progress now (the databases a purge of many is working on), each its own count. */
  readonly parts?: ReadonlyArray<PartProgress>
  /** Items held back so far, by reason (a purge's safety caps: grace, replication, replication-error). */
  readonly held?: Readonly<Record<string, number>>
}

export interface PartProgress {
  readonly name: string
  readonly done: number
  readonly total: number
}

/** A run's status; `Summary` is its job's summary type (`unknown` where runs of any job are listed). */
export interface RunStatus<Summary = unknown> {
  readonly id: string
  readonly job: string
  readonly target: string
  readonly trigger: "manual" | "schedule"
  readonly state: RunState
  readonly progress: RunProgress
  readonly startedAt: string
  readonly finishedAt: string | undefined
  /** The job's summary, once it has one (also for a run that finished with failures). */
  readonly summary: Summary | undefined
  /** Why the run failed, in one line. */
  readonly error: string | undefined
}

export interface ScheduleStatus {
  readonly id: string
  readonly job: string
  readonly target: string
  /** `every 1h`, `cron 0 * * * *`. */
  readonly schedule: string
  /** waiting for its time, running a run, or stopped (by an error no later run can fix, or on request). */
  readonly state: "waiting" | "running" | "stopped"
  readonly nextRunAt: string | undefined
  readonly runs: number
  readonly lastRunId: string | undefined
  /** Why the schedule stopped, if an error stopped it. */
  readonly error: string | undefined
}

export const noProgress: RunProgress = { label: "", done: 0, total: 0, ratePerSecond: 0 }

/** One line for a run that failed: the error's own message, never a stack. */
export const failureLine = (cause: Cause.Cause<JobError>): string =>
  Option.match(Cause.failureOption(cause), {
    onSome: (e) => e.message.split("\n")[0]!,
    onNone: () =>
      Cause.isInterruptedOnly(cause)
        ? "interrupted"
        : `internal error: ${String(Cause.squash(cause)).split("\n")[0]} (please report it)`,
  })

/** How a run ended: a run stopped on request that returned its summary was interrupted. */
export const stateOf = (
  exit: Exit.Exit<unknown, JobError>,
  problems: Option.Option<string>,
  stopped: boolean,
): RunState =>
  Exit.isFailure(exit)
    ? Cause.isInterruptedOnly(exit.cause)
      ? "interrupted"
      : "failed"
    : Option.isSome(problems)
      ? "failed"
      : stopped
        ? "interrupted"
        : "succeeded"
