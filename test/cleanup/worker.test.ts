import { afterEach, describe, expect, test } from "bun:test"
import { startCleanupWorker } from "../../src/index.ts"
import { connect, count, seed } from "../support/pg-fixtures.ts"
import { freshDatabase } from "../support/pg-server.ts"

const opened: Array<{ end: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.end()))
})

const matching = `select 1 from pending_users p where exists (select 1 from users u where lower(u.email) = lower(p.email))`

describe("startCleanupWorker (library API)", () => {
  test("runNow deletes and returns the count; status reports the last run; stop closes it", async () => {
    const url = await freshDatabase("worker")
    const sql = connect(url)
    opened.push(sql)
    await seed(sql, { users: 100, pending: 100 })
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
    const url = await freshDatabase("worker")
    const sql = connect(url)
    opened.push(sql)
    await seed(sql, { users: 40, pending: 40 })
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
