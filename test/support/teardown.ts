/**
 * Preloaded by bun test (bunfig.toml): an afterAll here runs once, after every test file, and
 * stops the PostgreSQL server the suites shared, so no process or temp dir outlives the run.
 */
import { afterAll } from "bun:test"
import { stopPgServer } from "./pg-server.ts"

afterAll(stopPgServer)
