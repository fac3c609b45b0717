import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Duration, Effect, Exit, Option } from "effect"
import { scheduleJobs } from "../../src/http/schedules.ts"
import { every } from "../../src/jobs/schedule.ts"
import {
  type CouchTarget,
  checkPurged,
  couch,
  createDb,
  dbInfo,
  deleteDb,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { post, type Serve, startServe, waitForRun } from "./serve-harness.ts"

/**
 * Leases in the HTTP mode: `leaseTtl` in POST /jobs/purge bodies and in the purge schedule; a
 * database another purger holds is a run that succeeded with the database skipped, shown in
 * /jobs and on the status page.
 */

let t: CouchTarget
let s: Serve
const created: Array<string> = []
const leases: Array<{ path: string; rev: string }> = []

beforeAll(async () => {
  t = await startCouchTarget()
  s = await startServe({ couch: t })
})
afterAll(async () => {
  await s.close()
  for (const l of leases) await couch(t, "DELETE", `${l.path}?rev=${l.rev}`)
  for (const db of created) await deleteDb(t, db)
  await t.stop()
})

const leasePath = (db: string) => `/dbsweep_leases/${encodeURIComponent(`purge:${db}`)}`

const other = "other-host:777:0badc0de"

/** A database with tombstones whose lease another purger holds for ten minutes. */
const heldDb = async (prefix = "httplease") => {
  const db = await createDb(t, prefix)
  created.push(db)
  await seed(t, db, { live: 2, tombstones: 9 })
  expect([201, 412]).toContain((await couch(t, "PUT", "/dbsweep_leases")).status)
  const expires = new Date(Date.now() + 10 * 60_000).toISOString()
  const put = await couch(t, "PUT", leasePath(db), { holder: other, expires_at: expires })
  expect(put.status).toBe(201)
  leases.push({ path: leasePath(db), rev: (put.body as { rev: string }).rev })
  return { db, expires }
}

describe("leases in the HTTP mode", () => {
  test("a purge of a held database succeeds with it skipped: /jobs and the page say held by another purger", async () => {
    const { db, expires } = await heldDb()
    const r = await post(s, "/jobs/purge", { db, leaseTtl: "30s" })
    expect(r.status).toBe(202)
    const end = await waitForRun(s, ((await r.json()) as { id: string }).id)
    expect(end.state).toBe("succeeded")
    expect(end.summary).toMatchObject({
      db,
      state: "skipped",
      reason: "held by another purger",
      holder: other,
      expiresAt: expires,
    })
    expect((await dbInfo(t, db)).doc_del_count).toBe(9)
    const history = await (await s.request("/page/history")).text()
    expect(history).toContain("held by another purger")
    expect(history).toContain(other)
  })

  test("of several databases the held one is skipped, the others purged; the summary counts it", async () => {
    const { db } = await heldDb("httpleasemany")
    const free = await createDb(t, "httpleasemany")
    created.push(free)
    const seeded = await seed(t, free, { live: 2, tombstones: 5 })
    const r = await post(s, "/jobs/purge", { dbs: [db, free], leaseTtl: "1m" })
    expect(r.status).toBe(202)
    const end = await waitForRun(s, ((await r.json()) as { id: string }).id)
    expect(end.state).toBe("succeeded")
    expect(end.summary).toMatchObject({ succeeded: 1, skipped: 1, failed: 0 })
    const dbs = end.summary.databases as Array<{ db: string; state: string; holder?: string }>
    expect(dbs.find((d) => d.db === db)).toMatchObject({ state: "skipped", holder: other })
    expect(dbs.find((d) => d.db === free)?.state).toBe("succeeded")
    expect(await checkPurged(t, free, seeded)).toBe("")
    const history = await (await s.request("/page/history")).text()
    expect(history).toContain("1 skipped: held by another purger")
  })

  test("a leaseTtl under a second, or not a duration, is a 400 naming leaseTtl", async () => {
    for (const leaseTtl of ["500ms", "soon", "2d"]) {
      const r = await post(s, "/jobs/purge", { db: "anything", leaseTtl })
      expect(r.status).toBe(400)
      expect(((await r.json()) as { message: string }).message).toContain("leaseTtl")
    }
  })

  test("the purge schedule takes a lease TTL, checked like the body's", async () => {
    const own = await startServe({ couch: t })
    try {
      const { db } = await heldDb("httpleasesched")
      const bad = await own.runtime.runPromiseExit(
        scheduleJobs({
          purge: Option.some(every(Duration.hours(1))),
          purgeDb: Option.some(db),
          purgeLeaseTtl: Option.some("10ms"),
          cleanup: Option.none(),
        }),
      )
      expect(Exit.isFailure(bad)).toBe(true)
      if (Exit.isFailure(bad)) expect(String(bad.cause)).toContain("leaseTtl")
      await own.runtime.runPromise(
        scheduleJobs({
          purge: Option.some(every(Duration.hours(1))),
          purgeDb: Option.some(db),
          purgeLeaseTtl: Option.some("90s"),
          cleanup: Option.none(),
        }).pipe(Effect.asVoid),
      )
      let runs: Array<{ state: string; trigger: string; summary?: { state?: string } }> = []
      for (let i = 0; i < 400 && !runs.some((r) => r.state !== "running"); i++) {
        await Bun.sleep(25)
        runs = (await (await own.request("/jobs")).json()) as typeof runs
      }
      const run = runs.find((r) => r.trigger === "schedule")
      expect(run?.state).toBe("succeeded")
      expect(run?.summary?.state).toBe("skipped")
    } finally {
      await own.close()
    }
  })
})
