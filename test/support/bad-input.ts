/**
 * What every failure the user meets must look like: the right exit code, one `dbsweep: …` line that
 * names the flag, variable or server at fault, no internal noise, and no secret in any form.
 * Used by the table-driven bad-input suites (test/cli/bad-input-*.test.ts).
 */
import { expect } from "bun:test"
import type { RunResult } from "./binary.ts"

/** Text that means a crash or an internal dump reached the user. */
export const noise: ReadonlyArray<RegExp> = [
  /internal error/i,
  /^\s+at /m,
  /Bun v\d/,
  /FiberFailure/,
  /\[object Object\]/,
  /Expected .* actual/i,
  /└─|├─/, // Schema's tree formatter
  /TypeError:/,
  /pass verbose: true/,
  /error: script/,
  /node_modules/,
]

/** A secret in every form it could leak: plain, percent-encoded, and base64 of user:password. */
export const secretForms = (secret: string, user?: string): ReadonlyArray<string> => {
  const forms = new Set([secret, encodeURIComponent(secret)])
  if (user !== undefined) {
    forms.add(btoa(`${user}:${secret}`))
    forms.add(Buffer.from(`${user}:${secret}`).toString("base64url"))
  }
  return [...forms].filter((f) => f.length >= 4)
}

export interface Expectation {
  /** Exit code. */
  readonly code: number
  /** Each must appear (case-insensitive) in the error line: the flag, variable or server at fault. */
  readonly names: ReadonlyArray<string>
  /** Secrets that must appear nowhere in stdout or stderr. */
  readonly secrets?: ReadonlyArray<string>
  /** The user the secrets belong to (for the base64 form of user:password). */
  readonly user?: string
}

/** The `dbsweep: …` lines on stderr (usage errors from the parser are checked by name instead). */
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("dbsweep: "))

/** Asserts a failed run meets the contract above; returns its error line. */
export const expectCleanFailure = (r: RunResult, e: Expectation): string => {
  const all = `${r.stdout}\n${r.stderr}`
  const context = `exit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`
  expect(r.code, context).toBe(e.code)
  for (const pattern of noise) expect(pattern.test(all), `${pattern} in output\n${context}`).toBe(false)
  for (const secret of e.secrets ?? []) {
    for (const form of secretForms(secret, e.user)) {
      expect(all.includes(form), `secret form "${form}" in output\n${context}`).toBe(false)
    }
  }
  const lines = errorLines(r.stderr)
  expect(lines.length, `one "dbsweep:" line\n${context}`).toBe(1)
  const line = lines[0]!
  for (const name of e.names) {
    expect(line.toLowerCase().includes(name.toLowerCase()), `"${name}" named in: ${line}`).toBe(true)
  }
  return line
}
