import { Duration, Either, ParseResult, Schema } from "effect"

/** Parses "500ms", "1s", "2m", "1h", "7d" or a bare number of seconds into a Duration. */
export const parseDuration = (input: string): Either.Either<Duration.Duration, string> => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(input)
  if (m === null) return Either.left(`"${input}" is not a duration; use e.g. 500ms, 1s, 5m, 1h, 7d`)
  const n = Number(m[1])
  switch (m[2]) {
    case "ms":
      return Either.right(Duration.millis(n))
    case "m":
      return Either.right(Duration.minutes(n))
    case "h":
      return Either.right(Duration.hours(n))
    case "d":
      return Either.right(Duration.days(n))
    default:
      return Either.right(Duration.seconds(n))
  }
}

/** A duration written as text ("500ms", "30s", "1h"): how options carry durations in JSON and flags. */
export const DurationFromString = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (text, _, ast) =>
    Either.match(parseDuration(text), {
      onLeft: (why) => ParseResult.fail(new ParseResult.Type(ast, text, why)),
      onRight: ParseResult.succeed,
    }),
  encode: (d) => ParseResult.succeed(`${Duration.toMillis(d)}ms`),
}).annotations({
  identifier: "Duration",
  description: 'a duration such as "500ms", "30s", "5m", "1h" or "7d"',
})
