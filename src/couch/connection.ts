import { FileSystem } from "@effect/platform"
import { Config, type Duration, Effect, Layer, Option, Redacted } from "effect"
import { ConfigError } from "../shared/errors.ts"
import { CouchClient, type CouchConnection, makeCouchClient } from "./client.ts"

/** Where CouchDB is, as the CLI flags or the library give it; the password is read from Config. */
export interface CouchSettings {
  readonly url: Option.Option<string>
  readonly user: Option.Option<string>
  readonly timeout: Duration.Duration
}

const readPassword = Effect.gen(function* () {
  const inline = yield* Config.option(Config.redacted("COUCHDB_PASSWORD"))
  const file = yield* Config.option(Config.string("COUCHDB_PASSWORD_FILE"))
  if (Option.isSome(inline) && Option.isSome(file)) {
    return yield* new ConfigError({
      message: "both COUCHDB_PASSWORD and COUCHDB_PASSWORD_FILE are set: keep one of them",
    })
  }
  if (Option.isSome(inline)) return inline
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

/**
 * Where and how to reach CouchDB, from the settings and the environment (COUCHDB_PASSWORD or
 * COUCHDB_PASSWORD_FILE), or a one-line ConfigError.
 */
export const couchConnection = (flags: CouchSettings) =>
  Effect.gen(function* () {
    if (Option.isNone(flags.url)) {
      return yield* new ConfigError({
        message: "no CouchDB server given: set COUCHDB_URL (or pass --url), e.g. http://127.0.0.1:5984",
      })
    }
    const password = yield* readPassword
    const connection: CouchConnection = {
      url: flags.url.value,
      user: flags.user,
      password,
      timeout: flags.timeout,
    }
    return connection
  })

/** The CouchDB client from the settings and the environment (see `couchConnection`). */
export const couchClientOf = (flags: CouchSettings) => Effect.flatMap(couchConnection(flags), makeCouchClient)

/** `couchClientOf` as a layer. */
export const couchLayer = (flags: CouchSettings) => Layer.effect(CouchClient, couchClientOf(flags))
