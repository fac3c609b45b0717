/**
 * The core runs on Bun, Deno and Node: nothing in src/ outside the entry points (main.ts for Bun,
 * deno.ts, node.ts) may use a runtime's own API. test/runtimes.test.ts runs it on Deno and Node.
 */
import { expect, test } from "bun:test"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"

const src = join(import.meta.dir, "..", "src")
const entryPoints = new Set(["main.ts", "deno.ts", "node.ts"])

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  )

/** Code without its comments (strings are kept: `"bun:sqlite"` in an import is what is looked for). */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1")

const runtimeSpecific: ReadonlyArray<[RegExp, string]> = [
  [/\bBun\./, "Bun.*"],
  [/["']bun:/, "a bun: module"],
  [/["']bun["']/, 'the "bun" module'],
  [/@effect\/platform-bun/, "@effect/platform-bun"],
  [/\bDeno\./, "Deno.*"],
  [/import\.meta\.(dir|path|file|main)\b/, "Bun's import.meta fields"],
]

test("src/ uses no Bun-, Deno- or Node-entry-only API outside the entry points", () => {
  const found: Array<string> = []
  for (const file of files(src)) {
    const name = relative(src, file)
    if (entryPoints.has(name)) continue
    const lines = code(readFileSync(file, "utf8")).split("\n")
    lines.forEach((line, i) => {
      for (const [pattern, what] of runtimeSpecific) {
        if (pattern.test(line)) found.push(`src/${name}:${i + 1} uses ${what}`)
      }
    })
  }
  expect(found).toEqual([])
})

test("the check finds what it looks for", () => {
  const sample = code(
    ["const s = Bun.serve({})", 'import { Database } from "bun:sqlite"', "// Bun.serve in a comment"].join(
      "\n",
    ),
  ).split("\n")
  expect(runtimeSpecific[0]![0].test(sample[0]!)).toBe(true)
  expect(runtimeSpecific[1]![0].test(sample[1]!)).toBe(true)
  expect(runtimeSpecific.some(([p]) => p.test(sample[2]!))).toBe(false)
})
