import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Config, Duration, Effect, Either, Option } from "effect"
import { parseDuration } from "../shared/duration.ts"

/**
 * The CLI's option helpers: each reads a flag (falling back to its environment variable) as text
 * and checks it here, so a bad value is refused with one line naming the flag, the variable and
 * the form expected, instead of @effect/cli's generic "'abc' is not a integer".
 */

/** `--flag` or `--flag / ENV`: how a setting is named in messages. */
export const settingName = (flag: string, env: string | undefined) =>
  env === undefined ? `--${flag}` : `--${flag} / ${env}`

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** A one-line printable form of what the user gave (a newline or control character must not cut the message). */
export const shown = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)

const withEnv = (option: Options.Options<string>, env: string | undefined) =>
  env === undefined ? option : option.pipe(Options.withFallbackConfig(Config.string(env)))

/** "what it does (env X, default Y)" for the help. */
const described = (env: string | undefined, description: string, fallback?: string) => {
  const notes = [
    env === undefined ? [] : [`env ${env}`],
    fallback === undefined ? [] : [`default ${fallback}`],
  ].flat()
  return notes.length === 0 ? description : `${description} (${notes.join(", ")})`
}

/** Parses a whole number in [min, max]. */
export const parseWhole = (raw: string, min: number, max: number): Either.Either<number, string> => {
  const text = raw.trim()
  if (!/^-?\d+$/.test(text))
    return Either.left(`must be a whole number from ${min} to ${max} (got ${shown(raw)})`)
  const n = Number(text)
  return n >= min && n <= max
    ? Either.right(n)
    : Either.left(`must be a whole number from ${min} to ${max} (got ${text})`)
}

export interface IntegerSpec {
  readonly env?: string
  readonly min: number
  readonly max: number
  readonly fallback: number
  readonly description: string
}

/** A whole number within bounds, from the flag or its variable. */
export const integerOption = (flag: string, spec: IntegerSpec) =>
  withEnv(Options.text(flag).pipe(Options.withPseudoName("integer")), spec.env).pipe(
    Options.withDescription(described(spec.env, spec.description, String(spec.fallback))),
    Options.withDefault(String(spec.fallback)),
    Options.mapEffect((raw) =>
      Either.match(parseWhole(raw, spec.min, spec.max), {
        onLeft: (why) => Effect.fail(invalid(`${settingName(flag, spec.env)} ${why}`)),
        onRight: Effect.succeed,
      }),
    ),
  )

export interface DurationSpec {
  readonly env?: string
  readonly fallback: string
  readonly min: Duration.DurationInput
  readonly max?: Duration.DurationInput
  readonly description: string
}

const checkDuration = (
  name: string,
  raw: string,
  min: Duration.DurationInput,
  max?: Duration.DurationInput,
) =>
  Either.match(parseDuration(raw), {
    onLeft: (why) => Either.left(`${name}: ${why}`),
    onRight: (d) =>
      Duration.lessThan(d, min)
        ? Either.left(`${name} must be at least ${Duration.format(min)} (got ${raw.trim()})`)
        : max !== undefined && Duration.greaterThan(d, max)
          ? Either.left(`${name} must be at most ${Duration.format(max)} (got ${raw.trim()})`)
          : Either.right(d),
  })

/** A duration such as 500ms, 30s, 5m, 1h, 7d, within bounds. */
export const durationOption = (flag: string, spec: DurationSpec) =>
  withEnv(Options.text(flag).pipe(Options.withPseudoName("duration")), spec.env).pipe(
    Options.withDescription(described(spec.env, spec.description, spec.fallback)),
    Options.withDefault(spec.fallback),
    Options.mapEffect((raw) =>
      Either.match(checkDuration(settingName(flag, spec.env), raw, spec.min, spec.max), {
        onLeft: (why) => Effect.fail(invalid(why)),
        onRight: Effect.succeed,
      }),
    ),
  )

/** One of a fixed set of words, from the flag or its variable; absent when neither is given. */
export const choiceOption = <A extends string>(
  flag: string,
  choices: ReadonlyArray<A>,
  spec: { readonly env?: string; readonly description: string },
) =>
  withEnv(Options.text(flag).pipe(Options.withPseudoName(choices.join(" | "))), spec.env).pipe(
    Options.withDescription(`${described(spec.env, spec.description)}: ${choices.join(", ")}`),
    Options.optional,
    Options.mapEffect((value) =>
      Option.match(value, {
        onNone: () => Effect.succeed(Option.none<A>()),
        onSome: (raw) => {
          const found = choices.find((c) => c === raw.trim().toLowerCase())
          return found === undefined
            ? Effect.fail(
                invalid(`${settingName(flag, spec.env)} ${shown(raw)} is not one of ${choices.join(", ")}`),
              )
            : Effect.succeed(Option.some(found))
        },
      }),
    ),
  )

/** Text from the flag or its variable, with a default. */
export const textOption = (
  flag: string,
  spec: { readonly env?: string; readonly fallback: string; readonly description: string },
) =>
  withEnv(Options.text(flag), spec.env).pipe(
    Options.withDescription(described(spec.env, spec.description, spec.fallback)),
    Options.withDefault(spec.fallback),
  )

/** An optional duration within bounds (a schedule's interval, say). */
export const optionalDurationOption = (flag: string, spec: Omit<DurationSpec, "fallback">) =>
  withEnv(Options.text(flag).pipe(Options.withPseudoName("duration")), spec.env).pipe(
    Options.withDescription(described(spec.env, spec.description)),
    Options.optional,
    Options.mapEffect((value) =>
      Option.match(value, {
        onNone: () => Effect.succeed(Option.none<Duration.Duration>()),
        onSome: (raw) =>
          Either.match(checkDuration(settingName(flag, spec.env), raw, spec.min, spec.max), {
            onLeft: (why) => Effect.fail(invalid(why)),
            onRight: (d) => Effect.succeed(Option.some(d)),
          }),
      }),
    ),
  )

/**
 * An optional file path, taken as text and checked by whoever opens it (with a message naming the
 * flag). @effect/cli's own `Options.file` probes the path while parsing and dies on a path under a
 * regular file (ENOTDIR), which reached users as "internal error".
 */
export const pathOption = (flag: string, description: string) =>
  Options.text(flag).pipe(
    Options.withPseudoName("path"),
    Options.withDescription(description),
    Options.optional,
  )

/** Optional text from the flag or its variable. */
export const optionalText = (flag: string, spec: { readonly env?: string; readonly description: string }) =>
  withEnv(Options.text(flag), spec.env).pipe(
    Options.withDescription(described(spec.env, spec.description)),
    Options.optional,
  )
