import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnBinary } from "../support/binary.ts"
import { type CouchServer, type Faults, startCouchServer } from "../support/couch-server.ts"
import { type CouchTarget, checkPurged, couch, type Seeded, seed } from "../support/couch-target.ts"

/**
 * The chaos soak: 50,000 tombstones in 5 databases (beside live documents, live conflicts and
 * tombstones whose document had conflicts) on a test server that answers 20% of requests with an
 * injected 500/503/429, drops connections before and after it acted, and answers some requests
 * slowly. The compiled binary purges them all and is SIGKILLed at 5 random moments (a seeded draw:
 * the seed is printed when the test fails; DBSWEEP_SOAK_SEED=N repeats it), restarted each time,
 * then run to the end. Checked from the server's own record of the `_purge` requests it acted on:
 * every tombstone's revs purged, no live rev ever asked for, and the databases as seeded otherwise.
 *
 * The server runs in this process (the binary speaks HTTP to it), so its record is read directly.
 */

const databases = 5
const perDb = { tombstones: 9_800, conflictedTombstones: 200, live: 500, liveConflicts: 100 }
const kills = 5
const faults: Faults = {
  latencyMs: 10,
  errorRate: 0.2,
  dropRate: 0.04,
  dropAfterRate: 0.04,
  slowRate: 0.05,
  slowMs: 1_500,
}
/**
 * A killed run's lease (`--lease-ttl`) holds its databases until it expires: a run restarted sooner
 * would skip them (and exit 0), so each restart waits for the killed run's leases to expire. The
 * runs to the end take longer leases: renewed every second, a lease is lost now and then to
 * this server's slow answers and errors (the database then fails, its checkpoint left behind, as
 * it should), which would only make more final runs.
 */
const lease = { killed: ["--lease-ttl", "3s"], waitMs: 3_500, final: ["--lease-ttl", "30s"] }
/**
 * A run ends with exit 1 when a batch still failed after every retry (its checkpoint stays before
 * it, by design); an operator, or the next scheduled run, runs it again. The final runs are
 * bounded: with 12 retries a batch fails about once in 10^6 requests here, so more than one
 * re-run means something is wrong.
 */
const finalRuns = 3

const seedValue = Number(process.env.DBSWEEP_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31))
/** mulberry32: the kill moments, from the seed. */
const random = (() => {
  let s = seedValue
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
})()

let server: CouchServer
let own: CouchTarget
const cwd = mkdtempSync(join(tmpdir(), "dbsweep-soak-"))
const names = Array.from({ length: databases }, (_, i) => `soak-${i}`)
const seeded = new Map<string, Seeded>()

beforeAll(async () => {
  const user = "admin"
  const password = "soak-Passw0rd"
  server = await startCouchServer({ admin: { user, password }, version: "3.5.0", seed: seedValue })
  own = { url: server.url, user, password, faults: (f) => server.setFaults(f), stop: () => server.stop() }
  for (const db of names) {
    expect((await couch(own, "PUT", `/${db}`)).status).toBe(201)
    seeded.set(db, await seed(own, db, perDb))
  }
})
afterAll(async () => {
  await server.stop()
  rmSync(cwd, { recursive: true, force: true })
})

const args = [
  "purge",
  "--no-env-file",
  ...names.flatMap((db) => ["--db", db]),
  "--retries",
  "12",
  "--retry-base",
  "100ms",
  "--timeout",
  "1s",
  "--db-concurrency",
  "2",
  "--json",
  "--log-format",
  "json",
  "--log-level",
  "warning",
]

const start = (leaseArgs: ReadonlyArray<string>) =>
  spawnBinary([...args, ...leaseArgs], {
    env: { COUCHDB_URL: own.url, COUCHDB_USER: own.user, COUCHDB_PASSWORD: own.password },
    cwd,
  })

/** Checkpoint writes the server has received (`PUT /{db}/_local/dbsweep-purge`), faulted ones too. */
const checkpointWrites = () => server.requestCounts()["PUT /{db}/_local/{id}"] ?? 0

const until = async (done: () => boolean, ms: number) => {
  const end = Date.now() + ms
  while (!done() && Date.now() < end) await Bun.sleep(5)
}

