// Terminal colour rules, free of any dependency: the quick help path (quick.ts) uses them too.

// ESC [ … m: the SGR sequences @effect/cli's help uses.
const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")

/** Removes terminal colour codes. */
export const stripAnsi = (text: string) => text.replace(ansi, "")

/** Colour on a terminal unless NO_COLOR is set; FORCE_COLOR forces it (https://no-color.org). */
export const wantsColour = (isTerminal: boolean, env: Readonly<Record<string, string | undefined>>) => {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true
  return isTerminal
}
