import { Effect, Option, Schedule, type Schema } from "effect"
import type { ProgressShape } from "../shared/progress.ts"

/**
 * What the runner needs of the error a run ends in: its tag (for metrics, and for the app's
 * judgement of whether it stops a schedule) and its message (the run's one-line error). The
 * runner does not know what an error means: the app's error table does, above the jobs.
 */
export interface JobError {
  readonly _tag: string
  readonly message: string
}

/** What the runner hands each run. */
export interface RunContext {
  /** True once the run is asked to stop: take no new work, let work in flight finish, save state. */
  readonly stopping: Effect.Effect<boolean>
  /** Where the run reports how far it is (the runner keeps it in the run's status). */
  readonly progress: ProgressShape
}

/**
 * `work`, unless the run is asked to stop first: then the run ends at once, interrupted (`work` is
 * cut off). Only for what a run does before it does any work (its look-ups), where a stop has
 * nothing to let finish or save: a server that accepts connections and never answers would
 * otherwise hold a Ctrl-C for every look-up's timeouts and retries, minutes with the defaults.
 * The flag is looked at every 100 ms while `work` runs.
 */
export const untilStopped =
  (stopping: Effect.Effect<boolean>) =>
  <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.raceFirst(
      work,
      stopping.pipe(
        Effect.repeat({ until: (stop) => stop, schedule: Schedule.spaced("100 millis") }),
        Effect.zipRight(Effect.interrupt),
      ),
    )

/**
 * A job: a name, the Schema of its options (the CLI, the library API and HTTP bodies decode with
 * the same one), and a run that reports progress through the context and ends with a summary.
 * Its services were resolved when its layer was built, so `run` needs nothing else. `Error` is
 * what a run can fail with: it flows through the runner to whoever waits for the run.
 */
export interface Job<Options, Summary, Encoded = unknown, Error extends JobError = JobError> {
  readonly name: string
  readonly options: Schema.Schema<Options, Encoded>
  /** What a run works on (a database, a table): one run per job and target at a time. */
  readonly target: (options: Options) => string
  readonly run: (options: Options, context: RunContext) => Effect.Effect<Summary, Error>
  /** Work that failed inside a run that finished (failed batches, a checkpoint not saved), if any. */
  readonly problems: (summary: Summary) => Option.Option<string>
}

/** A job's `problems` when `failed` pieces of its work failed: `line` names them and what to do. */
export const failedWork = (failed: number, line: () => string): Option.Option<string> =>
  failed > 0 ? Option.some(line()) : Option.none()
