import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Duration, Option } from "effect"
import { scheduleJobs } from "../../src/http/schedules.ts"
import { every } from "../../src/jobs/schedule.ts"
import { type CouchTarget, createDb, deleteDb, seed, startCouchTarget } from "../support/couch-target.ts"
import { type Serve, startServe } from "./serve-harness.ts"

let t: CouchTarget
let s: Serve

beforeAll(async () => {
  t = await startCouchTarget()
  s = await startServe({ couch: t })
})
afterAll(async () => {
  await s.close()
  await t.stop()
})

interface Run {
  readonly trigger: string
  readonly startedAt: string
  readonly finishedAt: string | undefined
  readonly state: string
}

describe("schedules inside the server", () => {
  test("a purge every 150ms fires repeatedly, runs never overlap, and /schedules shows the next run", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 200 })
    // Each run takes longer than the interval: a new one must still wait for the last to end.
    t.faults?.({ latencyMs: 40 })
    try {
      await s.runtime.runPromise(
        scheduleJobs({
          purge: Option.some(every(Duration.millis(150))),
          purgeDb: Option.some(db),
          cleanup: Option.none(),
        }),
      )
      const deadline = Date.now() + 20_000
      let runs: Array<Run> = []
      while (Date.now() < deadline) {
        runs = ((await (await s.request("/jobs")).json()) as Array<Run>).filter(
          (r) => r.trigger === "schedule",
        )
        if (runs.filter((r) => r.state !== "running").length >= 3) break
        await Bun.sleep(50)
      }
      const finished = runs.filter((r) => r.finishedAt !== undefined)
      expect(finished.length).toBeGreaterThanOrEqual(3)
      expect(runs.filter((r) => r.state === "running").length).toBeLessThanOrEqual(1)
      const ordered = [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt))
      for (let i = 1; i < ordered.length; i++) {
        expect(ordered[i]!.startedAt >= ordered[i - 1]!.finishedAt!).toBe(true)
      }
      let schedule: { schedule: string; nextRunAt?: string; runs: number } | undefined
      for (let i = 0; i < 100 && schedule?.nextRunAt === undefined; i++) {
        schedule = ((await (await s.request("/schedules")).json()) as Array<typeof schedule>)[0]
        await Bun.sleep(10)
      }
      expect(schedule?.schedule).toBe("every 150ms")
      expect(Date.parse(schedule?.nextRunAt ?? "")).toBeGreaterThan(Date.now() - 1000)
      const page = await (await s.request("/")).text()
      expect(page).toContain("every 150ms")
    } finally {
      t.faults?.({})
    }
  })

  test("the page's schedules: the next run as a time and a countdown, the last outcome, the error that stopped one", async () => {
    const own = await startServe({ couch: t })
    const db = await createDb(t)
    try {
      await seed(t, db, { tombstones: 20 })
      await own.runtime.runPromise(
        scheduleJobs({
          purge: Option.some(every(Duration.hours(1))),
          purgeDb: Option.some(db),
          cleanup: Option.none(),
        }),
      )
      // A database that does not exist: no later run can succeed, so the schedule stops.
      await own.runtime.runPromise(
        scheduleJobs({
          purge: Option.some(every(Duration.hours(1))),
          purgeDb: Option.some(`${db}-missing`),
          cleanup: Option.none(),
        }),
      )
      let html = ""
      for (let i = 0; i < 400; i++) {
        html = await (await own.request("/page/schedules")).text()
        if (html.includes("state-stopped") && html.includes("succeeded (purge-")) break
        await Bun.sleep(25)
      }
      const rows = html.split("<tr data-schedule=").slice(1)
      expect(rows).toHaveLength(2)
      const waiting = rows.find((r) => r.includes("state-waiting"))!
      const next = /<time datetime="([^"]+)">/.exec(waiting)?.[1]
      expect(Date.parse(next ?? "") - Date.now()).toBeGreaterThan(59 * 60_000)
      expect(waiting).toContain(`<span class="countdown" data-at="${next}">`)
      expect(waiting).toMatch(/succeeded \(purge-\d+\)/)
      const stopped = rows.find((r) => r.includes("state-stopped"))!
      expect(stopped).toMatch(/failed \(purge-\d+\)/)
      expect(stopped).toContain("does not exist")
    } finally {
      await own.close()
      await deleteDb(t, db)
    }
  })
})
