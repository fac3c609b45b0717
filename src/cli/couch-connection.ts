import { Options } from "@effect/cli"
import { FetchHttpClient, FileSystem } from "@effect/platform"
import { Config, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import { CouchClient } from "../couch/client.ts"
import { parseDuration } from "../shared/duration.ts"
import { ConfigError } from "../shared/errors.ts"

/** Flags for reaching CouchDB; each falls back to the variable the original tool read. */
export const couchOptions = {
  url: Options.text("url").pipe(
    Options.withDescription("CouchDB URL, e.g. http://127.0.0.1:5984 (env COUCHDB_URL)"),
    Options.withFallbackConfig(Config.string("COUCHDB_URL")),
    Options.optional,
  ),
  user: Options.text("user").pipe(
    Options.withDescription(
      "CouchDB user (env COUCHDB_USER); the password comes from COUCHDB_PASSWORD or COUCHDB_PASSWORD_FILE",
    ),
    Options.withFallbackConfig(Config.string("COUCHDB_USER")),
    Options.optional,
  ),
  timeout: Options.text("timeout").pipe(
    Options.withDescription("time limit for each CouchDB request (env COUCHDB_TIMEOUT)"),
    Options.withFallbackConfig(Config.string("COUCHDB_TIMEOUT")),
    Options.withDefault("30s"),
  ),
}

const readPassword = Effect.gen(function* () {
  const inline = yield* Config.option(Config.redacted("COUCHDB_PASSWORD"))
  if (Option.isSome(inline)) return inline
  const file = yield* Config.option(Config.string("COUCHDB_PASSWORD_FILE"))
  if (Option.isNone(file)) return Option.none<Redacted.Redacted<string>>()
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(file.value).pipe(
    Effect.mapError(
      (e) =>
        new ConfigError({
          message: `cannot read COUCHDB_PASSWORD_FILE ${file.value} (${e.message}): check the path and its permissions`,
        }),
    ),
  )
  return Option.some(Redacted.make(text.replace(/\r?\n$/, "")))
})

/** The CouchDB client layer from the flags and environment, or a one-line ConfigError. */
export const couchLayer = (flags: {
  readonly url: Option.Option<string>
  readonly user: Option.Option<string>
  readonly timeout: string
}) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      if (Option.isNone(flags.url)) {
        return yield* new ConfigError({
          message: "no CouchDB server given: set COUCHDB_URL (or pass --url), e.g. http://127.0.0.1:5984",
        })
      }
      const timeout = parseDuration(flags.timeout)
      if (Either.isLeft(timeout)) return yield* new ConfigError({ message: `--timeout: ${timeout.left}` })
      if (Duration.toMillis(timeout.right) <= 0) {
        return yield* new ConfigError({ message: "--timeout must be more than 0, e.g. 30s" })
      }
      const password = yield* readPassword
      return CouchClient.layer({ url: flags.url.value, user: flags.user, password, timeout: timeout.right })
    }),
  ).pipe(Layer.provide(FetchHttpClient.layer))
