import { Cause, Clock, Duration, Effect, Exit, Option, Ref } from "effect"
import type { ConfigError } from "../shared/errors.ts"
import type { Job, JobError } from "./job.ts"
import type { Runs } from "./runs.ts"
import { describeSchedule, type JobSchedule, nextRunAfter } from "./schedule.ts"
import type { ScheduleStatus } from "./status.ts"

/** What the schedule loop needs of the run registry: start a run, and wait for it (reporting its end). */
export type RunOps = Pick<Runs, "start" | "awaitRun">

/**
 * Whether an error means no later run can succeed until someone changes the configuration (a
 * refused login, a missing table): the app's error table judges, the runner only asks.
 */
export type StopsSchedule = (error: JobError) => boolean

const iso = (millis: number) => new Date(millis).toISOString()

/**
 * Sleeps until the clock reads `at`, in steps of at most a day: a timer never fires beyond
 * 2^31-1 ms (about 24.8 days), so one long sleep for a far cron date would never end.
 */
const sleepUntil = (at: number): Effect.Effect<void> =>
  Clock.currentTimeMillis.pipe(
    Effect.flatMap((now) =>
      now >= at
        ? Effect.void
        : Effect.sleep(Duration.millis(Math.min(at - now, 86_400_000))).pipe(Effect.zipRight(sleepUntil(at))),
    ),
  )

const setSchedule = (status: Ref.Ref<ScheduleStatus>, patch: Partial<ScheduleStatus>) =>
  Ref.update(status, (s) => ({ ...s, ...patch }))

/**
 * One run after another at the schedule's times. An error no later run can fix stops the loop:
 * recorded in the status, and the loop fails with it (so a daemon ends with that error's exit code).
 */
export const scheduleLoop = <O, S, I, E extends JobError>(
  ops: RunOps,
  stopsSchedule: StopsSchedule,
  job: Job<O, S, I, E>,
  options: O,
  spec: JobSchedule,
  status: Ref.Ref<ScheduleStatus>,
  onRun: (exit: Exit.Exit<S, E>) => Effect.Effect<void>,
): Effect.Effect<never, E | ConfigError> =>
  Effect.gen(function* () {
    const label = `${job.name} ${describeSchedule(spec)}`
    yield* Effect.logInfo(`${label}: scheduled`)
    // `every` runs at once, then an interval after each run ends; `cron` waits for its first time.
    for (let first = spec._tag === "Every"; ; first = false) {
      if (!first) {
        const due = nextRunAfter(spec, yield* Clock.currentTimeMillis).getTime()
        yield* setSchedule(status, { state: "waiting", nextRunAt: iso(due) })
        yield* sleepUntil(due)
      }
      yield* setSchedule(status, { state: "running", nextRunAt: undefined })
      const handle = yield* ops.start(job, options, "schedule")
      yield* Ref.update(status, (s) => ({ ...s, runs: s.runs + 1, lastRunId: handle.id }))
      // Stopping the schedule mid-run stops the run gracefully (after its work in flight).
      const exit = yield* ops.awaitRun(job, handle.id, onRun)
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      if (Option.isSome(failure)) {
        const message = failure.value.message.split("\n")[0]!
        if (stopsSchedule(failure.value)) {
          yield* setSchedule(status, { error: message })
          yield* Effect.logError(
            `${label}: stopped, no later run can succeed until this is fixed: ${message}`,
          )
          return yield* Effect.fail(failure.value)
        }
        yield* Effect.logError(`${label}: run ${handle.id} failed: ${message}`)
      }
    }
  }).pipe(
    Effect.tapError((e) => setSchedule(status, { error: e.message.split("\n")[0]! })),
    Effect.ensuring(setSchedule(status, { state: "stopped", nextRunAt: undefined })),
    // Its failure is read through awaitSchedule, not logged as an "unhandled error".
    Effect.withUnhandledErrorLogLevel(Option.none()),
  )
