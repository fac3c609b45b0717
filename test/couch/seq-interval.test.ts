// seq_interval on _changes, as a real CouchDB 3.5.0 answers it (runs against one with COUCHDB_URL):
// purge reads its feed with it, so the server computes a seq for one row in N only.
// https://docs.couchdb.org/en/stable/api/database/changes.html (seq_interval)
import { afterAll, beforeAll, expect, test } from "bun:test"
import {
  bulk,
  type CouchTarget,
  couch,
  createDb,
  deleteDb,
  startCouchTarget,
} from "../support/couch-target.ts"

let t: CouchTarget
let db: string
beforeAll(async () => {
  t = await startCouchTarget()
  db = await createDb(t)
  await bulk(
    t,
    db,
    Array.from({ length: 7 }, (_, i) => ({ _id: `d${i}` })),
  )
})
afterAll(async () => {
  await deleteDb(t, db)
  await t.stop()
})

interface Page {
  results: Array<{ seq: string | null; id: string }>
  last_seq: string
}

test("only every Nth row carries its seq (counted down from the limit), the others null; last_seq is always given", async () => {
  const r = await couch(t, "GET", `/${db}/_changes?style=all_docs&limit=7&seq_interval=3`)
  expect(r.status).toBe(200)
  const page = r.body as Page
  expect(page.results.map((row) => row.seq !== null)).toEqual([false, true, false, false, true, false, false])
  expect(typeof page.last_seq).toBe("string")
  // Paging on from a row's seq continues after that row.
  const second = page.results[1]!.seq!
  const next = (await couch(t, "GET", `/${db}/_changes?since=${encodeURIComponent(second)}`)).body as Page
  // (A clustered feed interleaves its shards in no fixed order: compare the ids as sets.)
  const ids = (rows: Page["results"]) => rows.map((row) => row.id).sort()
  expect(ids(next.results)).toEqual(ids(page.results.slice(2)))
})

test("a seq_interval that is not a positive integer is a 400", async () => {
  for (const bad of ["0", "abc", "-2"]) {
    const r = await couch(t, "GET", `/${db}/_changes?seq_interval=${bad}`)
    expect(r).toEqual({ status: 400, body: { error: "bad_request", reason: "invalid_seq_interval" } })
  }
})
