import { Cause, Duration, Effect, Exit, Metric, Option } from "effect"
import { count, failures, jobDuration, jobsRunning } from "../shared/metrics.ts"
import type { Job, JobError } from "./job.ts"

/**
 * The job with its runs measured: running gauge, duration by job, and a failure of the run
 * counted under its error tag. Done here rather than in the runner, so the runner stays unaware.
 */
export const measured = <O, S, I, E extends JobError>(job: Job<O, S, I, E>): Job<O, S, I, E> => ({
  ...job,
  run: (options, context) =>
    Effect.acquireUseRelease(
      Metric.increment(Metric.tagged(jobsRunning, "job", job.name)),
      () =>
        job
          .run(options, context)
          .pipe(
            Metric.trackDurationWith(Metric.tagged(jobDuration, "job", job.name), (d) =>
              Duration.toSeconds(d),
            ),
          ),
      (_, exit) =>
        Metric.incrementBy(Metric.tagged(jobsRunning, "job", job.name), -1).pipe(
          Effect.zipRight(
            Exit.isFailure(exit)
              ? Option.match(Cause.failureOption(exit.cause), {
                  onNone: () => Effect.void,
                  onSome: (e) => count(failures, 1, e._tag),
                })
              : Effect.void,
          ),
        ),
    ),
})
