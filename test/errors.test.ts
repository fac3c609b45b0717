/**
 * The one error table: every error class dbsweep defines has a row (the table's `satisfies` makes
 * a missing row a compile error for the AppError union; this test also catches an error class
 * that was never added to the union), and the meanings the CLI and HTTP mode rely on hold.
 */
import { describe, expect, test } from "bun:test"
import { join } from "node:path"
import { Glob } from "bun"
import * as CouchErrors from "../src/couch/errors.ts"
import * as DocsErrors from "../src/docs/errors.ts"
import { classify, classifyUnknown, ExitCode, meanings } from "../src/errors.ts"
import * as PgErrors from "../src/pg/errors.ts"
import { LeaseStoreError } from "../src/purge/lease-errors.ts"
import * as SharedErrors from "../src/shared/errors.ts"

/** The tags of every Schema.TaggedError class a module exports. */
const tagsOf = (module: Record<string, unknown>) =>
  Object.values(module).flatMap((value) =>
    typeof value === "function" && "_tag" in value && typeof value._tag === "string" && "fields" in value
      ? [value._tag]
      : [],
  )

describe("the error table", () => {
  test("has a row for every error class in src/, and no row for a tag that does not exist", async () => {
    // Every module that defines a tagged error, wherever it is (a new one is found without listing it).
    const root = join(import.meta.dir, "..", "src")
    const modules = []
    for await (const file of new Glob("**/*.ts").scan(root)) {
      const text = await Bun.file(join(root, file)).text()
      if (file !== "main.ts" && text.includes("Schema.TaggedError"))
        modules.push(await import(join(root, file)))
    }
    const tags = modules.flatMap((m) => tagsOf(m as Record<string, unknown>))
    expect(tags.length).toBeGreaterThan(20)
    expect(new Set(Object.keys(meanings))).toEqual(new Set(tags))
  })

  test("exit codes: settings 2, connection and login 3, failed work 1; 5xx after retries is 1", () => {
    expect(classify(new SharedErrors.ConfigError({ message: "x" })).exitCode).toBe(ExitCode.usage)
    const down = new CouchErrors.CouchUnavailable({
      server: "s",
      operation: "o",
      kind: "network",
      reason: "r",
    })
    const busy = new CouchErrors.CouchUnavailable({
      server: "s",
      operation: "o",
      kind: "status",
      status: 503,
      reason: "r",
    })
    expect(classify(down).exitCode).toBe(ExitCode.connect)
    expect(classify(busy).exitCode).toBe(ExitCode.failures)
    expect(classify(new PgErrors.PgAuthError({ target: "t", reason: "r" })).exitCode).toBe(ExitCode.connect)
    expect(classify(new SharedErrors.JobFailed({ message: "x" })).exitCode).toBe(ExitCode.failures)
    expect(classifyUnknown(new Error("boom")).exitCode).toBe(ExitCode.failures)
  })

  test("the lease database refused to this account is 3 and stops a schedule; a server failing on it is 1", () => {
    const lease = (refused: boolean) =>
      new LeaseStoreError({
        server: "s",
        db: "d",
        operation: "PUT /dbsweep_leases/purge:d",
        reason: "r",
        refused,
      })
    expect(classify(lease(true))).toMatchObject({
      exitCode: ExitCode.connect,
      stopsSchedule: true,
      retryable: false,
    })
    expect(classify(lease(false))).toMatchObject({ exitCode: ExitCode.failures, stopsSchedule: false })
  })

  test("a refused login stops a schedule and is never retried; an unreachable server is retried", () => {
    const refused = new CouchErrors.CouchUnauthorized({ server: "s", operation: "o", reason: "r" })
    const locked = new CouchErrors.CouchForbidden({
      server: "s",
      operation: "o",
      reason: "Account is temporarily locked",
    })
    for (const e of [refused, locked, new PgErrors.PgAuthError({ target: "t", reason: "r" })]) {
      expect(classify(e).stopsSchedule).toBe(true)
      expect(classify(e).retryable).toBe(false)
    }
    const down = new CouchErrors.CouchUnavailable({
      server: "s",
      operation: "o",
      kind: "timeout",
      reason: "r",
    })
    expect(classify(down).retryable).toBe(true)
    expect(classify(down).stopsSchedule).toBe(false)
  })

  test("retrying is judged where the error is made; the table reads the same judgement", () => {
    const lock = new PgErrors.PgLockTimeout({ operation: "o" })
    const query = new PgErrors.PgQueryError({ operation: "o", code: "42601", reason: "r" })
    expect(PgErrors.isRetryable(lock)).toBe(true)
    expect(PgErrors.isRetryable(query)).toBe(false)
    expect(classify(lock).retryable).toBe(true)
    expect(classify(query).retryable).toBe(false)
    const passing = new DocsErrors.StoreUnavailable({ store: "s", reason: "r", retryable: true })
    const broken = new DocsErrors.StoreUnavailable({ store: "s", reason: "r", retryable: false })
    expect(DocsErrors.isRetryable(passing)).toBe(true)
    expect(classify(passing).retryable).toBe(true)
    expect(classify(broken).retryable).toBe(false)
    const conflict = new CouchErrors.CouchConflict({ server: "s", path: "p" })
    expect(CouchErrors.isRetryable(conflict)).toBe(false)
    expect(classify(conflict).retryable).toBe(false)
  })

  test("HTTP statuses: upstream refusals are 502, not the caller's 401", () => {
    expect(
      classify(new CouchErrors.CouchUnauthorized({ server: "s", operation: "o", reason: "r" })).httpStatus,
    ).toBe(502)
    expect(
      classify(new DocsErrors.DocNotFound({ store: "memory", collection: "c", id: "x" })).httpStatus,
    ).toBe(404)
    expect(classify(new SharedErrors.ConfigError({ message: "x" })).httpStatus).toBe(400)
  })
})
