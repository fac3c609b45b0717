import { Cause, Effect, type Exit, Fiber, Option, Ref } from "effect"
import type { ConfigError } from "../shared/errors.ts"
import type { Job, JobError } from "./job.ts"
import { validateOptions } from "./options.ts"
import type { Runs } from "./runs.ts"
import { describeSchedule, type JobSchedule } from "./schedule.ts"
import { type StopsSchedule, scheduleLoop } from "./schedule-loop.ts"
import type { ScheduleStatus } from "./status.ts"

/**
 * The schedules: each an `every` or `cron` loop on its own fiber that starts runs through the run
 * registry (never overlapping), with its status.
 */

interface ScheduleEntry {
  readonly status: Ref.Ref<ScheduleStatus>
  readonly fiber: Fiber.Fiber<void, JobError>
}

/** The schedules' operations (the runner's schedule half). */
export interface Schedules {
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
  /** Stops every schedule, so none starts a new run (the runner closing). */
  readonly stopAll: Effect.Effect<void>
}

/**
 * The schedule half of the runner: starts runs through `runs`; an error `stopsSchedule` judges
 * final stops its schedule.
 */
export const makeSchedules = (runs: Runs, stopsSchedule: StopsSchedule): Effect.Effect<Schedules> =>
  Effect.gen(function* () {
    const entries = yield* Ref.make(new Map<string, ScheduleEntry>())
    const entryOf = (id: string) => Ref.get(entries).pipe(Effect.map((m) => Option.fromNullable(m.get(id))))

    const schedule: Schedules["schedule"] = (job, input, spec, onRun = () => Effect.void) =>
      Effect.gen(function* () {
        const options = yield* validateOptions(job, input)
        const id = yield* runs.nextId(`schedule-${job.name}`)
        const status = yield* Ref.make<ScheduleStatus>({
          id,
          job: job.name,
          target: job.target(options),
          schedule: describeSchedule(spec),
          state: "waiting",
          nextRunAt: undefined,
          runs: 0,
          lastRunId: undefined,
          error: undefined,
        })
        const fiber = yield* Effect.forkDaemon(
          scheduleLoop(runs, stopsSchedule, job, options, spec, status, onRun),
        )
        yield* Ref.update(entries, (m) => new Map(m).set(id, { status, fiber }))
        return id
      })

    const awaitSchedule: Schedules["awaitSchedule"] = (id) =>
      entryOf(id).pipe(
        Effect.flatMap(
          Effect.transposeMapOption((e) =>
            Fiber.await(e.fiber).pipe(
              // Interrupted (unscheduled, the runner closing) is a normal end; a failure is the error.
              Effect.flatMap((exit) =>
                exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)
                  ? Effect.failCause(exit.cause)
                  : Effect.void,
              ),
              Effect.zipRight(Ref.get(e.status)),
            ),
          ),
        ),
      )

    return {
      schedule,
      unschedule: (id) =>
        entryOf(id).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.succeed(false),
              onSome: (e) => Fiber.interrupt(e.fiber).pipe(Effect.as(true)),
            }),
          ),
        ),
      schedules: Ref.get(entries).pipe(
        Effect.flatMap((m) => Effect.forEach([...m.values()], (e) => Ref.get(e.status))),
      ),
      awaitSchedule,
      stopAll: Ref.get(entries).pipe(
        Effect.flatMap((m) =>
          Effect.forEach([...m.values()], (e) => Fiber.interrupt(e.fiber), { discard: true }),
        ),
      ),
    }
  })
