/**
 * One purger per database across hosts, from the compiled binary: two purges of one database
 * started at once (one purges, the other skips it), a lease left by a SIGKILLed run expiring, a
 * database of many held elsewhere while the others go on. Checked from the server's own record:
 * `purge_seq` grows by one per id asked to purge (COUCHDB-FACTS §7), so each id purged once shows
 * as a prefix equal to the number of tombstones. HTTP only: runs against a real CouchDB too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expectCleanFailure } from "../support/bad-input.ts"
import { runBinary, spawnBinary } from "../support/binary.ts"
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
import { httpServer } from "../support/hostile.ts"

let t: CouchTarget
const cwd = mkdtempSync(join(tmpdir(), "dbsweep-lease-"))
const created: Array<string> = []

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  t.faults?.({})
  for (const db of created) await deleteDb(t, db)
  await t.stop()
  rmSync(cwd, { recursive: true, force: true })
})

const env = () => ({ COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD: t.password })

const newDb = async (prefix = "dbsweep-lease") => {
  const db = await createDb(t, prefix)
  created.push(db)
  return db
}

/** The server's own count of ids asked to purge (facts §7). */
const purgeRequests = async (db: string) => {
  const info = await couch(t, "GET", `/${db}`)
  return Number((info.body as { purge_seq: string }).purge_seq.split("-")[0])
}

const leasePath = (db: string) => `/dbsweep_leases/${encodeURIComponent(`purge:${db}`)}`

interface LeaseDocBody {
  _rev: string
  holder: string
  expires_at: string
}

interface Outcome {
  db: string
  state?: string
  reason?: string
  holder?: string
  expiresAt?: string
  lease?: string
  tombstones?: number
  purgedRevs?: number
}

