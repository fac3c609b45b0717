import { Context, Effect, Exit, Layer, type Option, type Stream } from "effect"
import type { ConfigError } from "../shared/errors.ts"
import { Progress } from "../shared/progress.ts"
import type { Job, JobError } from "./job.ts"
import { makeRuns, type RunHandle } from "./runs.ts"
import type { JobSchedule } from "./schedule.ts"
import type { StopsSchedule } from "./schedule-loop.ts"
import { makeSchedules } from "./schedules.ts"
import type { RunStatus, ScheduleStatus } from "./status.ts"

export type { RunHandle } from "./runs.ts"
export type { StopsSchedule } from "./schedule-loop.ts"

/**
 * The runner, in two rooms behind one interface: the run registry (runs.ts: start or join, status,
 * history, stop) and the schedules (schedules.ts: every / cron loops that start runs through it).
 */
export interface JobRunnerShape {
  /**
   * Starts a run of `job` (options decoded with its Schema), or hands back the run of the same job
   * and target already in progress.
   */
  readonly start: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
    options: O,
    trigger?: RunStatus["trigger"],
  ) => Effect.Effect<RunHandle, ConfigError>
  /** Starts (or joins) a run and waits for its end. Interrupting the wait stops the run gracefully. */
  readonly run: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
    options: O,
    report?: (summary: S) => Effect.Effect<void>,
  ) => Effect.Effect<S, E | ConfigError>
  /** How a run ended (waits for it); none for an unknown id. */
  readonly await: (id: string) => Effect.Effect<Option.Option<Exit.Exit<unknown, JobError>>>
  /** Asks a run to stop (no new work; work in flight finishes, state is saved) and waits for it. */
  readonly stop: (id: string) => Effect.Effect<boolean>
  readonly get: (id: string) => Effect.Effect<Option.Option<RunStatus>>
  /** Running runs first, then finished ones, newest first (a bounded history). */
  readonly list: Effect.Effect<ReadonlyArray<RunStatus>>
  /** The runs of one job, in the order of `list`, with that job's summary type. */
  readonly runsOf: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
  ) => Effect.Effect<ReadonlyArray<RunStatus<S>>>
  /** The run's status as it changes (the current one first); none for an unknown id. */
  readonly watch: (id: string) => Effect.Effect<Option.Option<Stream.Stream<RunStatus>>>
  /**
   * Runs `job` on `schedule` until the runner closes or `unschedule`: runs never overlap, and an
   * error no later run can fix (a refused login, a missing table) stops the schedule.
   */
  readonly schedule: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
    options: O,
    schedule: JobSchedule,
    onRun?: (exit: Exit.Exit<S, E>) => Effect.Effect<void>,
  ) => Effect.Effect<string, ConfigError>
  readonly unschedule: (id: string) => Effect.Effect<boolean>
  readonly schedules: Effect.Effect<ReadonlyArray<ScheduleStatus>>
  /** Waits until the schedule has stopped: its status, or the error that stopped it. */
  readonly awaitSchedule: (id: string) => Effect.Effect<Option.Option<ScheduleStatus>, JobError>
}

export interface RunnerOptions {
  /** How many finished runs the history keeps (100). */
  readonly history?: number
  /** Which errors stop a schedule: the app's error table decides (`stopsSchedule` in errors.ts). */
  readonly stopsSchedule: StopsSchedule
}

export class JobRunner extends Context.Tag("dbsweep/JobRunner")<JobRunner, JobRunnerShape>() {
  /** The runner; `Progress` is where runs also show their progress (a bar, log lines, or nothing). */
  static readonly layer = (options: RunnerOptions) =>
    Layer.scoped(JobRunner, makeRunner(options.history ?? 100, options.stopsSchedule))
}

const makeRunner = Effect.fn("JobRunner.make")(function* (historySize: number, stopsSchedule: StopsSchedule) {
  const runs = yield* makeRuns(yield* Progress, historySize)
  const schedules = yield* makeSchedules(runs, stopsSchedule)
  // Closing the runner (the CLI ending, a signal, the server stopping): schedules first, so none
  // starts a new run, then every run still going is asked to stop and awaited.
  yield* Effect.addFinalizer(() => schedules.stopAll.pipe(Effect.zipRight(runs.stopAll)))
  return JobRunner.of({
    start: (job, options, trigger = "manual") => runs.start(job, options, trigger),
    run: (job, options, report = () => Effect.void) =>
      runs.start(job, options, "manual").pipe(
        Effect.flatMap((handle) =>
          runs.awaitRun(job, handle.id, (exit) => (Exit.isSuccess(exit) ? report(exit.value) : Effect.void)),
        ),
        Effect.flatten,
      ),
    await: runs.await,
    stop: runs.stop,
    get: runs.get,
    list: runs.list,
    runsOf: runs.runsOf,
    watch: runs.watch,
    schedule: schedules.schedule,
    unschedule: schedules.unschedule,
    schedules: schedules.schedules,
    awaitSchedule: schedules.awaitSchedule,
  })
})
