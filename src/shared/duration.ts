import { Duration, Either } from "effect"

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
