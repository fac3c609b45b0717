import { Effect, ParseResult, Schema } from "effect"
import { ConfigError } from "../shared/errors.ts"
import type { Job, JobError } from "./job.ts"

/** One line naming each option that is wrong. */
const badOptions = (job: string, e: ParseResult.ParseError) =>
  new ConfigError({
    message: `bad ${job} options: ${ParseResult.ArrayFormatter.formatErrorSync(e)
      .map((i) => `${i.path.join(".") || "options"} ${i.message}`)
      .join("; ")}`,
  })

/** Options from outside (an HTTP body, a library caller's JSON), decoded with the job's Schema. */
export const decodeOptions = <O, S, I, E extends JobError>(job: Job<O, S, I, E>, input: unknown) =>
  Schema.decodeUnknown(job.options)(input).pipe(Effect.mapError((e) => badOptions(job.name, e)))

/** Options already typed (the CLI's), checked against the same Schema's rules. */
export const validateOptions = <O, S, I, E extends JobError>(job: Job<O, S, I, E>, options: O) =>
  Schema.validate(Schema.typeSchema(job.options))(options).pipe(
    Effect.mapError((e) => badOptions(job.name, e)),
  )
