import { Clock, Cron, Deferred, Duration, Effect, Either, Schedule } from "effect"
import { ConfigError } from "../shared/errors.ts"
import type { CleanupError, CleanupJobShape } from "./job.ts"
import type { CleanupSummary } from "./run.ts"

/** When the daemon runs: every interval (first run at once) or on a cron expression. */
export type CleanupSchedule =
  | { readonly _tag: "Every"; readonly interval: Duration.Duration }
  | { readonly _tag: "Cron"; readonly expression: string; readonly cron: Cron.Cron }

export const every = (interval: Duration.Duration): CleanupSchedule => ({ _tag: "Every", interval })

const cronSetting = "--cron / CLEANUP_CRON"

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week) that fires at least
 * once. effect's parser also takes a leading seconds field, which the README does not offer; and a
 * date that never comes (February 30) parses, then fails when the next run is computed.
 */
export const cron = (expression: string): Either.Either<CleanupSchedule, ConfigError> =>
  Either.gen(function* () {
    const fields = expression
      .trim()
      .split(/\s+/)
      .filter((f) => f !== "")
    if (fields.length !== 5) {
      return yield* Either.left(
        new ConfigError({
          message: `${cronSetting} "${expression}" has ${fields.length} fields: give five fields (minute hour day-of-month month day-of-week), e.g. "0 * * * *"`,
        }),
      )
    }
    const parsed = yield* Either.mapLeft(
      Cron.parse(expression),
      (e) =>
        new ConfigError({
          message: `${cronSetting} "${expression}" is not a cron expression (${e.message}): use five fields, e.g. "0 * * * *"`,
        }),
    )
    yield* Either.try({
      try: () => Cron.next(parsed, new Date()),
      catch: () =>
        new ConfigError({
          message: `${cronSetting} "${expression}" never fires (no date matches it, like February 30): give a day that exists in the month`,
        }),
    })
    return { _tag: "Cron", expression, cron: parsed } satisfies CleanupSchedule
  })

export const describe = (s: CleanupSchedule) =>
  s._tag === "Every" ? `every ${Duration.format(s.interval)}` : `cron ${s.expression}`

const nextRunAfter = (s: CleanupSchedule, now: number) =>
  s._tag === "Every" ? new Date(now + Duration.toMillis(s.interval)) : Cron.next(s.cron, new Date(now))

const toSchedule = (s: CleanupSchedule): Schedule.Schedule<unknown> =>
  s._tag === "Every" ? Schedule.spaced(s.interval) : Schedule.cron(s.cron)

/** Failures no later run can fix: stop the daemon instead of logging them every hour. */
const isFatal = (e: CleanupError) =>
  e._tag === "BadConfig" ||
  e._tag === "PgAuthError" ||
  e._tag === "PgMissingObject" ||
  e._tag === "PgPermissionError"

/**
 * Runs the job on `schedule` until `stop` is completed: runs never overlap, each logs one summary
 * line, and a stop request ends the run in progress after its current batch, then the loop.
 * A failed run is logged (and kept in the status) and the next one runs on time.
 */
export const runSchedule = Effect.fn("Cleanup.schedule")(function* (
  job: CleanupJobShape,
  schedule: CleanupSchedule,
  stop: Deferred.Deferred<void>,
  onRun: (summary: CleanupSummary) => Effect.Effect<void> = () => Effect.void,
) {
  const stopping = Deferred.isDone(stop)
  const driver = yield* Schedule.driver(toSchedule(schedule))
  const label = describe(schedule)
  let first = schedule._tag === "Every"
  yield* Effect.logInfo(`cleanup scheduled ${label}`)
  for (;;) {
    if (!first) {
      yield* job.setSchedule(label, nextRunAfter(schedule, yield* Clock.currentTimeMillis))
      const woke = yield* Effect.raceFirst(
        driver.next(undefined).pipe(
          Effect.as("due" as const),
          Effect.orElseSucceed(() => "done" as const),
        ),
        Deferred.await(stop).pipe(Effect.as("stop" as const)),
      )
      if (woke !== "due") break
    }
    first = false
    if (yield* stopping) break
    yield* job.setSchedule(label, undefined)
    const result = yield* Effect.either(job.run(stopping))
    const next = nextRunAfter(schedule, yield* Clock.currentTimeMillis)
    yield* job.setSchedule(label, next)
    if (Either.isLeft(result)) {
      if (isFatal(result.left)) return yield* result.left
      yield* Effect.logError(`cleanup run failed: ${result.left.message}`).pipe(
        Effect.annotateLogs({ next_run: next.toISOString() }),
      )
      continue
    }
    const s = result.right
    yield* onRun(s)
    yield* Effect.logInfo(
      s.skipped ? "cleanup run skipped: another instance holds the lock" : "cleanup run finished",
    ).pipe(
      Effect.annotateLogs({
        deleted: s.deleted,
        batches: s.batches,
        failed_batches: s.failedBatches,
        duration_ms: s.durationMs,
        next_run: next.toISOString(),
      }),
    )
  }
  yield* job.setSchedule(undefined, undefined)
  yield* Effect.logInfo("cleanup schedule stopped")
})
