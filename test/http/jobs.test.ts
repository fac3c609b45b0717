import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import {
  type CouchTarget,
  checkPurged,
  couch,
  createDb,
  dbInfo,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { auth, post, type Serve, startServe, TOKEN, waitForRun } from "./serve-harness.ts"

let t: CouchTarget
let s: Serve

beforeAll(async () => {
  t = await startCouchTarget()
  s = await startServe({ couch: t, maxBodyBytes: 2048 })
})
afterAll(async () => {
  await s.close()
  await t.stop()
})

describe("the jobs API", () => {
  test("POST /jobs/purge with dryRun counts, then a real run purges every tombstone", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 20, tombstones: 300, conflictedTombstones: 10 })
    const dry = await post(s, "/jobs/purge", { db, dryRun: true })
    expect(dry.status).toBe(202)
    const dryId = ((await dry.json()) as { id: string }).id
    const dryEnd = await waitForRun(s, dryId)
    expect(dryEnd.state).toBe("succeeded")
    expect(dryEnd.summary.tombstones).toBe(310)
    expect((await dbInfo(t, db)).doc_del_count).toBe(310)

    const real = await post(s, "/jobs/purge", { db })
    expect(real.status).toBe(202)
    const end = await waitForRun(s, ((await real.json()) as { id: string }).id)
    expect(end.state).toBe("succeeded")
    expect(end.summary.purgedRevs).toBe(320)
    expect(await checkPurged(t, db, seeded)).toBe("")
    const list = (await (await s.request("/jobs")).json()) as Array<{ id: string }>
    expect(list.map((r) => r.id)).toContain(dryId)
  })

  test("a bad body is 400 naming the field; no JSON content type is 400", async () => {
    const r = await post(s, "/jobs/purge", { db: "orders", concurrency: 0 })
    expect(r.status).toBe(400)
    const body = (await r.json()) as { error: string; message: string }
    expect(body.error).toBe("BadConfig")
    expect(body.message).toContain("concurrency")
    const missing = await post(s, "/jobs/purge", {})
    expect(((await missing.json()) as { message: string }).message).toContain("db")
    const text = await s.request("/jobs/purge", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "text/plain" },
      body: JSON.stringify({ db: "orders" }),
    })
    expect(text.status).toBe(400)
    const broken = await s.request("/jobs/purge", { method: "POST", headers: auth(), body: "{not json" })
    expect(broken.status).toBe(400)
  })

  test("unknown run or job is 404; cleanup without PostgreSQL is 503 unavailable", async () => {
    expect((await s.request("/jobs/purge-999")).status).toBe(404)
    expect((await s.request("/jobs/purge-999", { method: "DELETE", headers: auth() })).status).toBe(404)
    expect((await s.request("/jobs/purge-999/events")).status).toBe(404)
    const unknownJob = await post(s, "/jobs/vacuum", {})
    expect(unknownJob.status).toBe(404)
    expect(((await unknownJob.json()) as { error: string }).error).toBe("NotFound")
    const cleanup = await post(s, "/jobs/cleanup", {})
    expect(cleanup.status).toBe(503)
    expect(((await cleanup.json()) as { message: string }).message).toContain("DATABASE_URL")
  })

  test("a missing or wrong token is 401, and the token never shows in an answer", async () => {
    const none = await post(s, "/jobs/purge", { db: "x" }, { "content-type": "application/json" })
    expect(none.status).toBe(401)
    const wrong = await post(s, "/jobs/purge", { db: "x" }, auth("wrong-token-0123456789"))
    expect(wrong.status).toBe(401)
    expect(await wrong.text()).not.toContain(TOKEN)
    expect((await s.request("/jobs/purge-1", { method: "DELETE" })).status).toBe(401)
  })

  test("an oversized body is 413", async () => {
    const r = await post(s, "/jobs/purge", { db: "x", padding: "y".repeat(5000) })
    expect(r.status).toBe(413)
    expect(((await r.json()) as { error: string }).error).toBe("BadBody")
  })

  test("a second start of the same target is 409 naming the running run; events stream its status", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 400 })
    t.faults?.({ latencyMs: 20 })
    try {
      const first = (
        (await (await post(s, "/jobs/purge", { db, batch: 10, concurrency: 1 })).json()) as { id: string }
      ).id
      const second = await post(s, "/jobs/purge", { db })
      expect(second.status).toBe(409)
      expect(((await second.json()) as { message: string }).message).toContain(first)
      const url = s.listen()
      const events = await fetch(`${url}/jobs/${first}/events`)
      expect(events.headers.get("content-type")).toContain("text/event-stream")
      const text = await events.text()
      const states = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).state as string)
      expect(states[0]).toBe("running")
      expect(states.at(-1)).toBe("succeeded")
    } finally {
      t.faults?.({})
    }
  })

  test("DELETE cancels mid-purge keeping the checkpoint; a new run resumes and every tombstone goes", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 5, tombstones: 1500 })
    t.faults?.({ latencyMs: 10 })
    try {
      const id = (
        (await (await post(s, "/jobs/purge", { db, batch: 20, concurrency: 2 })).json()) as { id: string }
      ).id
      await Bun.sleep(300)
      const stopped = await s.request(`/jobs/${id}`, { method: "DELETE", headers: auth() })
      expect(stopped.status).toBe(200)
      const end = (await stopped.json()) as {
        state: string
        summary: { purgedRevs: number; checkpoint: string }
      }
      expect(end.state).toBe("interrupted")
      expect(end.summary.purgedRevs).toBeGreaterThan(0)
      expect(end.summary.purgedRevs).toBeLessThan(1500)
      const local = await couch(t, "GET", `/${db}/_local/dbsweep-purge`)
      expect(local.status).toBe(200)
      t.faults?.({})
      const next = ((await (await post(s, "/jobs/purge", { db })).json()) as { id: string }).id
      const done = await waitForRun(s, next)
      expect(done.state).toBe("succeeded")
      // Resumed from the checkpoint: only what the first run had not done is purged now.
      expect(done.summary.purgedRevs as number).toBeLessThan(1500)
      expect(end.summary.purgedRevs + (done.summary.purgedRevs as number)).toBeGreaterThanOrEqual(1500)
      expect(await checkPurged(t, db, seeded)).toBe("")
    } finally {
      t.faults?.({})
    }
  })
})
