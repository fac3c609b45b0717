#!/usr/bin/env bun
import { Command } from "@effect/cli"
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { Config, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { outcomeOf } from "./cli/exit.ts"
import { purgeCommand } from "./cli/purge.ts"
import { configProviderLayer, envFileChoice } from "./shared/config.ts"
import { ConfigError } from "./shared/errors.ts"
import { parseLogLevel } from "./shared/logging.ts"
import { version } from "./version.ts"

const dbsweep = Command.make("dbsweep").pipe(
  Command.withDescription("Database hygiene jobs: CouchDB tombstone purge, PostgreSQL pending-user cleanup"),
  Command.withSubcommands([purgeCommand]),
)

const cli = Command.run(dbsweep, { name: "dbsweep", version })

/** LOG_LEVEL sets the floor; the CLI's own `--log-level` (applied inside) wins over it. */
const logLevelFromEnv = Effect.gen(function* () {
  const raw = yield* Config.option(Config.string("LOG_LEVEL"))
  if (Option.isNone(raw)) return LogLevel.Info
  const level = parseLogLevel(raw.value)
  if (level === undefined) {
    return yield* new ConfigError({
      message: `LOG_LEVEL=${raw.value} is not a level: use trace, debug, info, warn, error or none`,
    })
  }
  return level
})

const program = Effect.gen(function* () {
  const level = yield* logLevelFromEnv
  yield* cli(process.argv).pipe(Logger.withMinimumLogLevel(level))
  return 0
}).pipe(
  Effect.provide(configProviderLayer(envFileChoice(process.argv)).pipe(Layer.provide(BunContext.layer))),
)

BunRuntime.runMain(program.pipe(Effect.provide(BunContext.layer)), {
  disablePrettyLogger: true,
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    const outcome = outcomeOf(exit)
    if (outcome.line !== undefined) console.error(outcome.line)
    onExit(outcome.code)
  },
})
