/**
 * The binary answers `--help`, `-h` and `--version` from texts recorded at build time, without
 * loading the CLI. Those answers must be exactly what the CLI itself prints: `--log-level info`
 * (taken off before the CLI parses) makes the same request go through the full CLI.
 */
import { beforeAll, describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { commandPaths } from "../../scripts/help-texts.ts"
import { stripAnsi } from "../../src/cli/ansi.ts"
import { binaryPath, ensureBinary, runBinary } from "../support/binary.ts"

const colour = { FORCE_COLOR: "1" }
let paths: ReadonlyArray<ReadonlyArray<string>> = []

beforeAll(async () => {
  ensureBinary()
  const root = await runBinary(["--log-level", "info", "--help"], { env: colour })
  paths = [[], ...commandPaths(root.stdout)]
})

describe("recorded help", () => {
  test("the binary holds the recorded texts (the quick path is built in)", () => {
    expect(readFileSync(binaryPath).includes("dbsweep-version")).toBe(true)
  })

  test("lists every command, nested ones once (no doubled words)", () => {
    const names = paths.map((p) => p.join(" "))
    expect(names).toContain("purge")
    expect(names).toContain("couch views ensure")
    expect(names).toContain("docs migrate")
    expect(names.some((n) => /\b(\w+) \1\b/.test(n))).toBe(false)
    expect(paths.length).toBeGreaterThanOrEqual(17)
  })

  test("every command's --help and -h, plain and coloured, equal what the CLI renders", async () => {
    const mismatches: Array<string> = []
    for (const path of paths) {
      const full = await runBinary(["--log-level", "info", ...path, "--help"], { env: colour })
      expect(full.code).toBe(0)
      expect(full.stdout).toContain("USAGE")
      const [quickColour, quickPlain, quickShort] = await Promise.all([
        runBinary([...path, "--help"], { env: colour }),
        runBinary([...path, "--help"]),
        runBinary([...path, "-h"], { env: { NO_COLOR: "1" } }),
      ])
      const name = path.join(" ") || "(top level)"
      if (quickColour.stdout !== full.stdout) mismatches.push(`${name} --help (colour)`)
      if (quickPlain.stdout !== stripAnsi(full.stdout)) mismatches.push(`${name} --help (plain)`)
      if (quickShort.stdout !== stripAnsi(full.stdout)) mismatches.push(`${name} -h`)
      expect([quickColour.code, quickPlain.code, quickShort.code]).toEqual([0, 0, 0])
    }
    expect(mismatches).toEqual([])
  }, 120_000)

  test("--version prints the version, the commit and the target, as the CLI does", async () => {
    const [quick, full] = await Promise.all([
      runBinary(["--version"]),
      runBinary(["--log-level", "info", "--version"]),
    ])
    expect(quick.stdout).toMatch(/^\d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40}(-dirty)?|unknown), linux-x64\)\n/)
    expect(quick.stdout).toBe(full.stdout)
    expect(quick.code).toBe(0)
  })
})
