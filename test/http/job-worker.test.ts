/**
 * `dbsweep serve` (the binary) runs purges on a job worker: the HTTP thread stays free, and what the
 * run does comes back across (progress, summary, the tagged error, the counters, `list` ids), and a
 * stop or SIGTERM still reaches the run, which saves its checkpoint.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import { CouchNeedsAdmin } from "../../src/couch/admin-errors.ts"
import { CouchNotFound, CouchUnavailable } from "../../src/couch/errors.ts"
import { StoreUnavailable } from "../../src/docs/errors.ts"
import { decodeAppError, encodeAppError } from "../../src/errors.ts"
import { ConfigError } from "../../src/shared/errors.ts"
import { spawnBinary } from "../support/binary.ts"
import { type CouchTarget, couch, createDb, dbInfo, seed, startCouchTarget } from "../support/couch-target.ts"

const token = "worker-test-token-0123456789"
const tmp = mkdtempSync(join(tmpdir(), "dbsweep-job-worker-"))
let t: CouchTarget

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
  rmSync(tmp, { recursive: true, force: true })
})

interface Run {
  readonly id: string
  readonly state: string
  readonly progress: { readonly done: number; readonly total: number }
  readonly summary?: Record<string, unknown> & { readonly listed?: ReadonlyArray<string> }
  readonly error?: string
}

/** The binary's `serve` against the test CouchDB, and the URL it listens on. */
const startServer = async (env: Record<string, string> = {}) => {
  const proc = spawnBinary(["serve", "--port", "0", "--no-env-file"], {
    env: {
      COUCHDB_URL: t.url,
      COUCHDB_USER: t.user,
      COUCHDB_PASSWORD: t.password,
      DBSWEEP_TOKEN: token,
      ...env,
    },
  })
  const reader = proc.stderr.getReader()
  const decoder = new TextDecoder()
  let text = ""
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    text += decoder.decode(r.value, { stream: true })
    const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(text)
    if (m) {
      // Keep reading stderr so the server never blocks on a full pipe; keep it for the password check.
      const rest = (async () => {
        for (let r2 = await reader.read(); !r2.done; r2 = await reader.read()) {
          text += decoder.decode(r2.value, { stream: true })
        }
        return text
      })()
      return { proc, url: m[1]!, stderr: () => rest }
    }
  }
  throw new Error(`the server never said where it listens: ${text}`)
}

