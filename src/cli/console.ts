import { Console, Effect } from "effect"
import { stripAnsi } from "./ansi.ts"

export { stripAnsi, wantsColour } from "./ansi.ts"

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
