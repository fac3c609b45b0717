import { afterEach, describe, expect, test } from "bun:test"
import { startCleanupWorker } from "../../src/index.ts"
import { closeDatabases, count, matching, seededDatabase } from "../support/pg-fixtures.ts"

afterEach(closeDatabases)

describe("startCleanupWorker (library API)", () => {
  test("runNow deletes and returns the count; status reports the last run; stop closes it", async () => {
    const { url, sql } = await seededDatabase({ users: 100, pending: 100 }, "worker")
    const worker = await startCleanupWorker({ databaseUrl: url })
    try {
      const before = await worker.status()
      expect(before.running).toBe(false)
      expect(before.lastRun).toBeUndefined()
      expect(await worker.runNow()).toBe(50)
      expect(await count(sql, matching)).toBe(0)
      const after = await worker.status()
      expect(after.lastRun?.deleted).toBe(50)
      expect(after.runs).toBe(1)
      expect(await worker.runNow()).toBe(0)
    } finally {
      await worker.stop()
    }
  })

  test("a schedule runs by itself and status shows it", async () => {
    const { url, sql } = await seededDatabase({ users: 40, pending: 40 }, "worker")
    const worker = await startCleanupWorker({ databaseUrl: url, every: "200ms" })
    try {
      // The rows go when the batch commits; the run is counted when it ends, a moment later.
      for (let i = 0; i < 100 && (await worker.status()).runs === 0; i++) await Bun.sleep(50)
      expect(await count(sql, matching)).toBe(0)
      const status = await worker.status()
      expect(status.schedule).toContain("200")
      expect(status.runs).toBeGreaterThanOrEqual(1)
    } finally {
      await worker.stop()
    }
  })

  test("bad settings reject with a one-line message", async () => {
    await expect(
      startCleanupWorker({ databaseUrl: "postgres://x@127.0.0.1:1/x", every: "soon" }),
    ).rejects.toThrow(/every/)
  })
})
