/**
 * `make release`: one executable per target in dist/release, each of its target's format, with
 * SHA256SUMS that verify; the linux-x64 one runs here.
 */
import { beforeAll, describe, expect, test } from "bun:test"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { signatureProblem } from "../scripts/macho.ts"

const root = join(import.meta.dir, "..")
const dir = join(root, "dist", "release")

beforeAll(() => {
  if (existsSync(join(dir, "SHA256SUMS"))) return // make test builds it first
  const r = Bun.spawnSync(["make", "release"], { cwd: root, stdout: "inherit", stderr: "inherit" })
  if (r.exitCode !== 0) throw new Error("make release failed")
}, 600_000)

/** What a file's header says it is. */
const formatOf = (file: Buffer): string => {
  if (file.readUInt32BE(0) === 0x7f454c46) {
    const bits = file[4] === 2 ? 64 : 32
    const machine = file.readUInt16LE(18)
    return `ELF${bits} ${machine === 0x3e ? "x86-64" : machine === 0xb7 ? "aarch64" : machine.toString(16)}`
  }
  if (file.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = file.readUInt32LE(4)
    return `Mach-O ${cpu === 0x01000007 ? "x86-64" : cpu === 0x0100000c ? "arm64" : cpu.toString(16)}`
  }
  if (file.toString("latin1", 0, 2) === "MZ") {
    const pe = file.readUInt32LE(0x3c)
    if (file.toString("latin1", pe, pe + 4) !== "PE\0\0") return "MZ without PE"
    const machine = file.readUInt16LE(pe + 4)
    const optional = file.readUInt16LE(pe + 24)
    return `${optional === 0x20b ? "PE32+" : "PE32"} ${machine === 0x8664 ? "x86-64" : machine.toString(16)}`
  }
  return "unknown"
}

const expected: ReadonlyArray<[string, string]> = [
  ["dbsweep-linux-x64", "ELF64 x86-64"],
  ["dbsweep-linux-arm64", "ELF64 aarch64"],
  ["dbsweep-darwin-x64", "Mach-O x86-64"],
  ["dbsweep-darwin-arm64", "Mach-O arm64"],
  ["dbsweep-windows-x64.exe", "PE32+ x86-64"],
]

describe("release files", () => {
  test.each(expected)("%s is %s", (name, format) => {
    const file = readFileSync(join(dir, name))
    expect(formatOf(file)).toBe(format)
    // A program in it, not only the runtime: the recorded help is defined in.
    expect(file.includes("couch views ensure")).toBe(true)
    if (name.includes("darwin")) expect(signatureProblem(file)).toBeUndefined()
  })

  test("SHA256SUMS lists every file and verifies (sha256sum -c)", () => {
    const sums = readFileSync(join(dir, "SHA256SUMS"), "utf8")
    expect(
      sums
        .trim()
        .split("\n")
        .map((l) => l.split("  ")[1]),
    ).toEqual(expected.map(([n]) => n))
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], {
      cwd: dir,
      stdout: "pipe",
      stderr: "pipe",
    })
    expect(check.stderr.toString()).toBe("")
    expect(check.stdout.toString().trim().split("\n")).toEqual(expected.map(([n]) => `${n}: OK`))
    expect(check.exitCode).toBe(0)
  })

  test("the linux-x64 file runs: --version names its commit and target, a command runs", () => {
    const bin = join(dir, "dbsweep-linux-x64")
    const version = Bun.spawnSync([bin, "--version"], { stdout: "pipe", stderr: "pipe", env: {} })
    expect(version.stdout.toString()).toMatch(/^\d+\.\d+\.\d+ \(commit [0-9a-f]{12}(-dirty)?, linux-x64\)\n/)
    expect(version.exitCode).toBe(0)
    // No server given: the full CLI loads, and says what is missing (exit 2).
    const purge = Bun.spawnSync([bin, "purge", "--db", "x", "--no-env-file"], {
      stdout: "pipe",
      stderr: "pipe",
      env: {},
    })
    expect(purge.stderr.toString()).toContain("COUCHDB_URL")
    expect(purge.exitCode).toBe(2)
  })
})
