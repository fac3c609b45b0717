import { Schema } from "effect"

/**
 * A bad flag, variable or value: names what is wrong and what to do. Exit code 2. (Tagged
 * "BadConfig" so it never mixes with effect's own ConfigError from `Config`.)
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("BadConfig", {
  message: Schema.String,
}) {}

/** The job ran to its end but some of its work failed (already reported). Exit code 1. */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {
  message: Schema.String,
}) {}
