/**
 * Preloaded by bun test (bunfig.toml): an afterAll here runs once, after every test file, and
 * stops the PostgreSQL server the suites shared and removes the temp dirs handed out by
 * temp-dirs.ts, so no process or temp dir outlives the run.
 */
import { afterAll } from "bun:test"
import { stopPgServer } from "./pg-server.ts"
import { removeTempDirs } from "./temp-dirs.ts"

afterAll(async () => {
  removeTempDirs()
  await stopPgServer()
})
