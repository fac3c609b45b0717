import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { leasesDb } from "../../src/purge/lease-doc.ts"
import { runBinary } from "../support/binary.ts"
import { type CouchServer, startCouchServer } from "../support/couch-server.ts"
import {
  allChanges,
  type CouchTarget,
  checkPurged,
  couch,
  dbInfo,
  deleteDb,
  type Seeded,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"

/**
 * `dbsweep purge` over many databases (names, globs, --all-dbs), run as the compiled binary against
 * the test server or a real CouchDB (COUCHDB_URL). `--all-dbs` and the injected 500s run against a
 * test server of their own: on a shared CouchDB "all" would be every other user's databases too.
 */

let t: CouchTarget
const cwd = mkdtempSync(join(tmpdir(), "dbsweep-many-"))
const created: Array<string> = []

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  for (const db of created) await deleteDb(t, db)
  await t.stop()
  rmSync(cwd, { recursive: true, force: true })
})

const envOf = (target: { url: string; user: string; password: string }) => ({
  COUCHDB_URL: target.url,
  COUCHDB_USER: target.user,
  COUCHDB_PASSWORD: target.password,
})

const run = (target: CouchTarget, ...args: Array<string>) =>
  runBinary(["purge", "--no-env-file", "--log-format", "json", ...args], { env: envOf(target), cwd })

