import type { Effect, Option, Schema } from "effect"
import type { AppError } from "../shared/classify.ts"
import type { ProgressShape } from "../shared/progress.ts"

/** What the runner hands each run. */
export interface RunContext {
  /** True once the run is asked to stop: take no new work, let work in flight finish, save state. */
  readonly stopping: Effect.Effect<boolean>
  /** Where the run reports how far it is (the runner keeps it in the run's status). */
  readonly progress: ProgressShape
}

/**
 * A job: a name, the Schema of its options (the CLI, the library API and HTTP bodies decode with
 * the same one), and a run that reports progress through the context and ends with a summary.
 * Its services were resolved when its layer was built, so `run` needs nothing else.
 */
export interface Job<Options, Summary, Encoded = unknown> {
  readonly name: string
  readonly options: Schema.Schema<Options, Encoded>
  /** What a run works on (a database, a table): one run per job and target at a time. */
  readonly target: (options: Options) => string
  readonly run: (options: Options, context: RunContext) => Effect.Effect<Summary, AppError>
  /** Work that failed inside a run that finished (failed batches, a checkpoint not saved), if any. */
  readonly problems: (summary: Summary) => Option.Option<string>
}
