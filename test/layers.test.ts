/**
 * The floors of src/: a file imports its own folder and the floors below it only (DESIGN.md,
 * "Layers, ground first"). Type-only, re-export and dynamic imports count: a reader of a lower
 * floor must never need to know a higher one.
 */
import { describe, expect, test } from "bun:test"
import { dirname, join, relative } from "node:path"
import { Glob } from "bun"

const root = join(import.meta.dir, "..", "src")

/** The floor of each place in src/, ground first. A file not named here fails the test. */
const floors: ReadonlyArray<readonly [floor: number, places: ReadonlyArray<string>]> = [
  [0, ["shared/", "version.ts"]],
  [1, ["couch/", "pg/"]],
  [2, ["jobs/"]],
  [3, ["purge/", "docs/", "cleanup/"]],
  [4, ["app.ts", "app-purge.ts", "app-cleanup.ts", "errors.ts"]],
  [5, ["http/", "index.ts", "worker.ts"]],
  [6, ["cli/"]],
  [7, ["main.ts", "deno.ts", "node.ts"]],
]

/** The floor of a path relative to src/, or undefined when the table does not name it. */
const floorOf = (file: string): number | undefined =>
  floors.find(([, places]) =>
    places.some((place) => (place.endsWith("/") ? file.startsWith(place) : file === place)),
  )?.[0]

/** Two files of one folder, or two files at the top of src/ (which is their folder). */
const samePlace = (a: string, b: string) => dirname(a) === dirname(b)

/** Every module specifier in `text`: static imports and re-exports (type-only too) and dynamic imports. */
const importsOf = (text: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const patterns = [
    /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*["']([^"']+)["']/gms,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ]
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1] as string)
  return found
}

/** One line per import that runs against the floors. */
const violations = async (): Promise<ReadonlyArray<string>> => {
  const problems: Array<string> = []
  for await (const file of new Glob("**/*.ts").scan(root)) {
    const floor = floorOf(file)
    if (floor === undefined) {
      problems.push(`src/${file}: not on any floor: add its folder to the table in test/layers.test.ts`)
      continue
    }
    const text = await Bun.file(join(root, file)).text()
    for (const specifier of importsOf(text)) {
      if (!specifier.startsWith(".")) continue
      const target = relative(root, join(root, dirname(file), specifier))
      const targetFloor = floorOf(target)
      if (target.startsWith("..") || targetFloor === undefined) {
        problems.push(`src/${file}: imports "${specifier}", which is outside the floors of src/`)
      } else if (targetFloor > floor || (targetFloor === floor && !samePlace(file, target))) {
        problems.push(
          `src/${file} (floor ${floor}) imports "${specifier}" (src/${target}, floor ${targetFloor}): a file may import its own folder and lower floors only`,
        )
      }
    }
  }
  return problems.sort()
}

describe("layers", () => {
  test("every import in src/ flows down the floors", async () => {
    expect(await violations()).toEqual([])
  })

  test("the check reads type-only, re-export and dynamic imports", () => {
    const text = [
      `import type { A } from "../a.ts"`,
      `import {`,
      `  type B,`,
      `  c,`,
      `} from "./b.ts"`,
      `export { d } from "../d.ts"`,
      `export * from "./e.ts"`,
      `import "./f.ts"`,
      `const g = await import("../g.ts")`,
    ].join("\n")
    expect([...importsOf(text)].sort()).toEqual([
      "../a.ts",
      "../d.ts",
      "../g.ts",
      "./b.ts",
      "./e.ts",
      "./f.ts",
    ])
  })

  test("the table places a file by its folder, and names no floor for a stranger", () => {
    expect(floorOf("shared/metrics.ts")).toBe(0)
    expect(floorOf("jobs/runner.ts")).toBe(2)
    expect(floorOf("errors.ts")).toBe(4)
    expect(floorOf("cli/main.ts")).toBe(6)
    expect(floorOf("elsewhere.ts")).toBeUndefined()
  })
})
