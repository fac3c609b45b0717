import { Console, Effect } from "effect"

// ESC [ … m: the SGR sequences @effect/cli's help uses.
const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")

/** Removes terminal colour codes. */
export const stripAnsi = (text: string) => text.replace(ansi, "")

const wrap = (base: Console.Console, colour: boolean): Console.Console => ({
  ...base,
  log: (...args) =>
    base.log(...(colour ? args : args.map((a) => (typeof a === "string" ? stripAnsi(a) : a)))),
  error: () => Effect.void,
})

/**
 * Runs @effect/cli with a console of our own: help and version go to stdout without colour codes
 * unless colour is wanted (a terminal, and NO_COLOR unset), and its own error printing is dropped:
 * the entry point prints every failure itself, as one `dbsweep: …` line (see exit.ts).
 */
export const withCliConsole =
  (colour: boolean) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Console.consoleWith((base) => Effect.withConsole(self, wrap(base, colour)))

/** Colour on a terminal unless NO_COLOR is set; FORCE_COLOR forces it (https://no-color.org). */
export const wantsColour = (isTerminal: boolean, env: Readonly<Record<string, string | undefined>>) => {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true
  return isTerminal
}
