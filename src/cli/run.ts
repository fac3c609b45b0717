// The whole CLI: the command tree, flags read before it (log level, .env), and the exit code and
// one failure line at the end. An entry point (main.ts, deno.ts, node.ts) hands in what is
// specific to its runtime, so nothing here uses one.
import { Command } from "@effect/cli"
import type { CliApp } from "@effect/cli/CliApp"
import type { RunMain } from "@effect/platform/Runtime"
import { Config, Effect, type Layer, Logger, LogLevel, Option } from "effect"
import { JobWorkers, type Listen, Listener } from "../http/listen.ts"
import { configProviderOf, envFileChoice, takeLogLevelFlag } from "../shared/config.ts"
import { ConfigError } from "../shared/errors.ts"
import { logLevelNames, parseLogLevel } from "../shared/logging.ts"
import { versionLine } from "../version.ts"
import { wantsColour, withCliConsole } from "./console.ts"
import { CleanStop, outcomeOf } from "./exit.ts"
import { dbFlagProblem } from "./purge-targets.ts"

const root = Command.make("dbsweep").pipe(
  Command.withDescription(
    "Database hygiene jobs: CouchDB tombstone purge and admin helpers, a document store with migration, PostgreSQL pending-user cleanup, and an HTTP mode (serve)",
  ),
)

/**
 * Each subcommand's module, loaded when it runs (in the order help lists them): `dbsweep purge`
 * never loads the PostgreSQL driver, the document stores or the HTTP mode.
 */
const subcommands = {
  purge: () => import("./purge.ts").then((m) => m.purgeCommand),
  docs: () => import("./docs.ts").then((m) => m.docsCommand),
  cleanup: () => import("./cleanup.ts").then((m) => m.cleanupCommand),
  couch: () => import("./couch.ts").then((m) => m.couchCommand),
  serve: () => import("./serve.ts").then((m) => m.serveCommand),
}

/** The subcommand `argv` (the arguments, after the program) names first, if it names one. */
export const subcommandOf = (argv: ReadonlyArray<string>): keyof typeof subcommands | undefined => {
  const first = argv.find((a) => !a.startsWith("-"))
  return first !== undefined && Object.hasOwn(subcommands, first)
    ? (first as keyof typeof subcommands)
    : undefined
}

/**
 * The parser and runner of the command tree; `version` is what `--version` and help's header show.
 * With `only`, the tree holds that subcommand alone: what it parses and runs is the same, and the
 * others' modules stay unloaded. Without it (help, the wizard, a mistyped command), all of them.
 */
export const cliOf = async (version: string, only?: keyof typeof subcommands) => {
  const [first, ...rest] = await Promise.all(
    only === undefined ? Object.values(subcommands).map((load) => load()) : [subcommands[only]()],
  )
  return Command.run(root.pipe(Command.withSubcommands([first!, ...rest])), { name: "dbsweep", version })
}

/** What an entry point hands in: its runtime's main loop, services and HTTP server. */
export interface Platform {
  /** `process.argv`: the runtime, the script, then the arguments. */
  readonly argv: ReadonlyArray<string>
  readonly runMain: RunMain
  /** File system, paths and terminal for @effect/cli and the commands. */
  readonly context: Layer.Layer<CliApp.Environment>
  readonly listen: Listen
  /** Starts a job worker, where the runtime can: `dbsweep serve` then runs purges on workers. */
  readonly jobWorker?: () => Worker
  /** Prints the one failure line (to stderr). */
  readonly printError: (line: string) => void
}

/** Runs the CLI to its end, then exits with its code. */
export const runCli = (platform: Platform) => {
  const { level: levelFlag, rest: argv } = takeLogLevelFlag(platform.argv)

  /** `--log-level` wins over LOG_LEVEL; info when neither is given. */
  const logLevel = Effect.gen(function* () {
    const env = yield* Config.option(Config.string("LOG_LEVEL"))
    const [source, raw] =
      levelFlag !== undefined ? ["--log-level", levelFlag] : ["LOG_LEVEL", Option.getOrUndefined(env)]
    if (raw === undefined) return LogLevel.Info
    const level = parseLogLevel(raw)
    if (level === undefined) {
      return yield* new ConfigError({
        message: `${source} ${JSON.stringify(raw)} is not a log level: use ${logLevelNames}`,
      })
    }
    return level
  })

  /** Flag combinations refused before anything runs. */
  const preflightArgv = Effect.gen(function* () {
    const envFile = envFileChoice(platform.argv)
    if (envFile.conflict) {
      return yield* new ConfigError({
        message: "--env-file and --no-env-file contradict each other: give one",
      })
    }
    const db = dbFlagProblem(argv)
    if (db !== undefined) return yield* new ConfigError({ message: db })
    // The wizard asks its questions on a terminal; without one it would wait forever.
    if (argv.includes("--wizard") && process.stdin.isTTY !== true) {
      return yield* new ConfigError({
        message: "--wizard asks questions on a terminal, and stdin is not one: pass the flags instead",
      })
    }
  })

  /** Set by a daemon command: its interrupt is a clean stop (exit 0), read by the teardown below. */
  let cleanStop = false
  const cleanStopService = {
    declare: Effect.sync(() => {
      cleanStop = true
    }),
  }

  const program = Effect.gen(function* () {
    yield* preflightArgv
    const level = yield* logLevel
    const cli = yield* Effect.promise(() => cliOf(versionLine, subcommandOf(argv.slice(2))))
    yield* cli(argv).pipe(
      Logger.withMinimumLogLevel(level),
      withCliConsole(wantsColour(process.stdout.isTTY === true, process.env)),
      // Services given as they are, not as layers: building a layer is some hundred effect steps.
      Effect.provideService(CleanStop, cleanStopService),
      Effect.provideService(Listener, platform.listen),
      (self) =>
        platform.jobWorker === undefined ? self : Effect.provideService(self, JobWorkers, platform.jobWorker),
    )
    return 0
  }).pipe(
    // No tracer is ever read (no exporter, and a failure prints one line, never a span trace):
    // spans off, so each Effect.fn call and withSpan costs nothing at run time.
    Effect.withTracerEnabled(false),
    (self) =>
      Effect.flatMap(configProviderOf(envFileChoice(platform.argv)), (provider) =>
        Effect.withConfigProvider(self, provider),
      ),
    Effect.provide(platform.context),
  )

  // The runtimes switch certificate checks off for the whole process when this variable is 0.
  // dbsweep never does it itself; when the environment does, every run says so.
  if (process.env.NODE_TLS_REJECT_UNAUTHORIZED === "0") {
    platform.printError(
      "dbsweep: warning: NODE_TLS_REJECT_UNAUTHORIZED=0 is set: TLS certificates are NOT checked; unset it and trust your CA with NODE_EXTRA_CA_CERTS instead",
    )
  }

  platform.runMain({
    disablePrettyLogger: true,
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      const outcome = outcomeOf(exit, argv, cleanStop)
      if (outcome.line !== undefined) platform.printError(outcome.line)
      onExit(outcome.code)
    },
  })(program)
}
