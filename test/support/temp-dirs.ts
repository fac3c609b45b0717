/**
 * Temp dirs for tests, removed after the whole run (test/support/teardown.ts): a suite's helpers
 * hand them out to many tests, and no test dir outlives the run.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const made: Array<string> = []

/** A fresh dir under the system's temp dir, `prefix` first in its name. */
export const tempDir = (prefix = "dbsweep-test-") => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** Removes every dir `tempDir` made. */
export const removeTempDirs = () => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
}
