import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import {
  type CouchTarget,
  couch,
  createDb,
  dbUrlWithCredentials,
  seed,
  startCouchTarget,
  waitForReplication,
} from "../support/couch-target.ts"
import { post, type Serve, startServe, waitForRun } from "./serve-harness.ts"

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

/** Parses Prometheus text strictly: every line a comment or `name{labels} value`. */
const parseProm = (text: string) => {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  for (const line of text.split("\n")) {
    if (line === "") continue
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (type) {
      types.set(type[1]!, type[2]!)
      continue
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+]+|\+Inf|NaN)$/.exec(
        line,
      )
    if (m === null) throw new Error(`not Prometheus text: ${line}`)
    samples.set(m[1]!, Number(m[2]))
  }
  return { samples, types }
}

describe("observability", () => {
  test("/healthz and /readyz answer; /readyz is 503 naming a backend that does not answer", async () => {
    expect(await (await s.request("/healthz")).json()).toEqual({ ok: true })
    const ready = await s.request("/readyz")
    expect(ready.status).toBe(200)
    expect(((await ready.json()) as { backends: Array<{ ok: boolean }> }).backends).toEqual([
      expect.objectContaining({ ok: true }),
    ])
    const down = await startServe({
      couch: { ...t, url: "http://127.0.0.1:1" },
    })
    const r = await down.request("/readyz")
    expect(r.status).toBe(503)
    const body = (await r.json()) as { backends: Array<{ ok: boolean; message: string }> }
    expect(body.backends[0]?.ok).toBe(false)
    expect(body.backends[0]?.message).not.toContain(t.password)
    await down.close()
  })

  test("/metrics parses as Prometheus text and its counters move by what the run's summary says", async () => {
    const before = parseProm(await (await s.request("/metrics")).text()).samples
    const db = await createDb(t)
    await seed(t, db, { tombstones: 250, conflictedTombstones: 5 })
    const id = ((await (await post(s, "/jobs/purge", { db, batch: 50 })).json()) as { id: string }).id
    const end = await waitForRun(s, id)
    const res = await s.request("/metrics")
    expect(res.headers.get("content-type")).toContain("text/plain")
    const { samples, types } = parseProm(await res.text())
    const delta = (name: string) => (samples.get(name) ?? 0) - (before.get(name) ?? 0)
    expect(delta("dbsweep_purge_revs_purged_total")).toBe(end.summary.purgedRevs as number)
    expect(delta("dbsweep_purge_requests_total")).toBe(end.summary.requests as number)
    expect(end.summary.purgedRevs).toBe(260)
    expect(types.get("dbsweep_job_duration_seconds")).toBe("histogram")
    expect(delta('dbsweep_job_duration_seconds_count{job="purge"}')).toBe(1)
    expect(samples.get('dbsweep_jobs_running{job="purge"}')).toBe(0)
  })

  test("/metrics counts what the safety caps held back, by reason, as the run's summary does; a dry run adds nothing", async () => {
    const metrics = async () => parseProm(await (await s.request("/metrics")).text()).samples
    const held = (reason: string) => `dbsweep_purge_held_back_total{reason="${reason}"}`
    const reasons = ["grace", "replication", "replication-error"]
    const run = async (body: Record<string, unknown>) => {
      const before = await metrics()
      const id = ((await (await post(s, "/jobs/purge", body)).json()) as { id: string }).id
      const end = await waitForRun(s, id)
      const after = await metrics()
      const moved = Object.fromEntries(
        reasons.map((r) => [r, (after.get(held(r)) ?? 0) - (before.get(held(r)) ?? 0)]),
      )
      return { summary: end.summary as { heldBack: Record<string, number>; purgedRevs: number }, moved }
    }
    const types = parseProm(await (await s.request("/metrics")).text()).types
    expect(types.get("dbsweep_purge_held_back_total")).toBe("counter")
    // Every reason has its series from the start.
    for (const r of reasons) expect((await metrics()).has(held(r))).toBe(true)

    // A first run with --grace holds every tombstone back (no observation old enough yet).
    const db = await createDb(t)
    await seed(t, db, { tombstones: 40, live: 3 })
    const dry = await run({ db, grace: "1d", dryRun: true })
    expect(dry.summary.heldBack.grace).toBe(40)
    expect(dry.moved).toEqual({ grace: 0, replication: 0, "replication-error": 0 })
    const graced = await run({ db, grace: "1d" })
    expect(graced.summary.purgedRevs).toBe(0)
    expect(graced.summary.heldBack.grace).toBe(40)
    expect(graced.moved).toEqual(graced.summary.heldBack)

    // A replication from the database in an error state holds it all back as replication-error
    // (which outranks the grace: each tombstone is counted once, under its first reason).
    await couch(t, "PUT", "/_replicator")
    const replicationDb = await createDb(t)
    await seed(t, replicationDb, { tombstones: 12 })
    const doc = `dbsweep-metrics-${replicationDb}`
    const { id: repId, rev } = (
      await couch(t, "PUT", `/_replicator/${doc}`, {
        source: dbUrlWithCredentials(t, replicationDb),
        target: dbUrlWithCredentials(t, `${replicationDb}-nosuch`),
      })
    ).body as { id: string; rev: string }
    try {
      await waitForReplication(t, doc, ["crashing", "error", "failed"])
      const broken = await run({ db: replicationDb, grace: "1d", respectReplications: true })
      expect(broken.summary.purgedRevs).toBe(0)
      expect(broken.summary.heldBack).toEqual({ grace: 0, replication: 0, "replication-error": 12 })
      expect(broken.moved).toEqual(broken.summary.heldBack)
    } finally {
      await couch(t, "DELETE", `/_replicator/${repId}?rev=${rev}`)
    }
  })

  test("/openapi.json is an OpenAPI 3 document listing every route, with the jobs' Schemas", async () => {
    const doc = (await (await s.request("/openapi.json")).json()) as {
      openapi: string
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> }
    }
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/)
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
    expect(routes.sort()).toEqual(
      [
        "GET /",
        "GET /page/{part}",
        "GET /databases",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /schedules",
        "GET /jobs",
        "POST /jobs/purge",
        "POST /jobs/cleanup",
        "POST /jobs/migrate",
        "GET /jobs/{id}",
        "DELETE /jobs/{id}",
        "GET /jobs/{id}/events",
        "GET /docs",
        "GET /docs/{collection}",
        "GET /docs/{collection}/{id}",
        "PUT /docs/{collection}/{id}",
        "DELETE /docs/{collection}/{id}",
      ].sort(),
    )
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) expect(Object.keys(op.responses).length).toBeGreaterThan(0)
    }
    // Every $ref resolves inside the document.
    for (const [, name] of JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      expect(doc.components.schemas[name!]).toBeDefined()
    }
    expect(Object.keys(doc.components.schemas.PurgeOptions?.properties ?? {})).toContain("dryRun")
    expect(Object.keys(doc.components.schemas.CleanupOptions?.properties ?? {})).toContain("batchSize")
    // Each documented route answers something other than "no such route".
    for (const route of routes.filter((r) => r.startsWith("GET") && !r.includes("{"))) {
      const r = await s.request(route.slice(4))
      expect((await r.clone().text()).includes('"NotFound"') ? route : "").toBe("")
    }
  })

  test("status and metrics are refused from another host unless --public-status or the token", async () => {
    expect((await s.request("/metrics", {}, "10.1.2.3")).status).toBe(403)
    expect((await s.request("/jobs", {}, "10.1.2.3")).status).toBe(403)
    expect((await s.request("/healthz", {}, "10.1.2.3")).status).toBe(200)
    const open = await startServe({ publicStatus: true })
    expect((await open.request("/jobs", {}, "10.1.2.3")).status).toBe(200)
    await open.close()
  })

  test("a server without a token takes changes from loopback only", async () => {
    const local = await startServe({ token: undefined })
    const body = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }
    // Past auth (purge is simply not configured here), from this host…
    expect((await local.request("/jobs/purge", body)).status).toBe(503)
    // …and refused from any other.
    expect((await local.request("/jobs/purge", body, "10.1.2.3")).status).toBe(401)
    await local.close()
  })
})
