import { Duration, Option, Schema } from "effect"
import { DurationFromString } from "../shared/duration.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { isBareName } from "./settings.ts"
import { defaultTarget } from "./target.ts"

const whole = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max))

/** A bare name: the schema goes in `target.schema`, and the driver quotes it as an identifier. */
const Name = Schema.String.pipe(Schema.filter((s) => isBareName(s) || "must be a bare name (no dot)"))

export const CleanupTargetSchema = Schema.Struct({
  schema: Schema.optionalWith(Name, { default: () => defaultTarget.schema }),
  usersTable: Schema.optionalWith(Name, { default: () => defaultTarget.usersTable }),
  pendingTable: Schema.optionalWith(Name, { default: () => defaultTarget.pendingTable }),
  usersEmailColumn: Schema.optionalWith(Name, { default: () => defaultTarget.usersEmailColumn }),
  pendingEmailColumn: Schema.optionalWith(Name, { default: () => defaultTarget.pendingEmailColumn }),
  /** Compare emails exactly instead of case-insensitively. */
  caseSensitive: Schema.optionalWith(Schema.Boolean, { default: () => false }),
})

const RetrySchema = Schema.Struct({
  retries: whole(0, 100),
  base: DurationFromString,
  factor: Schema.Number.pipe(Schema.between(1, 10)),
  cap: DurationFromString,
})

/** The cleanup job's options: what the CLI flags, the library API and HTTP bodies give. */
export const CleanupOptionsSchema = Schema.Struct({
  target: Schema.optionalWith(CleanupTargetSchema, { default: () => defaultTarget }),
  /** Most pending rows per batch transaction. */
  batchSize: Schema.optionalWith(whole(1, 1_000_000), { default: () => 5000 }),
  /** Batch transactions at once (each on its own connection). */
  concurrency: Schema.optionalWith(whole(1, 64), { default: () => 2 }),
  lockTimeout: Schema.optionalWith(DurationFromString, { default: () => Duration.seconds(2) }),
  statementTimeout: Schema.optionalWith(DurationFromString, { default: () => Duration.seconds(30) }),
  dryRun: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Rows shown by a dry run. */
  sample: Schema.optionalWith(whole(0, 10_000), { default: () => 10 }),
  showEmails: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Table (in the target schema) that receives the deleted rows, created if missing. */
  archiveTable: Schema.optionalWith(Name, { as: "Option" }),
  /** NDJSON file that receives the deleted rows. */
  archiveFile: Schema.optionalWith(Schema.String, { as: "Option" }),
  /** Table (in the target schema) that gets one row per run. */
  historyTable: Schema.optionalWith(Name, { as: "Option" }),
  retry: Schema.optionalWith(RetrySchema, { default: () => defaultRetryPolicy }),
})

export type CleanupOptions = typeof CleanupOptionsSchema.Type

export const defaultCleanupOptions: CleanupOptions = {
  target: defaultTarget,
  batchSize: 5000,
  concurrency: 2,
  lockTimeout: Duration.seconds(2),
  statementTimeout: Duration.seconds(30),
  dryRun: false,
  sample: 10,
  showEmails: false,
  archiveTable: Option.none(),
  archiveFile: Option.none(),
  historyTable: Option.none(),
  retry: defaultRetryPolicy,
}
