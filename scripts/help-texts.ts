// Renders the help of every command, coloured, as `--help` shows it, for the binary to answer
// `--help` without loading the CLI (src/cli/quick.ts). The version line is left as a token, so one
// set of texts serves every build target. Run by scripts/build.ts; `bun scripts/help-texts.ts`
// prints the JSON.
import { BunContext } from "@effect/platform-bun"
import { Console, Effect, Layer } from "effect"
import { stripAnsi } from "../src/cli/ansi.ts"
import { withCliConsole } from "../src/cli/console.ts"
import { CleanStop } from "../src/cli/exit.ts"
import type { HelpTexts } from "../src/cli/quick.ts"
import { versionToken } from "../src/cli/quick.ts"
import { cliOf } from "../src/cli/run.ts"
import { Listener } from "../src/http/listen.ts"

/** Nothing runs for `--help`; these only satisfy the commands' types. */
const idle = Layer.mergeAll(
  BunContext.layer,
  Layer.succeed(CleanStop, { declare: Effect.void }),
  Layer.succeed(Listener, () => {
    throw new Error("help does not listen")
  }),
)

/** What `cli` prints for `dbsweep ...args` on a terminal (`--help` and `--version` only: nothing runs). */
export const renderWith =
  (cli: Awaited<ReturnType<typeof cliOf>>) =>
  (args: ReadonlyArray<string>): Promise<string> => {
    let out = ""
    const capture: Console.Console = {
      ...globalThis.console,
      [Console.TypeId]: Console.TypeId,
      log: (...args: ReadonlyArray<unknown>) =>
        Effect.sync(() => {
          out += `${args.map(String).join(" ")}\n`
        }),
    } as unknown as Console.Console
    return Effect.runPromise(
      cli(["bun", "dbsweep", ...args]).pipe(
        withCliConsole(true),
        Effect.withConsole(capture),
        Effect.provide(idle),
        Effect.map(() => out),
      ),
    )
  }

/** What `dbsweep ...args` prints on a terminal, with the whole command tree. */
export const render = renderWith(await cliOf(versionToken))

/** The command paths the top-level help lists (`docs get`, `couch views ensure`, …). */
export const commandPaths = (rootHelp: string): ReadonlyArray<ReadonlyArray<string>> => {
  const paths: Array<Array<string>> = []
  for (const line of stripAnsi(rootHelp).split("\n")) {
    const m = /^ {2}- (.*)$/.exec(line)
    if (m === null) continue
    const words: Array<string> = []
    for (const word of m[1]!.split(" ")) {
      if (!/^[a-z][a-z0-9-]*$/.test(word)) break
      words.push(word)
    }
    paths.push(words)
  }
  return paths
}

/** Every command's help, by path joined with spaces (`""` for the top level), and `--version`. */
export const recordHelp = async (): Promise<HelpTexts> => {
  const root = await render(["--help"])
  const texts: Record<string, string> = { "": root, "--version": await render(["--version"]) }
  for (const path of commandPaths(root)) texts[path.join(" ")] = await render([...path, "--help"])
  return texts
}

if (import.meta.main) console.log(JSON.stringify(await recordHelp(), null, 1))
