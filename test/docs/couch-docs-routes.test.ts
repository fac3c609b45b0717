// _bulk_get and all_or_nothing as CouchDB 3.5.0 answers them (COUCHDB-FACTS §3, §5): runs against
// the test server, or a real CouchDB when COUCHDB_URL is set.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { freshCollection } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

describe("_bulk_get and all_or_nothing", () => {
  test('_bulk_get: ok docs, literal "undefined" rev for a missing id, a missing rev, a tombstone', async () => {
    const db = freshCollection("bg")
    await couch(t, "PUT", `/${db}`)
    const b1 = (await couch(t, "PUT", `/${db}/b1`, { v: 1 })).body as { rev: string }
    const c1 = (await couch(t, "PUT", `/${db}/c1`, { v: 1 })).body as { rev: string }
    const gone = (await couch(t, "DELETE", `/${db}/c1?rev=${c1.rev}`)).body as { rev: string }
    const r = await couch(t, "POST", `/${db}/_bulk_get`, {
      docs: [{ id: "b1" }, { id: "nope" }, { id: "b1", rev: "1-zzz" }, { id: "c1" }],
    })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({
      results: [
        { id: "b1", docs: [{ ok: { _id: "b1", _rev: b1.rev, v: 1 } }] },
        {
          id: "nope",
          docs: [{ error: { rev: "undefined", reason: "missing", id: "nope", error: "not_found" } }],
        },
        { id: "b1", docs: [{ error: { rev: "1-zzz", reason: "missing", id: "b1", error: "not_found" } }] },
        { id: "c1", docs: [{ ok: { _id: "c1", _rev: gone.rev, _deleted: true } }] },
      ],
    })
    const revs = await couch(t, "POST", `/${db}/_bulk_get?revs=true`, { docs: [{ id: "b1" }] })
    const ok = (revs.body as { results: Array<{ docs: Array<{ ok: Record<string, unknown> }> }> }).results[0]
      ?.docs[0]?.ok
    expect(ok?._revisions).toEqual({ start: 1, ids: [b1.rev.slice(2)] })
    expect(await couch(t, "POST", `/${db}/_bulk_get`, {})).toEqual({
      status: 400,
      body: { error: "bad_request", reason: "Missing JSON list of 'docs'." },
    })
  })

  test("_bulk_docs with all_or_nothing: 417 not_implemented, nothing written", async () => {
    const db = freshCollection("aon")
    await couch(t, "PUT", `/${db}`)
    const r = await couch(t, "POST", `/${db}/_bulk_docs`, {
      all_or_nothing: true,
      docs: [{ _id: "aon", v: 1 }],
    })
    expect(r).toEqual({
      status: 417,
      body: [{ id: "aon", rev: "0-", error: "not_implemented", reason: "all_or_nothing is not supported" }],
    })
    expect((await couch(t, "GET", `/${db}/aon`)).status).toBe(404)
  })
})
