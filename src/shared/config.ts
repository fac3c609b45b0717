import { FileSystem } from "@effect/platform"
import * as PlatformConfigProvider from "@effect/platform/PlatformConfigProvider"
import { ConfigProvider, Effect } from "effect"
import { ConfigError } from "./errors.ts"

/** Where settings come from, besides flags: the environment, then a `.env` file. */
export interface EnvFileChoice {
  /** The `.env` to read, or undefined for none (`--no-env-file`). */
  readonly path: string | undefined
  /** True when the user named the file (`--env-file`): then a missing file is an error. */
  readonly explicit: boolean
  /** Both --env-file and --no-env-file were given. */
  readonly conflict: boolean
}

/**
 * Reads `--env-file PATH` / `--no-env-file` ahead of the CLI parser: the config provider must exist
 * before flags fall back to it. The CLI declares both flags too, so they show in help.
 */
export const envFileChoice = (argv: ReadonlyArray<string>): EnvFileChoice => {
  let path: string | undefined = ".env"
  let explicit = false
  let none = false
  argv.forEach((arg, i) => {
    if (arg === "--no-env-file") none = true
    else if (arg === "--env-file" && argv[i + 1] !== undefined) {
      path = argv[i + 1]
      explicit = true
    } else if (arg.startsWith("--env-file=")) {
      path = arg.slice("--env-file=".length)
      explicit = true
    }
  })
  return { path: none ? undefined : path, explicit: explicit && !none, conflict: none && explicit }
}

/**
 * The config provider of a run: environment variables win over the `.env` file; flags (via
 * `Options.withFallbackConfig`) win over both. The file is loaded explicitly so Deno and Node
 * behave as Bun does. An effect, not a layer: the CLI sets it with `Effect.withConfigProvider`.
 */
export const configProviderOf = (choice: EnvFileChoice) =>
  Effect.gen(function* () {
    const env = ConfigProvider.fromEnv()
    if (choice.path === undefined) return env
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(choice.path).pipe(Effect.orElseSucceed(() => false))
    if (!exists) {
      if (choice.explicit) {
        return yield* new ConfigError({
          message: `--env-file ${choice.path} does not exist: give the path of a readable .env file or drop the flag`,
        })
      }
      return env
    }
    const dotEnv = yield* PlatformConfigProvider.fromDotEnv(choice.path).pipe(
      Effect.mapError(
        (e) =>
          new ConfigError({
            message: `cannot read ${choice.path} (${e.message}): fix the file or pass --no-env-file`,
          }),
      ),
    )
    return ConfigProvider.orElse(env, () => dotEnv)
  })

/**
 * Takes `--log-level X` / `--log-level=X` out of argv, wherever it stands: @effect/cli's own
 * handling of it fails when it is the last flag, so dbsweep applies it itself.
 */
export const takeLogLevelFlag = (
  argv: ReadonlyArray<string>,
): { readonly level: string | undefined; readonly rest: ReadonlyArray<string> } => {
  let level: string | undefined
  const rest: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--log-level" && i + 1 < argv.length) {
      level = argv[i + 1]
      i += 1
    } else if (arg.startsWith("--log-level=")) level = arg.slice("--log-level=".length)
    else rest.push(arg)
  }
  return { level, rest }
}