describe("chaos soak: dbsweep purge under faults, SIGKILLed and restarted", () => {
  test(`5 databases, ${databases * (perDb.tombstones + perDb.conflictedTombstones)} tombstones, 20% errors, drops, slow answers, ${kills} kills`, async () => {
    const startedAt = Date.now()
    const log = server.purgeLog()
    const total = databases * (perDb.tombstones + perDb.conflictedTombstones)
    const purged = new Set<string>()
    let seen = 0
    /** Distinct documents the server has purged so far. */
    const purgedSoFar = () => {
      for (; seen < log.length; seen++) {
        const r = log[seen]!
        if (r.purged.length > 0) purged.add(`${r.db}/${r.id}`)
      }
      return purged.size
    }
    const story: Array<string> = []
    const problems: Array<string> = []
    server.setFaults(faults)
    try {
      // A run may end before its moment when it lost leases (its databases fail, exit 1): it is
      // restarted for the same kill, a bounded number of times. One that ends 0 left nothing to kill.
      for (let k = 0, starts = 0; k < kills && starts < kills + 3; starts++) {
        // A moment in this run: once the server has acted on `more` documents since it started
        // (0: while it reads its checkpoints and feeds), all but the first kill then wait for the
        // next checkpoint write to reach the server and strike just after it, where a checkpoint
        // that ran ahead of unfinished work would show. Each kill has a share of the tombstones
        // still there (the rest are left for the kills after it and the final run), and strikes
        // once the run has acted on that many documents even if no checkpoint write came.
        const share = Math.floor((total - purgedSoFar()) / (kills - k + 1))
        const more = Math.floor(random() * share * 0.5)
        const afterCheckpoint = k > 0
        const extraMs = (afterCheckpoint ? 15 : 0) + Math.floor(random() * 100)
        const proc = start(lease.killed)
        const stderr = new Response(proc.stderr).text()
        void new Response(proc.stdout).text()
        const from = log.length
        let exited = false
        void proc.exited.then(() => {
          exited = true
        })
        await until(() => exited || log.length - from >= more, 30_000)
        const writes = checkpointWrites()
        if (afterCheckpoint)
          await until(() => exited || checkpointWrites() > writes || log.length - from >= share, 30_000)
        await Bun.sleep(extraMs)
        proc.kill("SIGKILL")
        await proc.exited
        if (proc.signalCode === "SIGKILL") {
          k += 1
          story.push(
            `run ${starts + 1}: killed after ${log.length - from} purged docs${afterCheckpoint ? " and a checkpoint write" : ""} (+${extraMs} ms)`,
          )
        } else {
          const last = (await stderr).trim().split("\n").at(-1)?.slice(0, 300)
          story.push(`run ${starts + 1}: ended by itself before its kill, exit ${proc.exitCode} (${last})`)
          if (proc.exitCode !== 1)
            problems.push(`run ${starts + 1} ended before its kill: exit ${proc.exitCode}`)
        }
        if (lease.waitMs > 0) await Bun.sleep(lease.waitMs)
      }
      if (story.filter((line) => line.includes("killed")).length < kills)
        problems.push(`fewer than ${kills} kills`)
      let code = -1
      for (let r = 0; r < finalRuns && code !== 0; r++) {
        const proc = start(lease.final)
        const [out, err, exit] = await Promise.all([
          new Response(proc.stdout).text(),
          new Response(proc.stderr).text(),
          proc.exited,
        ])
        code = exit
        // A run that ended with failures says which in its last line.
        const why = exit === 1 ? ` (${err.trim().split("\n").at(-1)?.slice(0, 300)})` : ""
        story.push(`final run ${r + 1}: exit ${exit}${why}`)
        if (exit !== 0 && exit !== 1) problems.push(`final run ${r + 1} exited ${exit}: ${err.slice(-2000)}`)
        if (exit === 0) {
          const summary = JSON.parse(out) as { databases: Array<{ db: string; state: string }> }
          const states = summary.databases.map((d) => `${d.db} ${d.state}`).join(", ")
          if (states !== names.map((db) => `${db} succeeded`).join(", "))
            problems.push(`the final run's databases: ${states}`)
        }
      }
      if (code !== 0) problems.push(`no final run exited 0 in ${finalRuns}`)
      server.setFaults({})

      // The server's record: each tombstone's every leaf purged, no live rev ever asked for.
      const purgedRevs = new Map<string, Set<string>>()
      for (const r of log) {
        if (r.live.length > 0) problems.push(`live revs asked to purge: ${r.db}/${r.id} ${r.live.join(",")}`)
        const key = `${r.db}/${r.id}`
        const set = purgedRevs.get(key) ?? new Set<string>()
        for (const rev of r.purged) set.add(rev)
        purgedRevs.set(key, set)
      }
      for (const db of names) {
        const s = seeded.get(db)!
        const missed = [...s.tombstones, ...s.conflictedTombstones].filter((id) => {
          const revs = purgedRevs.get(`${db}/${id}`)
          // A tombstone has one deleted leaf; one whose document had a conflict has two.
          return revs === undefined || revs.size !== (id.startsWith("ctomb") ? 2 : 1)
        })
        if (missed.length > 0)
          problems.push(`${db}: ${missed.length} tombstones not purged, e.g. ${missed[0]}`)
        const kept = [...s.live.keys(), ...s.liveConflicts.keys()].filter((id) =>
          purgedRevs.has(`${db}/${id}`),
        )
        if (kept.length > 0) problems.push(`${db}: live documents asked to purge, e.g. ${kept[0]}`)
        const state = await checkPurged(own, db, s)
        if (state !== "") problems.push(`${db}: ${state}`)
      }
      story.push(
        `${log.length} purged docs in the server's record, ${Math.round((Date.now() - startedAt) / 1000)} s`,
      )
    } finally {
      server.setFaults({})
    }
    expect({ seed: seedValue, problems, story: problems.length > 0 ? story : [] }).toEqual({
      seed: seedValue,
      problems: [],
      story: [],
    })
    console.error(`soak (seed ${seedValue}): ${story.join("; ")}`)
  }, 150_000)
})
