import { Cron, Duration, Either } from "effect"

/** When a job runs on its own: every interval (the first run at once) or on a cron expression. */
export type JobSchedule =
  | { readonly _tag: "Every"; readonly interval: Duration.Duration }
  | { readonly _tag: "Cron"; readonly expression: string; readonly cron: Cron.Cron }

export const every = (interval: Duration.Duration): JobSchedule => ({ _tag: "Every", interval })

/** The shortest interval a schedule may have: shorter ones are a typo, not a plan. */
export const minimumInterval = Duration.millis(100)

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week), refused with a
 * message naming `setting` when it is not one or can never fire (e.g. 30 February).
 */
export const cron = (expression: string, setting = "--cron"): Either.Either<JobSchedule, string> => {
  const fields = expression
    .trim()
    .split(/\s+/)
    .filter((f) => f !== "")
  if (fields.length !== 5) {
    return Either.left(
      `${setting} ${JSON.stringify(expression)} has ${fields.length} fields: give five fields (minute hour day-of-month month day-of-week), e.g. "0 * * * *"`,
    )
  }
  return Cron.parse(fields.join(" ")).pipe(
    Either.mapLeft(
      (e) =>
        `${setting} ${JSON.stringify(expression)} is not a cron expression (${e.message}): use five fields, e.g. "0 * * * *"`,
    ),
    Either.flatMap((parsed) =>
      // Effect's Cron gives up searching after a few years: a date that never comes (30 February).
      Either.try({
        try: (): JobSchedule => {
          Cron.next(parsed, new Date())
          return { _tag: "Cron", expression: fields.join(" "), cron: parsed }
        },
        catch: () =>
          `${setting} ${JSON.stringify(expression)} never fires (no such date): check the day and month fields`,
      }),
    ),
  )
}

export const describeSchedule = (s: JobSchedule) =>
  s._tag === "Every" ? `every ${Duration.format(s.interval)}` : `cron ${s.expression}`

/** When the next run is due, after `now` (epoch millis). */
export const nextRunAfter = (s: JobSchedule, now: number): Date =>
  s._tag === "Every" ? new Date(now + Duration.toMillis(s.interval)) : Cron.next(s.cron, new Date(now))
