import { Options } from "@effect/cli"
import { Config, Duration } from "effect"
import { durationOption } from "./options.ts"

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
  timeout: durationOption("timeout", {
    env: "COUCHDB_TIMEOUT",
    fallback: "30s",
    min: Duration.millis(1),
    max: Duration.hours(24),
    description: "time limit for each CouchDB request",
  }),
}
