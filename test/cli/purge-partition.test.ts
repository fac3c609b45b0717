import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { partitionOf } from "../../src/purge/partition.ts"
import { runBinary } from "../support/binary.ts"
import { type CouchServer, startCouchServer } from "../support/couch-server.ts"
import { type CouchTarget, checkPurged, couch, dbInfo, type Seeded, seed } from "../support/couch-target.ts"

/**
 * `--partition` as a Kubernetes Indexed Job runs it: 4 processes of the compiled binary, each with
 * its JOB_COMPLETION_INDEX (0-3) and DBSWEEP_PARTITIONS=4, over the same `--all-dbs`, at once. A
 * test server of its own: "all" on a shared CouchDB would be every other user's databases too.
 */

const workers = 4
const databases = 200
let server: CouchServer
let own: CouchTarget
const cwd = mkdtempSync(join(tmpdir(), "dbsweep-partition-"))

beforeAll(async () => {
  const user = "admin"
  const password = "partition-Passw0rd"
  server = await startCouchServer({ admin: { user, password }, version: "3.5.0" })
  own = { url: server.url, user, password, faults: (f) => server.setFaults(f), stop: () => server.stop() }
})
afterAll(async () => {
  await server.stop()
  rmSync(cwd, { recursive: true, force: true })
})

interface DbEntry {
  db: string
  state: string
  tombstones: number
  purgedRevs: number
}
interface ManySummary {
  databases: Array<DbEntry>
  partition?: string
  selectedInAllPartitions?: number
  failed: number
}

/** The server's own count of ids asked to purge: purge_seq's prefix grows by one per requested id. */
const purgeRequestsOf = async (db: string) => {
  const info = await couch(own, "GET", `/${db}`)
  return Number((info.body as { purge_seq: string }).purge_seq.split("-")[0])
}

describe("dbsweep purge --partition (4 workers of an Indexed Job)", () => {
  test("4 processes with JOB_COMPLETION_INDEX 0-3 over 200 databases: each purged by exactly one, none left out", async () => {
    const names = Array.from({ length: databases }, (_, i) => `userdb-${i.toString(16).padStart(4, "0")}`)
    const seeded = new Map<string, Seeded>()
    for (const db of names) {
      const r = await couch(own, "PUT", `/${db}`)
      expect(r.status).toBe(201)
      seeded.set(db, await seed(own, db, { live: 1, tombstones: 2, conflictedTombstones: 1 }))
    }

    const runs = await Promise.all(
      Array.from({ length: workers }, (_, index) =>
        runBinary(["purge", "--no-env-file", "--all-dbs", "--json", "--log-format", "json"], {
          env: {
            COUCHDB_URL: own.url,
            COUCHDB_USER: own.user,
            COUCHDB_PASSWORD: own.password,
            JOB_COMPLETION_INDEX: String(index),
            DBSWEEP_PARTITIONS: String(workers),
          },
          cwd,
          timeoutMs: 120_000,
        }),
      ),
    )

    const owner = new Map<string, Array<number>>()
    for (const [index, r] of runs.entries()) {
      expect({ index, code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({
        index,
        code: 0,
        stderr: "",
      })
      const summary = JSON.parse(r.stdout) as ManySummary
      expect(summary.partition).toBe(`${index}/${workers}`)
      expect(summary.selectedInAllPartitions).toBe(databases)
      expect(summary.failed).toBe(0)
      // A worker's share is neither empty nor everything (the hash spreads 200 names).
      expect(summary.databases.length).toBeGreaterThan(0)
      expect(summary.databases.length).toBeLessThan(databases)
      for (const d of summary.databases) {
        expect(d.state).toBe("succeeded")
        expect(d.tombstones).toBe(3)
        // Each database is in the partition its name hashes to, wherever the worker runs.
        expect(partitionOf(d.db, workers)).toBe(index)
        owner.set(d.db, [...(owner.get(d.db) ?? []), index])
      }
    }
    // No gap: every database was some worker's. No overlap: only one worker's.
    expect([...owner.keys()].sort()).toEqual(names)
    expect([...owner.values()].filter((o) => o.length !== 1)).toEqual([])

    // And from the server's own record: every tombstone gone, every live doc kept, each id asked once.
    for (const db of names) {
      expect(await checkPurged(own, db, seeded.get(db)!)).toBe("")
      expect((await dbInfo(own, db)).doc_del_count).toBe(0)
      expect({ db, requested: await purgeRequestsOf(db) }).toEqual({ db, requested: 3 })
    }
  }, 240_000)
})
