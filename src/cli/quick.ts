// Answers `--help`, `-h` and `--version` without loading the CLI (effect, @effect/cli and every
// command): the build renders each command's help once (scripts/help-texts.ts) and defines the
// texts into the binary. Imports nothing but the colour rules and the version.

import { versionLine } from "../version.ts"
import { stripAnsi, wantsColour } from "./ansi.ts"

declare const DBSWEEP_HELP: string | undefined

/** Stands for the version line in the recorded texts (one set of texts serves every target). */
export const versionToken = "\u0000dbsweep-version\u0000"

/**
 * Recorded help, coloured, by command path (`""`, `"purge"`, `"couch views ensure"`), and what
 * `--version` prints under `"--version"`.
 */
export type HelpTexts = Readonly<Record<string, string>>

let texts: HelpTexts | undefined

const recorded = (): HelpTexts => {
  if (texts === undefined) texts = typeof DBSWEEP_HELP === "string" ? JSON.parse(DBSWEEP_HELP) : {}
  return texts!
}

/**
 * What to print for these arguments (without the program name), or undefined when the full CLI
 * must run: only exactly `--version`, and `[COMMAND …] --help|-h` of a recorded command, qualify.
 */
export const quickAnswer = (
  args: ReadonlyArray<string>,
  output: { readonly isTerminal: boolean; readonly env: Readonly<Record<string, string | undefined>> },
): string | undefined => {
  const last = args[args.length - 1]
  let key: string
  if (args.length === 1 && last === "--version") key = "--version"
  else if (last === "--help" || last === "-h") {
    const path = args.slice(0, -1)
    if (path.some((word) => word.startsWith("-"))) return undefined
    key = path.join(" ")
  } else return undefined
  const text = recorded()[key]
  if (text === undefined) return undefined
  const shown = text.replaceAll(versionToken, versionLine)
  return wantsColour(output.isTerminal, output.env) ? shown : stripAnsi(shown)
}
