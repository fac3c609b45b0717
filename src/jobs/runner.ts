import { Context, Effect, Exit, Layer } from "effect"
import type { ConfigError } from "../shared/errors.ts"
import { Progress } from "../shared/progress.ts"
import type { Job, JobError } from "./job.ts"
import { makeRuns, type RunHandle, type Runs } from "./runs.ts"
import type { StopsSchedule } from "./schedule-loop.ts"
import { makeSchedules, type Schedules } from "./schedules.ts"
import type { RunStatus } from "./status.ts"

export type { RunHandle } from "./runs.ts"
export type { StopsSchedule } from "./schedule-loop.ts"

/**
 * The runner, in two rooms behind one interface: the run registry (runs.ts: start or join, status,
 * history, stop) and the schedules (schedules.ts: every / cron loops that start runs through it).
 */
export interface JobRunnerShape
  extends Pick<Runs, "await" | "stop" | "get" | "list" | "runsOf" | "watch">,
    Pick<Schedules, "schedule" | "unschedule" | "schedules" | "awaitSchedule"> {
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
}

export interface RunnerOptions {
  /** How many finished runs the history keeps (100). */
  readonly history?: number
  /** Which errors stop a schedule: the app's error table decides (`stopsSchedule` in errors.ts). */
  readonly stopsSchedule: StopsSchedule
}

export class JobRunner extends Context.Tag("dbsweep/JobRunner")<JobRunner, JobRunnerShape>() {
  /** The runner; `Progress` is where runs also show their progress (a bar, log lines, or nothing). */
  static readonly layer = (options: RunnerOptions) => Layer.scoped(JobRunner, JobRunner.make(options))
  /** The runner as an effect (scoped: closing its scope stops it), for an app that wires by hand. */
  static readonly make = (options: RunnerOptions) => makeRunner(options.history ?? 100, options.stopsSchedule)
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
