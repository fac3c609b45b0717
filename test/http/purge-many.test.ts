import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Duration, Option } from "effect"
import { scheduleJobs } from "../../src/http/schedules.ts"
import { every } from "../../src/jobs/schedule.ts"
import {
  type CouchTarget,
  checkPurged,
  couch,
  dbInfo,
  deleteDb,
  type Seeded,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { post, type Serve, startServe, waitForRun } from "./serve-harness.ts"

/** The HTTP mode's purge of many databases: a list or a glob in the body, and in a schedule. */

let t: CouchTarget
let s: Serve
const created: Array<string> = []

beforeAll(async () => {
  t = await startCouchTarget()
  s = await startServe({ couch: t })
})
afterAll(async () => {
  await s.close()
  for (const db of created) await deleteDb(t, db)
  await t.stop()
})

const prefix = () => `httpmany-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

const makeDbs = async (base: string, n: number, tombstones: number) => {
  const seeded = new Map<string, Seeded>()
  for (let i = 0; i < n; i++) {
    const db = `${base}-${i}`
    await couch(t, "PUT", `/${db}`)
    created.push(db)
    seeded.set(db, await seed(t, db, { live: 2, tombstones }))
  }
  return seeded
}

interface ManyStatus {
  state: string
  target: string
  progress: { done: number; total: number; parts?: Array<{ name: string; done: number; total: number }> }
  summary: {
    tombstones: number
    databases: Array<{ db: string; state: string; tombstones?: number }>
    listed?: Array<string>
  }
}

const statusOf = async (id: string) => (await (await s.request(`/jobs/${id}`)).json()) as ManyStatus

describe("POST /jobs/purge of many databases", () => {
  test("a glob in dbs: /jobs shows the databases being purged while it runs, and each in the summary", async () => {
    const base = prefix()
    const seeded = await makeDbs(base, 6, 120)
    t.faults?.({ latencyMs: 15 })
    let seen = new Set<string>()
    let id = ""
    try {
      const r = await post(s, "/jobs/purge", {
        dbs: [`${base}-*`],
        dbConcurrency: 2,
        batch: 10,
        concurrency: 1,
      })
      expect(r.status).toBe(202)
      id = ((await r.json()) as { id: string }).id
      for (;;) {
        const status = await statusOf(id)
        for (const part of status.progress.parts ?? []) seen.add(part.name)
        // Never more databases at work than asked for.
        expect((status.progress.parts ?? []).length).toBeLessThanOrEqual(2)
        if (status.state !== "running") break
        await Bun.sleep(10)
      }
    } finally {
      t.faults?.({})
    }
    const end = await statusOf(id)
    expect(end.state).toBe("succeeded")
    expect(end.target).toBe(`${base}-*`)
    expect(end.summary.databases.map((d) => d.db).sort()).toEqual([...seeded.keys()].sort())
    expect(end.summary.databases.every((d) => d.state === "succeeded" && d.tombstones === 120)).toBe(true)
    expect(end.progress.done).toBe(6 * 120)
    expect(end.progress.parts ?? []).toEqual([])
    for (const [db, seed] of seeded) expect(await checkPurged(t, db, seed)).toBe("")
    // Against the test server the run was slow enough to be seen at work in several databases.
    if (t.faults !== undefined) expect(seen.size).toBeGreaterThanOrEqual(2)
    seen = new Set([...seen].filter((name) => !seeded.has(name)))
    expect([...seen]).toEqual([])
  })

  test("a glob in db is a pattern too; a dry run with list keeps the first ids", async () => {
    const base = prefix()
    const seeded = await makeDbs(base, 3, 4)
    const r = await post(s, "/jobs/purge", { db: `${base}-?`, dryRun: true, list: true })
    expect(r.status).toBe(202)
    const end = (await waitForRun(s, ((await r.json()) as { id: string }).id)) as unknown as ManyStatus
    expect(end.state).toBe("succeeded")
    expect(end.summary.tombstones).toBe(12)
    expect(end.summary.databases).toHaveLength(3)
    expect(end.summary.listed?.length).toBe(10)
    for (const db of seeded.keys()) expect((await dbInfo(t, db)).doc_del_count).toBe(4)
  })

  test("a list with a database that does not exist: the others are purged, the run failed naming it", async () => {
    const base = prefix()
    const seeded = await makeDbs(base, 2, 5)
    const names = [...seeded.keys()]
    const r = await post(s, "/jobs/purge", { dbs: [names[0], `${base}-gone`, names[1]] })
    const end = (await waitForRun(s, ((await r.json()) as { id: string }).id)) as unknown as ManyStatus & {
      error: string
    }
    expect(end.state).toBe("failed")
    expect(end.error).toContain(`${base}-gone (database "${base}-gone" does not exist`)
    for (const [db, seed] of seeded) expect(await checkPurged(t, db, seed)).toBe("")
  })

  test("bad targets are 400 naming them", async () => {
    const r = await post(s, "/jobs/purge", { dbs: ["Orders-*"] })
    expect(r.status).toBe(400)
    const body = (await r.json()) as { message: string }
    expect(body.message).toContain("dbs")
    expect(body.message).toContain("Orders-*")
    const none = await post(s, "/jobs/purge", { dbs: [] })
    expect(none.status).toBe(400)
    const since = await post(s, "/jobs/purge", { dbs: ["a", "b"], since: "12-abc" })
    expect(since.status).toBe(400)
    expect(((await since.json()) as { message: string }).message).toContain("since")
  })

  test("a schedule takes names and globs separated by commas", async () => {
    const own = await startServe({ couch: t })
    try {
      const base = prefix()
      const seeded = await makeDbs(base, 3, 7)
      const [a, b, c] = [...seeded.keys()]
      await own.runtime.runPromise(
        scheduleJobs({
          purge: Option.some(every(Duration.hours(1))),
          purgeDb: Option.some(`${a}, ${base}-1*`),
          cleanup: Option.none(),
        }),
      )
      let runs: Array<ManyStatus & { trigger: string }> = []
      for (let i = 0; i < 400; i++) {
        runs = (await (await own.request("/jobs")).json()) as typeof runs
        if (runs.some((r) => r.state !== "running")) break
        await Bun.sleep(25)
      }
      const run = runs.find((r) => r.trigger === "schedule")!
      expect(run.state).toBe("succeeded")
      expect(run.target).toBe(`${a}, ${base}-1*`)
      expect(run.summary.databases.map((d) => d.db)).toEqual([a!, b!])
      expect(await checkPurged(t, a!, seeded.get(a!)!)).toBe("")
      expect((await dbInfo(t, c!)).doc_del_count).toBe(7)
    } finally {
      await own.close()
    }
  })
})
