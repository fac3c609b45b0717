#!/usr/bin/env bun
import { Command } from "@effect/cli"
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { Config, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { cleanupCommand } from "./cli/cleanup.ts"
import { outcomeOf } from "./cli/exit.ts"
import { purgeCommand } from "./cli/purge.ts"
import { configProviderLayer, envFileChoice, takeLogLevelFlag } from "./shared/config.ts"
import { ConfigError } from "./shared/errors.ts"
import { parseLogLevel } from "./shared/logging.ts"
import { version } from "./version.ts"

const dbsweep = Command.make("dbsweep").pipe(
  Command.withDescription("Database hygiene jobs: CouchDB tombstone purge, PostgreSQL pending-user cleanup"),
  Command.withSubcommands([purgeCommand, cleanupCommand]),
)

const cli = Command.run(dbsweep, { name: "dbsweep", version })

const { level: levelFlag, rest: argv } = takeLogLevelFlag(process.argv)

/** `--log-level` wins over LOG_LEVEL; info when neither is given. */
const logLevel = Effect.gen(function* () {
  const env = yield* Config.option(Config.string("LOG_LEVEL"))
  const [source, raw] =
    levelFlag !== undefined ? ["--log-level", levelFlag] : ["LOG_LEVEL", Option.getOrUndefined(env)]
  if (raw === undefined) return LogLevel.Info
  const level = parseLogLevel(raw)
  if (level === undefined) {
    return yield* new ConfigError({
      message: `${source} ${raw} is not a level: use trace, debug, info, warn, error or none`,
    })
  }
  return level
})

const program = Effect.gen(function* () {
  const level = yield* logLevel
  yield* cli(argv).pipe(Logger.withMinimumLogLevel(level))
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