/** A prefix no other test (nor another run against a shared CouchDB) uses. */
const uniquePrefix = (what: string) =>
  `many-${what}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

const make = async (target: CouchTarget, name: string) => {
  const r = await couch(target, "PUT", `/${encodeURIComponent(name)}`)
  if (r.status !== 201 && r.status !== 202) throw new Error(`create ${name}: ${r.status}`)
  if (target === t) created.push(name)
  return name
}

interface DbEntry {
  db: string
  state: string
  tombstones?: number
  purgedRevs?: number
  checkpoint?: string
  error?: string
}
interface ManySummary {
  databases: Array<DbEntry>
  tombstones: number
  purgedRevs: number
  succeeded: number
  failed: number
  unmatched: Array<string>
}

const checkpointOf = async (target: CouchTarget, db: string) => {
  const r = await couch(target, "GET", `/${encodeURIComponent(db)}/_local/dbsweep-purge`)
  return r.status === 200 ? (r.body as { seq?: string }).seq : undefined
}

/** `n` documents created, then deleted (in `_users`, shaped as users, as it requires). */
const tombstones = async (target: CouchTarget, db: string, n: number) => {
  for (let i = 0; i < n; i++) {
    const id = db === "_users" ? `org.couchdb.user:sys-${i}` : `sys-${i}`
    const body = db === "_users" ? { name: `sys-${i}`, type: "user", roles: [], password: "x" } : { i }
    const path = `/${db}/${encodeURIComponent(id)}`
    const put = await couch(target, "PUT", path, body)
    if (put.status !== 201 && put.status !== 202)
      throw new Error(`${path}: ${put.status} ${JSON.stringify(put.body)}`)
    const rev = (put.body as { rev: string }).rev
    const del = await couch(target, "DELETE", `${path}?rev=${rev}`)
    if (del.status !== 200 && del.status !== 202) throw new Error(`delete ${path}: ${del.status}`)
  }
}

describe("dbsweep purge over many databases (compiled binary)", () => {
  test("a glob selects its 50 databases from _all_dbs, each purged with its own checkpoint; the next run starts from each", async () => {
    const prefix = uniquePrefix("glob")
    const dbs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => make(t, `${prefix}-${String(i).padStart(2, "0")}`)),
    )
    // Names the glob must not take: another prefix, and one that only shares the start.
    const others = [await make(t, `${prefix}x-outside`), await make(t, `other-${prefix}-00`)]
    const seeded = new Map<string, Seeded>()
    for (const [i, db] of dbs.entries()) {
      seeded.set(db, await seed(t, db, { live: 3, tombstones: 2 + (i % 5), conflictedTombstones: i % 2 }))
    }
    for (const db of others) await seed(t, db, { live: 1, tombstones: 4 })

    const r = await run(t, "--db", `${prefix}-*`, "--db-concurrency", "4", "--json")
    expect(r.stderr).not.toContain("    at ")
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.stdout) as ManySummary
    expect(summary.databases.map((d) => d.db).sort()).toEqual([...dbs].sort())
    expect(summary.succeeded).toBe(50)
    expect(summary.failed).toBe(0)
    const expected = dbs.reduce((n, _db, i) => n + 2 + (i % 5) + (i % 2), 0)
    expect(summary.tombstones).toBe(expected)
    for (const [i, db] of dbs.entries()) {
      const entry = summary.databases.find((d) => d.db === db)!
      expect([db, entry.state, entry.tombstones]).toEqual([db, "succeeded", 2 + (i % 5) + (i % 2)])
      expect(await checkPurged(t, db, seeded.get(db)!)).toBe("")
      // Each database keeps its own checkpoint: the seq the summary says, in its own _local doc.
      const stored = await checkpointOf(t, db)
      expect(stored).toBeDefined()
      expect(stored).toBe(entry.checkpoint)
    }
    for (const db of others) expect((await dbInfo(t, db)).doc_del_count).toBe(4)

    // New tombstones in three databases: the next run reads each feed from its own checkpoint.
    for (const db of [dbs[3]!, dbs[17]!, dbs[42]!]) await seed(t, db, { tombstones: 3, prefix: "later-" })
    const again = await run(t, "--db", `${prefix}-*`, "--json")
    expect(again.code).toBe(0)
    const next = JSON.parse(again.stdout) as ManySummary
    expect(next.tombstones).toBe(9)
    const touched = next.databases.filter((d) => (d.tombstones ?? 0) > 0).map((d) => d.db)
    expect(touched.sort()).toEqual([dbs[3]!, dbs[17]!, dbs[42]!].sort())
  }, 180_000)

  test("--db repeated names databases; one that does not exist fails alone: exit 1, named with why", async () => {
    const prefix = uniquePrefix("names")
    const a = await make(t, `${prefix}-a`)
    const b = await make(t, `${prefix}-b`)
    const seededA = await seed(t, a, { live: 2, tombstones: 5 })
    const seededB = await seed(t, b, { live: 2, tombstones: 6 })
    const missing = `${prefix}-missing`
    const r = await run(t, "--db", a, "--db", missing, "--db", b)
    expect(r.code).toBe(1)
    expect(await checkPurged(t, a, seededA)).toBe("")
    expect(await checkPurged(t, b, seededB)).toBe("")
    const last = r.stderr.trim().split("\n").at(-1)!
    expect(last).toStartWith("dbsweep: 1 of 3 databases failed:")
    expect(last).toContain(`${missing} (database "${missing}" does not exist`)
    expect(r.stderr).not.toContain("    at ")
  }, 60_000)

  test("--dry-run --list prints each selected document with its database; the real run purges exactly those", async () => {
    const prefix = uniquePrefix("list")
    const dbs = [await make(t, `${prefix}-1`), await make(t, `${prefix}-2`), await make(t, `${prefix}-3`)]
    for (const db of dbs) await seed(t, db, { live: 2, tombstones: 4, conflictedTombstones: 1 })
    const lines = (text: string) =>
      new Set(
        text
          .split("\n")
          .filter((l) => l.trim() !== "")
          .flatMap((l) => {
            const { db, id, revs } = JSON.parse(l) as { db: string; id: string; revs: Array<string> }
            return revs.map((rev) => `${db} ${id} ${rev}`)
          }),
      )
    const dry = await run(t, "--db", `${prefix}-?`, "--dry-run", "--list")
    expect(dry.code).toBe(0)
    const selected = lines(dry.stdout)
    expect(selected.size).toBe(3 * (4 + 2))
    expect(new Set([...selected].map((l) => l.split(" ")[0]))).toEqual(new Set(dbs))
    for (const db of dbs) expect((await dbInfo(t, db)).doc_del_count).toBe(5)
    const real = await run(t, "--db", `${prefix}-?`, "--list")
    expect(real.code).toBe(0)
    expect(lines(real.stdout)).toEqual(selected)
  }, 60_000)

  test("settings that cannot apply to several databases are refused before anything runs (exit 2)", async () => {
    const prefix = uniquePrefix("refuse")
    const db = await make(t, `${prefix}-1`)
    await seed(t, db, { tombstones: 2 })
    const file = await run(t, "--db", `${prefix}-*`, "--checkpoint-file", join(cwd, "cp.txt"))
    expect([file.code, file.stderr.trim().split("\n").length]).toEqual([2, 1])
    expect(file.stderr).toContain("--checkpoint-file")
    const since = await run(t, "--db", db, "--db", `${prefix}-*`, "--since", "12-abc")
    expect(since.code).toBe(2)
    expect(since.stderr).toContain("--since")
    const glob = await run(t, "--db", "Orders-*")
    expect(glob.code).toBe(2)
    expect(glob.stderr).toContain('"Orders-*" cannot match a database')
    expect((await dbInfo(t, db)).doc_del_count).toBe(2)
  })

  test("a glob that matches nothing is said, and is no failure", async () => {
    const r = await run(t, "--db", `${uniquePrefix("none")}-*`, "--json")
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.stdout) as ManySummary
    expect(summary.databases).toEqual([])
    expect(summary.unmatched).toHaveLength(1)
    expect(r.stderr).toContain("matches no database")
  })
})

/** A test server of its own: --all-dbs takes every database, and faults are injected per database. */
describe("dbsweep purge --all-dbs and a failing database (own test server)", () => {
  let server: CouchServer
  let own: CouchTarget
  beforeAll(async () => {
    const user = "admin"
    const password = "many-Passw0rd"
    server = await startCouchServer({ admin: { user, password }, version: "3.5.0" })
    own = { url: server.url, user, password, faults: (f) => server.setFaults(f), stop: () => server.stop() }
  })
  afterAll(async () => {
    await server.stop()
  })

  test("--all-dbs takes the 50 databases, leaves out _users, _replicator and _global_changes unless named; one answering 500 to everything does not stop the others", async () => {
    const dbs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => make(own, `app-${String(i).padStart(2, "0")}`)),
    )
    const seeded = new Map<string, Seeded>()
    for (const db of dbs) seeded.set(db, await seed(own, db, { live: 2, tombstones: 3 }))
    for (const system of ["_users", "_replicator", "_global_changes"]) {
      await make(own, system)
      await tombstones(own, system, 2)
    }
    const broken = dbs[23]!
    own.faults?.({ brokenDbs: [broken] })
    try {
      const r = await runBinary(
        ["purge", "--no-env-file", "--all-dbs", "--json", "--retries", "1", "--retry-base", "5ms"],
        { env: envOf(own), cwd },
      )
      expect(r.code).toBe(1)
      const summary = JSON.parse(r.stdout) as ManySummary
      expect(summary.databases.map((d) => d.db).sort()).toEqual([...dbs].sort())
      expect(summary.failed).toBe(1)
      expect(summary.succeeded).toBe(49)
      const failed = summary.databases.find((d) => d.db === broken)!
      expect(failed.state).toBe("failed")
      expect(failed.error).toContain("500")
      const last = r.stderr.trim().split("\n").at(-1)!
      expect(last).toStartWith(`dbsweep: 1 of 50 databases failed: ${broken} (`)
      expect(last).toContain("500")
      for (const db of dbs) {
        if (db === broken) continue
        expect(await checkPurged(own, db, seeded.get(db)!)).toBe("")
        expect(await checkpointOf(own, db)).toBeDefined()
      }
    } finally {
      own.faults?.({})
    }
    // Nothing of the broken database was purged, and its checkpoint was never written.
    expect((await dbInfo(own, broken)).doc_del_count).toBe(3)
    expect(await checkpointOf(own, broken)).toBeUndefined()
    for (const system of ["_users", "_replicator", "_global_changes"]) {
      expect((await dbInfo(own, system)).doc_del_count).toBe(2)
    }

    // Named, a system database joins --all-dbs; the broken one, mended, is purged from the start.
    const again = await runBinary(["purge", "--no-env-file", "--all-dbs", "--db", "_users", "--json"], {
      env: envOf(own),
      cwd,
    })
    expect(again.code).toBe(0)
    const next = JSON.parse(again.stdout) as ManySummary
    expect(next.databases).toHaveLength(51)
    expect(next.tombstones).toBe(2 + 3)
    expect((await dbInfo(own, "_users")).doc_del_count).toBe(0)
    expect(await checkPurged(own, broken, seeded.get(broken)!)).toBe("")
    expect((await dbInfo(own, "_replicator")).doc_del_count).toBe(2)
  }, 180_000)

  test("a database without deleted documents costs no request of its own; one deleted after is purged by the next run", async () => {
    const [busy, idleA, idleB] = [
      await make(own, "idle-busy"),
      await make(own, "idle-a"),
      await make(own, "idle-b"),
    ]
    const seededBusy = await seed(own, busy, { live: 2, tombstones: 4 })
    const seededA = await seed(own, idleA, { live: 3, liveConflicts: 1 })
    await seed(own, idleB, { live: 2 })
    // A control: the same busy database alone, its requests by kind (the lease database made
    // first, so that neither run pays for its creation).
    expect([201, 412]).toContain((await couch(own, "PUT", `/${leasesDb}`)).status)
    const control = await make(own, "control-busy")
    await seed(own, control, { live: 2, tombstones: 4 })
    const requestsOf = async (args: Array<string>) => {
      const before = server.requestCounts()
      const run = await runBinary(["purge", "--no-env-file", ...args, "--json"], { env: envOf(own), cwd })
      const after = server.requestCounts()
      const kinds = Object.keys(after).filter((k) => k.includes("{db}/") || k.startsWith("PUT /{db}/{id}"))
      return { run, byKind: Object.fromEntries(kinds.map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)])) }
    }
    const alone = await requestsOf(["--db", control, "--db", "no-such-*"])
    expect(alone.run.code).toBe(0)
    const { run: r, byKind } = await requestsOf(["--db", "idle-*"])
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.stdout) as { databases: Array<DbEntry & { nothingToPurge?: true }> }
    expect(summary.databases.map((d) => [d.db, d.state, d.tombstones, d.nothingToPurge])).toEqual([
      [idleA, "succeeded", 0, true],
      [idleB, "succeeded", 0, true],
      [busy, "succeeded", 4, undefined],
    ])
    expect(await checkPurged(own, busy, seededBusy)).toBe("")
    // The idle ones: neither read (no feed, no checkpoint) nor written (no checkpoint, no lease):
    // the run asked of databases exactly what the busy one alone costs.
    expect(byKind).toEqual(alone.byKind)
    expect(byKind["GET /{db}/_changes"]).toBeGreaterThan(0)
    expect(await checkpointOf(own, idleA)).toBeUndefined()

    // A document deleted afterwards is in the feed past the (unmoved) checkpoint: the next run purges it.
    const [live] = [...seededA.live]
    const gone = await couch(own, "DELETE", `/${idleA}/${live![0]}?rev=${live![1]}`)
    expect(gone.status).toBe(200)
    const again = await runBinary(["purge", "--no-env-file", "--db", "idle-*", "--json"], {
      env: envOf(own),
      cwd,
    })
    expect(again.code).toBe(0)
    const next = JSON.parse(again.stdout) as ManySummary
    expect(next.databases.find((d) => d.db === idleA)?.tombstones).toBe(1)
    expect((await dbInfo(own, idleA)).doc_del_count).toBe(0)
    expect((await allChanges(own, idleA)).map((row) => row.id)).not.toContain(live![0])
  }, 60_000)
})
