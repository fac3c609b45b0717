import { Options } from "@effect/cli"
import { type Effect, Option } from "effect"
import { type LogFormat, logFormats, withLogger } from "../shared/logging.ts"
import { wantsColour } from "./console.ts"
import { choiceOption, pathOption } from "./options.ts"

/** True when stderr is a terminal: pretty logs and a live progress bar, else JSON logs and log lines. */
export const stderrIsTerminal = (): boolean => process.stderr.isTTY === true

/** Options every job command takes. `--env-file`/`--no-env-file` are read before parsing (see shared/config). */
export const commonOptions = {
  logFormat: choiceOption("log-format", logFormats, {
    env: "LOG_FORMAT",
    description: "log format: pretty (default on a terminal), json (default otherwise) or logfmt",
  }),
  // Read before the parser runs (see shared/config); declared here so it shows in help.
  envFile: pathOption(
    "env-file",
    "read settings from this .env file instead of ./.env (variables already set win)",
  ),
  noEnvFile: Options.boolean("no-env-file").pipe(Options.withDescription("do not read any .env file")),
}

/** Provides the logger chosen by `--log-format` (the level is set once in main.ts). */
export const withLogFormat =
  (format: Option.Option<LogFormat>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    withLogger({
      format: Option.getOrUndefined(format),
      isTerminal: stderrIsTerminal(),
      colour: wantsColour(stderrIsTerminal(), process.env),
    })(self)
