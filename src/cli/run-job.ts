import { Console, Effect, Option } from "effect"
import type { Job } from "../jobs/job.ts"
import { JobRunner } from "../jobs/runner.ts"
import { JobFailed } from "../shared/errors.ts"

/** How the CLI prints a job's summary: one JSON line on stdout, or readable lines on stderr. */
export interface Printer<S> {
  readonly json: boolean
  readonly human: (summary: S) => string
}

export const printSummary =
  <S>(printer: Printer<S>) =>
  (summary: S) =>
    printer.json
      ? Console.log(JSON.stringify(summary))
      : Effect.sync(() => process.stderr.write(`${printer.human(summary)}\n`))

/**
 * Runs a job once through the runner and prints its summary, also when a signal stops it (the
 * run winds down gracefully, the CLI then exits 130). Work that failed inside the run is exit 1.
 */
export const runOnce = <O, S, I>(job: Job<O, S, I>, options: O, printer: Printer<S>) =>
  Effect.gen(function* () {
    const runner = yield* JobRunner
    const summary = yield* runner.run(job, options, printSummary(printer))
    const problems = job.problems(summary)
    if (Option.isSome(problems)) return yield* new JobFailed({ message: problems.value })
  })
