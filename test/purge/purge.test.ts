import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Option } from "effect"
import {
  allChanges,
  bulk,
  type CouchTarget,
  checkPurged,
  couch,
  createDb,
  dbInfo,
  feedState,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { purgeIn } from "../support/run-purge.ts"

let t: CouchTarget
const tmp = mkdtempSync(join(tmpdir(), "dbsweep-purge-"))

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
  rmSync(tmp, { recursive: true, force: true })
})

describe("purge over HTTP", () => {
  test("purges every tombstone, including docs whose several leaves are all deleted; live docs and live conflicts survive", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, {
      live: 300,
      tombstones: 1200,
      conflictedTombstones: 150,
      liveConflicts: 50,
    })
    expect((await dbInfo(t, db)).doc_del_count).toBe(1350)
    const summary = await purgeIn(t, db)
    expect(summary.tombstones).toBe(1350)
    expect(summary.purgedRevs).toBe(1200 + 2 * 150)
    expect(summary.failedDocs + summary.failedBatches).toBe(0)
    expect(await checkPurged(t, db, seeded)).toBe("")
    // The default checkpoint lives in the database as a _local doc.
    const local = await couch(t, "GET", `/${db}/_local/dbsweep-purge`)
    expect(local.status).toBe(200)
    expect(typeof (local.body as { seq: unknown }).seq).toBe("string")
  })

  test("a document re-created during the run survives", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 10, tombstones: 600 })
    t.faults?.({ latencyMs: 15 })
    const recreated = seeded.tombstones.filter((_, i) => i % 12 === 0)
    const writer = (async () => {
      for (const id of recreated) {
        // Re-creating a deleted doc (PUT without _rev) extends its tombstone branch with a live leaf.
        const r = await couch(t, "PUT", `/${db}/${id}`, { back: true })
        expect(r.status).toBe(201)
        await Bun.sleep(2)
      }
    })()
    const summary = await purgeIn(t, db, { batch: 10, concurrency: 2 })
    await writer
    t.faults?.({})
    expect(summary.failedDocs).toBe(0)
    for (const id of recreated) {
      const doc = await couch(t, "GET", `/${db}/${id}`)
      expect(doc.status).toBe(200)
      expect((doc.body as { back?: boolean }).back).toBe(true)
    }
    const deletedLeft = (await allChanges(t, db)).filter((r) => r.deleted === true)
    expect(deletedLeft).toHaveLength(0)
  })

  test.skipIf(process.env.COUCHDB_URL !== undefined)(
    "with 20% injected 500/503/429 answers and dropped connections, everything is purged and nothing live is lost",
    async () => {
      const db = await createDb(t)
      const seeded = await seed(t, db, {
        live: 200,
        tombstones: 1500,
        conflictedTombstones: 100,
        liveConflicts: 30,
      })
      t.faults?.({ errorRate: 0.2, dropRate: 0.05 })
      try {
        const summary = await purgeIn(t, db, {
          retry: { retries: 12, base: Duration.millis(2), factor: 1.5, cap: Duration.millis(50) },
        })
        expect(summary.retries).toBeGreaterThan(0)
        expect(summary.failedDocs + summary.failedBatches).toBe(0)
      } finally {
        t.faults?.({})
      }
      expect(await checkPurged(t, db, seeded)).toBe("")
    },
  )

  test("the server's 'too many ids' answer makes the run halve its batch and finish", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 20, tombstones: 700 })
    // 250 ids per request is over CouchDB 3.5.0's limit of 100: the server answers 400.
    const summary = await purgeIn(t, db, { batch: 250 })
    expect(summary.batchLimit.maxIds).toBeLessThanOrEqual(100)
    expect(summary.failedDocs + summary.failedBatches).toBe(0)
    expect(await checkPurged(t, db, seeded)).toBe("")
  })

  test("the checkpoint file holds the bare seq, and the next run purges only new tombstones", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 50, tombstones: 300 })
    const file = join(tmp, `${db}.last_seq.txt`)
    const first = await purgeIn(t, db, { checkpointFile: file })
    expect(first.tombstones).toBe(300)
    const saved = readFileSync(file, "utf8")
    expect(saved).toBe(`${first.checkpoint}\n`)
    expect(saved.trim()).not.toContain("{")
    expect(saved.trim().split("\n")).toHaveLength(1)

    const second = await purgeIn(t, db, { checkpointFile: file })
    expect(second.tombstones).toBe(0)
    expect(second.since).toBe(saved.trim())

    const fresh = await bulk(
      t,
      db,
      Array.from({ length: 7 }, (_, i) => ({ _id: `late-${i}` })),
    )
    await bulk(
      t,
      db,
      fresh.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
    )
    const third = await purgeIn(t, db, { checkpointFile: file })
    expect(third.tombstones).toBe(7)
    expect(third.purgedRevs).toBe(7)
  })

  test("--since 0 ignores the checkpoint; --since now moves it to the present without purging", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 40 })
    const now = await purgeIn(t, db, { since: Option.some("now") })
    expect(now.tombstones).toBe(0)
    expect((await dbInfo(t, db)).doc_del_count).toBe(40)
    expect((await purgeIn(t, db)).tombstones).toBe(0)
    const all = await purgeIn(t, db, { since: Option.some("0") })
    expect(all.tombstones).toBe(40)
    expect((await dbInfo(t, db)).doc_del_count).toBe(0)
  })

  test("a dry run counts exactly what the real run then purges, and changes nothing", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 30, tombstones: 250, conflictedTombstones: 25 })
    const before = feedState(await allChanges(t, db))
    expect(before).toHaveLength(305)
    const dry = await purgeIn(t, db, { dryRun: true })
    expect(feedState(await allChanges(t, db))).toEqual(before)
    expect((await couch(t, "GET", `/${db}/_local/dbsweep-purge`)).status).toBe(404)
    const real = await purgeIn(t, db)
    expect(dry.tombstones).toBe(real.tombstones)
    expect(dry.revs).toBe(real.purgedRevs)
    expect(real.alreadyGone).toBe(0)
  })

  test("an unfinished run leaves the checkpoint before anything it did not purge", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 10, tombstones: 500 })
    let calls = 0
    // Stop after a few units: the rest is left for the next run.
    const partial = await purgeIn(t, db, {
      batch: 20,
      concurrency: 3,
      pageSize: 40,
      stopping: Effect.sync(() => {
        calls += 1
        return calls > 12
      }),
    })
    expect(partial.interrupted).toBe(true)
    expect(partial.tombstones).toBeLessThan(500)
    const rest = await purgeIn(t, db)
    expect(partial.tombstones + rest.tombstones).toBeGreaterThanOrEqual(500)
    expect(await checkPurged(t, db, seeded)).toBe("")
  })
})
