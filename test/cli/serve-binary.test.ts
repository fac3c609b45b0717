import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { metricFamilies } from "../../src/shared/metrics.ts"
import { listeningUrl, runBinary, spawnBinary } from "../support/binary.ts"
import {
  type CouchTarget,
  checkPurged,
  couch,
  createDb,
  dbInfo,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"

const tmp = mkdtempSync(join(tmpdir(), "dbsweep-serve-"))
let t: CouchTarget

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
  rmSync(tmp, { recursive: true, force: true })
})

describe("dbsweep serve (the binary)", () => {
  test("with no configuration it starts on 127.0.0.1, lists jobs as unavailable, and exits 0 on SIGTERM", async () => {
    const proc = spawnBinary(["serve", "--port", "0"])
    const { url } = await listeningUrl(proc.stderr)
    expect(url).toStartWith("http://127.0.0.1:")
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true })
    const purge = await fetch(`${url}/jobs/purge`, { method: "POST" })
    expect(purge.status).toBe(503)
    expect(await (await fetch(`${url}/`)).text()).toContain("purge is unavailable")
    proc.kill("SIGTERM")
    expect(await proc.exited).toBe(0)
  })

  test("/metrics of a fresh server has HELP and TYPE for every metric, its counters at 0 before any run", async () => {
    const proc = spawnBinary(["serve", "--port", "0"], {
      env: { COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD: t.password },
    })
    try {
      const { url } = await listeningUrl(proc.stderr)
      const text = await (await fetch(`${url}/metrics`)).text()
      const lines = text.trim().split("\n")
      const families = [...metricFamilies.map((f) => f.name)].sort()
      expect(families).toEqual(
        [
          "dbsweep_cleanup_rows_deleted_total",
          "dbsweep_failures_total",
          "dbsweep_job_duration_seconds",
          "dbsweep_jobs_running",
          "dbsweep_purge_held_back_total",
          "dbsweep_purge_requests_total",
          "dbsweep_purge_revs_purged_total",
          "dbsweep_retries_total",
        ].sort(),
      )
      for (const f of metricFamilies) {
        expect(lines).toContain(`# HELP ${f.name} ${f.help}`)
        expect(lines).toContain(`# TYPE ${f.name} ${f.type}`)
      }
      for (const unlabelled of [
        "dbsweep_purge_revs_purged_total",
        "dbsweep_purge_requests_total",
        "dbsweep_retries_total",
        "dbsweep_cleanup_rows_deleted_total",
      ]) {
        expect(lines).toContain(`${unlabelled} 0`)
      }
      // The jobs this server can run have their series too; cleanup (no PostgreSQL here) has none.
      expect(lines).toContain('dbsweep_jobs_running{job="purge"} 0')
      expect(lines).toContain('dbsweep_job_duration_seconds_count{job="purge"} 0')
      // A server that can purge has a held-back series for each reason of the safety caps.
      for (const reason of ["grace", "replication", "replication-error"])
        expect(lines).toContain(`dbsweep_purge_held_back_total{reason="${reason}"} 0`)
      expect(text).not.toContain('job="cleanup"')
    } finally {
      proc.kill("SIGTERM")
      expect(await proc.exited).toBe(0)
    }
  })

  test("binding 0.0.0.0 without a token is refused: exit 2, one line", async () => {
    const r = await runBinary(["serve", "--host", "0.0.0.0", "--port", "0"])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain("without a token")
  })

  test("a cleanup history table that is not a bare name is refused: exit 2, one line naming the flag and the variable", async () => {
    for (const [args, env] of [
      [["--cleanup-history-table", "audit.cleanup_runs"], {}],
      [[], { CLEANUP_HISTORY_TABLE: "audit.cleanup_runs" }],
    ] as const) {
      const r = await runBinary(["serve", "--port", "0", ...args], { env: { ...env } })
      expect(r.code).toBe(2)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toContain(
        '--cleanup-history-table / CLEANUP_HISTORY_TABLE "audit.cleanup_runs" must be a bare table name',
      )
    }
  })

  test("a scheduled purge (--purge-every, --purge-db) runs inside the server and purges every tombstone; SIGTERM then exits 0", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { tombstones: 800 })
    const tokenFile = join(tmp, "token")
    writeFileSync(tokenFile, "binary-test-token-0123456789\n")
    t.faults?.({ latencyMs: 5 })
    const proc = spawnBinary(["serve", "--port", "0", "--purge-every", "1h", "--purge-db", db], {
      env: {
        COUCHDB_URL: t.url,
        COUCHDB_USER: t.user,
        COUCHDB_PASSWORD: t.password,
        DBSWEEP_TOKEN_FILE: tokenFile,
      },
    })
    try {
      const { url } = await listeningUrl(proc.stderr)
      const schedules = (await (await fetch(`${url}/schedules`)).json()) as Array<{ schedule: string }>
      expect(schedules.map((x) => x.schedule)).toEqual(["every 1h"])
      const unauthorized = await fetch(`${url}/jobs/purge`, { method: "POST", body: "{}" })
      expect(unauthorized.status).toBe(401)
      for (let i = 0; i < 200; i++) {
        const runs = (await (await fetch(`${url}/jobs`)).json()) as Array<{ state: string }>
        if (runs.some((r) => r.state !== "running")) break
        await Bun.sleep(50)
      }
      proc.kill("SIGTERM")
      expect(await proc.exited).toBe(0)
    } finally {
      t.faults?.({})
      proc.kill("SIGKILL")
    }
    expect(await checkPurged(t, db, seeded)).toBe("")
  })

  test("SIGTERM mid-purge: the run stops at a checkpoint and the server exits 0", async () => {
    const db = await createDb(t)
    // The test server answers 10 ms late; a real CouchDB cannot be slowed, and purged 1,500 within
    // the half second before the signal: it is given more to purge instead.
    const seeded = t.faults === undefined ? 6000 : 1500
    await seed(t, db, { tombstones: seeded })
    const token = "binary-test-token-0123456789"
    t.faults?.({ latencyMs: 10 })
    const proc = spawnBinary(["serve", "--port", "0"], {
      env: { COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD: t.password, DBSWEEP_TOKEN: token },
    })
    try {
      const { url } = await listeningUrl(proc.stderr)
      const started = await fetch(`${url}/jobs/purge`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ db, batch: 20, concurrency: 1 }),
      })
      expect(started.status).toBe(202)
      await Bun.sleep(500)
      proc.kill("SIGTERM")
      expect(await proc.exited).toBe(0)
    } finally {
      t.faults?.({})
      proc.kill("SIGKILL")
    }
    const left = (await dbInfo(t, db)).doc_del_count
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThan(seeded)
    expect((await couch(t, "GET", `/${db}/_local/dbsweep-purge`)).status).toBe(200)
  })
})