describe("dbsweep purge: one purger per database (leases)", () => {
  test("two purges of one database started at once: one purges every id once, the other skips it as held", async () => {
    const db = await newDb()
    const seeded = await seed(t, db, { live: 20, tombstones: 360, conflictedTombstones: 20 })
    t.faults?.({ latencyMs: 20 })
    try {
      // --max-rate makes each purge take seconds, so the two overlap on any server.
      const args = ["purge", "--no-env-file", "--db", db, "--json", "--max-rate", "120"]
      const runs = await Promise.all([
        runBinary(args, { env: env(), cwd, timeoutMs: 90_000 }),
        runBinary(args, { env: env(), cwd, timeoutMs: 90_000 }),
      ])
      for (const r of runs)
        expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" })
      const summaries = runs.map((r) => JSON.parse(r.stdout) as Outcome)
      const skipped = summaries.filter((s) => s.state === "skipped")
      const purged = summaries.filter((s) => s.state === undefined)
      expect(skipped.length).toBe(1)
      expect(purged.length).toBe(1)
      expect(skipped[0]).toMatchObject({ db, reason: "held by another purger" })
      // The holder is the other process: host, pid and a random part; its lease's expiry and place.
      expect(skipped[0]!.holder).toMatch(/^.+:\d+:[0-9a-f]{8}$/)
      expect(Number.isNaN(Date.parse(skipped[0]!.expiresAt ?? ""))).toBe(false)
      expect(skipped[0]!.lease).toBe(`${t.url}/dbsweep_leases/purge:${db}`)
      expect(purged[0]).toMatchObject({ tombstones: 380, purgedRevs: 400 })
    } finally {
      t.faults?.({})
    }
    // The server's record: every tombstone id asked once, all gone, the live documents kept.
    expect(await purgeRequests(db)).toBe(380)
    expect(await checkPurged(t, db, seeded)).toBe("")
    // Released at the end.
    expect((await couch(t, "GET", leasePath(db))).status).toBe(404)
  }, 120_000)

  test("a lease left by a SIGKILLed run expires, and a run after the TTL takes over and purges everything", async () => {
    const db = await newDb()
    const seeded = await seed(t, db, { live: 10, tombstones: 400 })
    t.faults?.({ latencyMs: 30 })
    const proc = spawnBinary(
      ["purge", "--no-env-file", "--db", db, "--lease-ttl", "2s", "--max-rate", "50", "--log-format", "json"],
      { env: env(), cwd },
    )
    let lease: LeaseDocBody | undefined
    try {
      // Mid-purge: the lease taken and some tombstones gone.
      const deadline = Date.now() + 60_000
      for (;;) {
        if (Date.now() > deadline) throw new Error("the purge never got under way")
        const doc = await couch(t, "GET", leasePath(db))
        if (doc.status === 200 && (await dbInfo(t, db)).doc_del_count < 350) break
        await Bun.sleep(50)
      }
      proc.kill("SIGKILL")
      await proc.exited
      lease = (await couch(t, "GET", leasePath(db))).body as LeaseDocBody
    } finally {
      proc.kill("SIGKILL")
      t.faults?.({})
    }
    // The killed run's lease is still there, its own, running out within the TTL.
    expect(lease.holder).toContain(`:${proc.pid}:`)
    const expiresAt = Date.parse(lease.expires_at)
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(2000)
    expect((await dbInfo(t, db)).doc_del_count).toBeGreaterThan(0)

    await Bun.sleep(Math.max(0, expiresAt - Date.now()) + 100)
    const r = await runBinary(
      ["purge", "--no-env-file", "--db", db, "--lease-ttl", "2s", "--json", "--log-format", "json"],
      {
        env: env(),
        cwd,
        timeoutMs: 90_000,
      },
    )
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" })
    expect((JSON.parse(r.stdout) as Outcome).state).toBeUndefined()
    expect(r.stderr).toContain(`taking over the expired lease of ${lease.holder}`)
    expect(await checkPurged(t, db, seeded)).toBe("")
    expect((await dbInfo(t, db)).doc_del_count).toBe(0)
    expect((await couch(t, "GET", leasePath(db))).status).toBe(404)
  }, 120_000)

  test("of several databases, one held by another purger is skipped (exit 0) and the others go on; deleting its lease by hand frees it", async () => {
    const base = `lease-many-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
    const held = await newDb(`${base}-a`)
    const free = await newDb(`${base}-b`)
    const heldSeed = await seed(t, held, { live: 3, tombstones: 30 })
    const freeSeed = await seed(t, free, { live: 3, tombstones: 30 })
    // Another purger's live lease, as a purge on another host would have written it.
    expect([201, 412]).toContain((await couch(t, "PUT", "/dbsweep_leases")).status)
    const expires = new Date(Date.now() + 10 * 60_000).toISOString()
    const put = await couch(t, "PUT", leasePath(held), {
      holder: "other-host:4242:abcdef01",
      expires_at: expires,
    })
    expect(put.status).toBe(201)

    const r = await runBinary(["purge", "--no-env-file", "--db", `${base}-*`, "--json"], {
      env: env(),
      cwd,
      timeoutMs: 60_000,
    })
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" })
    const summary = JSON.parse(r.stdout) as {
      databases: Array<Outcome>
      succeeded: number
      skipped: number
      failed: number
    }
    expect(summary).toMatchObject({ succeeded: 1, skipped: 1, failed: 0 })
    expect(summary.databases.find((d) => d.db === held)).toMatchObject({
      state: "skipped",
      reason: "held by another purger",
      holder: "other-host:4242:abcdef01",
      expiresAt: expires,
    })
    expect(summary.databases.find((d) => d.db === free)?.state).toBe("succeeded")
    expect(await checkPurged(t, free, freeSeed)).toBe("")
    expect((await dbInfo(t, held)).doc_del_count).toBe(30)
    expect(await purgeRequests(held)).toBe(0)
    // Its lease is untouched.
    expect(((await couch(t, "GET", leasePath(held))).body as LeaseDocBody)._rev).toBe(
      (put.body as { rev: string }).rev,
    )

    // The human summary says the same.
    const human = await runBinary(["purge", "--no-env-file", "--db", held], {
      env: env(),
      cwd,
      timeoutMs: 60_000,
    })
    expect(human.code).toBe(0)
    expect(human.stderr).toContain(
      `${held}: skipped, held by another purger (other-host:4242:abcdef01, lease until ${expires}`,
    )

    // An operator clears the stuck lease by deleting its document; the next run purges.
    const rev = (put.body as { rev: string }).rev
    expect((await couch(t, "DELETE", `${leasePath(held)}?rev=${rev}`)).status).toBe(200)
    const again = await runBinary(["purge", "--no-env-file", "--db", held, "--json"], {
      env: env(),
      cwd,
      timeoutMs: 60_000,
    })
    expect(again.code).toBe(0)
    expect((JSON.parse(again.stdout) as Outcome).tombstones).toBe(30)
    expect(await checkPurged(t, held, heldSeed)).toBe("")
  }, 120_000)

  test("SIGTERM mid-purge: the run stops (exit 130) and releases its lease, so the next run starts at once", async () => {
    const db = await newDb()
    const seeded = await seed(t, db, { tombstones: 300 })
    const proc = spawnBinary(["purge", "--no-env-file", "--db", db, "--max-rate", "40"], { env: env(), cwd })
    try {
      const deadline = Date.now() + 60_000
      while (
        (await couch(t, "GET", leasePath(db))).status !== 200 ||
        (await dbInfo(t, db)).doc_del_count === 300
      ) {
        if (Date.now() > deadline) throw new Error("the purge never got under way")
        await Bun.sleep(50)
      }
      proc.kill("SIGTERM")
      expect(await proc.exited).toBe(130)
    } finally {
      proc.kill("SIGKILL")
    }
    expect((await dbInfo(t, db)).doc_del_count).toBeGreaterThan(0)
    expect((await couch(t, "GET", leasePath(db))).status).toBe(404)
    const r = await runBinary(["purge", "--no-env-file", "--db", db, "--json"], {
      env: env(),
      cwd,
      timeoutMs: 60_000,
    })
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as Outcome).state).toBeUndefined()
    expect(await checkPurged(t, db, seeded)).toBe("")
  }, 90_000)

  test("a database that fails mid-purge (500 to everything) releases its lease", async () => {
    if (t.faults === undefined) return // fault injection is the test server's
    const db = await newDb()
    await seed(t, db, { tombstones: 200 })
    t.faults({ latencyMs: 20 })
    const proc = spawnBinary(
      ["purge", "--no-env-file", "--db", db, "--max-rate", "40", "--retries", "1", "--retry-base", "10ms"],
      {
        env: env(),
        cwd,
      },
    )
    try {
      const deadline = Date.now() + 60_000
      while ((await couch(t, "GET", leasePath(db))).status !== 200) {
        if (Date.now() > deadline) throw new Error("the purge never took its lease")
        await Bun.sleep(20)
      }
      // The database breaks; the lease database does not.
      t.faults({ latencyMs: 20, brokenDbs: [db] })
      expect(await proc.exited).toBe(1)
    } finally {
      proc.kill("SIGKILL")
      t.faults({})
    }
    expect((await couch(t, "GET", leasePath(db))).status).toBe(404)
  }, 90_000)

  test("a lease database the account may not use (403) is one line naming it and what to do, exit 3; nothing purged", async () => {
    const a = await newDb()
    const b = await newDb()
    await seed(t, a, { tombstones: 5 })
    await seed(t, b, { tombstones: 5 })
    // A proxy that refuses dbsweep_leases as CouchDB refuses a database to a non-member (facts §11).
    const proxy = httpServer(async (req) => {
      const url = new URL(req.url)
      if (url.pathname.startsWith("/dbsweep_leases")) {
        return Response.json(
          { error: "forbidden", reason: "You are not allowed to access this db." },
          { status: 403 },
        )
      }
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer()
      return fetch(`${t.url}${url.pathname}${url.search}`, { method: req.method, headers: req.headers, body })
    })
    try {
      const proxied = { ...env(), COUCHDB_URL: proxy.url }
      for (const args of [
        ["--db", a],
        ["--db", a, "--db", b],
      ]) {
        const r = await runBinary(["purge", "--no-env-file", ...args], {
          env: proxied,
          cwd,
          timeoutMs: 60_000,
        })
        expectCleanFailure(r, {
          code: 3,
          names: ["dbsweep_leases", "403", "create and write", "cannot take the purge lease of"],
          secrets: [t.password],
          user: t.user,
        })
      }
    } finally {
      await proxy.stop()
    }
    expect((await dbInfo(t, a)).doc_del_count).toBe(5)
    expect((await dbInfo(t, b)).doc_del_count).toBe(5)
  }, 90_000)

  test("a dry run takes no lease: it runs beside a purger that holds the database", async () => {
    const db = await newDb()
    await seed(t, db, { tombstones: 12 })
    expect([201, 412]).toContain((await couch(t, "PUT", "/dbsweep_leases")).status)
    const put = await couch(t, "PUT", leasePath(db), {
      holder: "other-host:1:00000000",
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    })
    expect(put.status).toBe(201)
    const r = await runBinary(["purge", "--no-env-file", "--db", db, "--dry-run", "--json"], {
      env: env(),
      cwd,
    })
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as Outcome).tombstones).toBe(12)
    await couch(t, "DELETE", `${leasePath(db)}?rev=${(put.body as { rev: string }).rev}`)
  })
})