const start = async (url: string, body: unknown) => {
  const res = await fetch(`${url}/jobs/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  })
  expect(res.status).toBe(202)
  return ((await res.json()) as { id: string }).id
}

const runOf = async (url: string, id: string) => (await (await fetch(`${url}/jobs/${id}`)).json()) as Run

const waitFor = async (url: string, id: string, until: (run: Run) => boolean) => {
  for (let i = 0; i < 1200; i++) {
    const run = await runOf(url, id)
    if (until(run)) return run
    await Bun.sleep(50)
  }
  throw new Error(`run ${id} never got there: ${JSON.stringify(await runOf(url, id))}`)
}

const metric = async (url: string, line: string) => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const found = text.split("\n").find((l) => l.startsWith(`${line} `))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

describe("the job worker's error table", () => {
  test("every kind of error crosses as data and comes back as the same tagged error", () => {
    const errors = [
      new CouchNotFound({
        server: "http://x",
        database: "db",
        path: "/db",
        reason: "Database does not exist.",
      }),
      new CouchUnavailable({
        server: "http://x",
        operation: "_purge",
        kind: "status",
        status: 503,
        reason: "down",
      }),
      new CouchNeedsAdmin({ server: "http://x", operation: "compact", reason: "401 unauthorized" }),
      new ConfigError({ message: "bad purge options: db is missing" }),
      new StoreUnavailable({ store: "file:/x", reason: "gone", retryable: false }),
    ]
    for (const error of errors) {
      const encoded = encodeAppError(error)
      expect(encoded._tag).toBe("Some")
      // What postMessage does to it.
      const crossed = structuredClone(encoded._tag === "Some" ? encoded.value : undefined)
      const back = Effect.runSyncExit(decodeAppError(crossed))
      expect(Exit.isSuccess(back)).toBe(true)
      if (Exit.isSuccess(back)) {
        expect(back.value).toBeInstanceOf(error.constructor)
        expect(back.value._tag).toBe(error._tag)
        expect(back.value.message).toBe(error.message)
      }
    }
  })

  test("something that is not one of dbsweep's errors is not encoded", () => {
    expect(encodeAppError(new Error("boom should not cross as a tagged error"))._tag).toBe("None")
    expect(encodeAppError({ _tag: "Nonsense" })._tag).toBe("None")
  })
})

describe("dbsweep serve runs purges on a job worker (the binary)", () => {
  test("the safety caps' held-back counts cross from the worker: progress.held, summary.heldBack and /metrics", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 2, tombstones: 6 })
    const server = await startServer()
    try {
      const id = await start(server.url, { db, grace: "7d" })
      const run = (await waitFor(server.url, id, (r) => r.state !== "running")) as Run & {
        progress: { held?: Record<string, number> }
        summary: { heldBack: Record<string, number>; purgedRevs: number }
      }
      expect(run.state).toBe("succeeded")
      expect(run.summary.purgedRevs).toBe(0)
      expect(run.summary.heldBack.grace).toBe(6)
      expect(run.progress.held?.grace).toBe(6)
      expect((await dbInfo(t, db)).doc_del_count).toBe(6)
      // The worker's held-back counter crosses to /metrics too.
      expect(await metric(server.url, 'dbsweep_purge_held_back_total{reason="grace"}')).toBe(6)
      expect(await metric(server.url, 'dbsweep_purge_held_back_total{reason="replication"}')).toBe(0)
    } finally {
      server.proc.kill("SIGTERM")
      await server.proc.exited
    }
  })

  test("HTTP stays responsive during a 20,000-tombstone purge; the summary, progress and counters come back", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 20_000, live: 10 })
    const server = await startServer()
    try {
      const id = await start(server.url, { db })
      let answered = 0
      let seenRunning = 0
      let run = await runOf(server.url, id)
      while (run.state === "running") {
        // Each answered within a second while the purge runs (a functional check, not a latency goal).
        const health = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) })
        expect(health.status).toBe(200)
        answered++
        run = await runOf(server.url, id)
        if (run.state === "running" && run.progress.done > 0) seenRunning++
        await Bun.sleep(20)
      }
      expect(answered).toBeGreaterThan(0)
      expect(seenRunning).toBeGreaterThan(0)
      expect(run.state).toBe("succeeded")
      expect(run.summary?.purgedRevs).toBe(20_000)
      expect(run.summary?.checkpointSaved).toBe(true)
      expect(run.progress.done).toBe(20_000)
      expect((await dbInfo(t, db)).doc_del_count).toBe(0)
      expect(await metric(server.url, "dbsweep_purge_revs_purged_total")).toBe(20_000)
      expect(await metric(server.url, 'dbsweep_jobs_running{job="purge"}')).toBe(0)
    } finally {
      server.proc.kill("SIGTERM")
      expect(await server.proc.exited).toBe(0)
    }
    const stderr = await server.stderr()
    expect(stderr).toContain("purge starting")
    expect(stderr).not.toContain(t.password)
  }, 120_000)

  test("a failure comes back as the same error (its line and its tag in /metrics); a dry run's list comes back as ids", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { tombstones: 30 })
    const server = await startServer({ LOG_LEVEL: "debug" })
    try {
      const missing = await start(server.url, { db: `${db}-missing` })
      const failed = await waitFor(server.url, missing, (r) => r.state !== "running")
      expect(failed.state).toBe("failed")
      expect(failed.error).toBe(
        `database "${db}-missing" does not exist on ${t.url}: check --db / COUCHDB_DB_NAME (GET /_all_dbs lists the databases)`,
      )
      expect(await metric(server.url, 'dbsweep_failures_total{kind="CouchNotFound"}')).toBe(1)

      const dry = await start(server.url, { db, dryRun: true, list: true })
      const listed = await waitFor(server.url, dry, (r) => r.state !== "running")
      expect(listed.state).toBe("succeeded")
      // The first ten ids listed (in the order the units were sent), each one of the tombstones.
      expect(listed.summary?.listed).toHaveLength(10)
      for (const listedId of listed.summary?.listed ?? []) expect(seeded.tombstones).toContain(listedId)
      expect((await dbInfo(t, db)).doc_del_count).toBe(30)
    } finally {
      server.proc.kill("SIGTERM")
      expect(await server.proc.exited).toBe(0)
    }
    const stderr = await server.stderr()
    expect(stderr).toContain(`purge of ${db} runs on a job worker`)
    expect(stderr).not.toContain(t.password)
  }, 60_000)

  test("a purge of several databases runs on the worker too: its parts show while it runs, each database in the summary", async () => {
    const dbs = [await createDb(t), await createDb(t)]
    for (const db of dbs) await seed(t, db, { tombstones: 200 })
    t.faults?.({ latencyMs: 5 })
    const server = await startServer()
    try {
      const id = await start(server.url, { dbs, dbConcurrency: 2, batch: 10, concurrency: 1 })
      const seen = new Set<string>()
      let run = await runOf(server.url, id)
      while (run.state === "running") {
        const parts = (run.progress as { parts?: ReadonlyArray<{ name: string }> }).parts ?? []
        for (const part of parts) seen.add(part.name)
        await Bun.sleep(10)
        run = await runOf(server.url, id)
      }
      expect(run.state).toBe("succeeded")
      expect(run.progress.done).toBe(400)
      const databases = (run.summary as { databases: ReadonlyArray<{ db: string; state: string }> }).databases
      expect(databases.map((d) => d.db).sort()).toEqual([...dbs].sort())
      expect(databases.every((d) => d.state === "succeeded")).toBe(true)
      if (t.faults !== undefined) expect([...seen].sort()).toEqual([...dbs].sort())
      for (const db of dbs) expect((await dbInfo(t, db)).doc_del_count).toBe(0)
    } finally {
      t.faults?.({})
      server.proc.kill("SIGTERM")
      expect(await server.proc.exited).toBe(0)
    }
  }, 60_000)

  test("Stop ends the run on the worker at a saved checkpoint, and the next run goes on from it", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 1500 })
    t.faults?.({ latencyMs: 10 })
    const server = await startServer()
    try {
      const id = await start(server.url, { db, batch: 20, concurrency: 1 })
      await waitFor(server.url, id, (r) => r.progress.done > 0)
      const cancel = await fetch(`${server.url}/jobs/${id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${token}` },
      })
      expect(cancel.status).toBe(200)
      const stopped = await waitFor(server.url, id, (r) => r.state !== "running")
      expect(stopped.state).toBe("interrupted")
      expect(stopped.summary?.interrupted).toBe(true)
      expect(stopped.summary?.checkpointSaved).toBe(true)
      const left = (await dbInfo(t, db)).doc_del_count
      expect(left).toBeGreaterThan(0)
      expect(left).toBeLessThan(1500)
      expect((await couch(t, "GET", `/${db}/_local/dbsweep-purge`)).status).toBe(200)
      t.faults?.({})
      const again = await start(server.url, { db })
      const rest = await waitFor(server.url, again, (r) => r.state !== "running")
      expect(rest.state).toBe("succeeded")
      expect(rest.summary?.since).not.toBe("0")
      expect(rest.summary?.purgedRevs).toBe(left)
      expect((await dbInfo(t, db)).doc_del_count).toBe(0)
    } finally {
      t.faults?.({})
      server.proc.kill("SIGTERM")
      expect(await server.proc.exited).toBe(0)
    }
  }, 60_000)

  test("SIGTERM mid-purge: the worker's run saves its checkpoint file and the server exits 0", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 1500 })
    const file = join(tmp, `${db}.checkpoint.json`)
    t.faults?.({ latencyMs: 10 })
    const server = await startServer()
    try {
      const id = await start(server.url, { db, batch: 20, concurrency: 1, checkpointFile: file })
      await waitFor(server.url, id, (r) => r.progress.done > 0)
      server.proc.kill("SIGTERM")
      expect(await server.proc.exited).toBe(0)
    } finally {
      t.faults?.({})
      server.proc.kill("SIGKILL")
    }
    const left = (await dbInfo(t, db)).doc_del_count
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThan(1500)
    expect(existsSync(file)).toBe(true)
    // The seq the run reached: the next run starts after it.
    expect((await Bun.file(file).text()).trim()).toMatch(/^\d+-/)
  }, 60_000)
})
