import { Either } from "effect"
import { every, type JobSchedule, cron as parseCron } from "../jobs/schedule.ts"
import { ConfigError } from "../shared/errors.ts"

/** When the cleanup daemon runs: every interval (first run at once) or on a cron expression. */
export type CleanupSchedule = JobSchedule

export { every }

/** A five-field cron expression that fires, or a ConfigError naming `--cron / CLEANUP_CRON`. */
export const cron = (expression: string): Either.Either<CleanupSchedule, ConfigError> =>
  Either.mapLeft(parseCron(expression, "--cron / CLEANUP_CRON"), (message) => new ConfigError({ message }))
