// The test server against /work/shared/COUCHDB-FACTS.md (what a real CouchDB 3.5.0 answered),
// section by section, for everything the server implements: statuses and bodies as recorded there.
// Views (§12), _bulk_get (§5), compaction (§9), replication (§10), open_revs and all_or_nothing
// are not implemented by the test server and not checked here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { basic, type Call, client, type Json } from "./couch-http.ts"
import { type CouchServer, startCouchServer } from "./couch-server.ts"

const ADMIN = { user: "admin", password: "facts-Passw0rd" }
const E = (error: string, reason: string) => ({ error, reason })
const SEQ = /^\d+-g1AAAA[\w-]+$/
const seqNum = (seq: string): number => Number(seq.split("-")[0])

let server: CouchServer
let call: Call
let n = 0
const freshDb = async (prefix = "facts"): Promise<string> => {
  const name = `${prefix}-${++n}`
  expect(await call("PUT", `/${name}`)).toEqual({ status: 201, body: { ok: true } })
  return name
}
const put = async (path: string, body: unknown): Promise<string> => {
  const r = await call<{ rev: string }>("PUT", path, body)
  expect(r.status).toBe(201)
  return r.body.rev
}
/** A _users account, made over HTTP as on a real CouchDB; a member of `memberOf`. */
const user = async (name: string, memberOf: string[] = []) => {
  expect([201, 412]).toContain((await call("PUT", "/_users")).status)
  await put(`/_users/org.couchdb.user:${name}`, { name, password: "pw", roles: [], type: "user" })
  for (const db of memberOf) {
    const sec = { members: { names: [name], roles: [] }, admins: { names: [], roles: [] } }
    expect((await call("PUT", `/${db}/_security`, sec)).status).toBe(200)
  }
  return { Authorization: basic(name, "pw") }
}

beforeAll(async () => {
  server = await startCouchServer({ admin: ADMIN, seed: 7 })
  call = client(server.url, ADMIN)
})
afterAll(() => server.stop())

describe("§1 databases", () => {
  test("create, exists, illegal names, delete, then 404 everywhere", async () => {
    expect(await call("PUT", "/facts-db")).toEqual({ status: 201, body: { ok: true } })
    expect(await call("PUT", "/facts-db")).toEqual({
      status: 412,
      body: E("file_exists", "The database could not be created, the file already exists."),
    })
    for (const bad of ["Facts_Bad", "_x"])
      expect(await call("PUT", `/${bad}`)).toEqual({
        status: 400,
        body: E(
          "illegal_database_name",
          `Name: '${bad}'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.`,
        ),
      })
    expect(await call("DELETE", "/facts-db")).toEqual({ status: 200, body: { ok: true } })
    const gone = { status: 404, body: E("not_found", "Database does not exist.") }
    expect(await call("GET", "/facts-db")).toEqual(gone)
    expect(await call("GET", "/facts-db/doc")).toEqual(gone)
    expect(await call("PUT", "/facts-db/doc", {})).toEqual(gone)
    expect(await call("GET", "/facts-db/_changes")).toEqual(gone)
    expect(await call("DELETE", "/facts-db")).toEqual(gone)
  })

  test("db info: its members and types; doc_count includes design docs", async () => {
    const db = await freshDb()
    const info = await call("GET", `/${db}`)
    expect(info).toEqual({
      status: 200,
      body: {
        instance_start_time: expect.stringMatching(/^\d{10}$/),
        db_name: db,
        purge_seq: expect.stringMatching(/^0-g1AAAA/),
        update_seq: expect.stringMatching(/^0-g1AAAA/),
        sizes: { file: 16700, external: 0, active: 0 },
        props: {},
        doc_del_count: 0,
        doc_count: 0,
        disk_format_version: 8,
        compact_running: false,
        cluster: { q: 2, n: 1, w: 1, r: 1 },
      },
    })
    expect(Object.keys(info.body)).toEqual([
      "instance_start_time",
      "db_name",
      "purge_seq",
      "update_seq",
      "sizes",
      "props",
      "doc_del_count",
      "doc_count",
      "disk_format_version",
      "compact_running",
      "cluster",
    ])
    await put(`/${db}/_design/x`, {})
    expect((await call("GET", `/${db}`)).body.doc_count).toBe(1)
  })

  test("_purged_infos_limit: a bare 1000; PUT a positive integer", async () => {
    const db = await freshDb()
    expect(await call<unknown>("GET", `/${db}/_purged_infos_limit`)).toEqual({ status: 200, body: 1000 })
    expect(await call("PUT", `/${db}/_purged_infos_limit`, 500)).toEqual({ status: 200, body: { ok: true } })
    expect(await call<unknown>("GET", `/${db}/_purged_infos_limit`)).toEqual({ status: 200, body: 500 })
    for (const bad of ["0", '"x"', "-3", "1.5"])
      expect(await call("PUT", `/${db}/_purged_infos_limit`, bad)).toEqual({
        status: 400,
        body: E("bad_request", "`purged_infos_limit` must be positive integer"),
      })
  })
})

describe("§2 documents", () => {
  test("create: rev hash is f(body, parent), not _id", async () => {
    const db = await freshDb()
    const rev = "1-7a7e4b29f3af401e69b6f86e4c26b727"
    expect(await call("PUT", `/${db}/id`, { v: 1 })).toEqual({
      status: 201,
      body: { ok: true, id: "id", rev },
    })
    expect(await call("POST", `/${db}`, { _id: "other", v: 1 })).toEqual({
      status: 201,
      body: { ok: true, id: "other", rev },
    })
    const posted = await call<{ id: string; rev: string }>("POST", `/${db}`, { v: 1 })
    expect(posted.status).toBe(201)
    expect(posted.body.rev).toBe(rev)
  })

  test("update conflicts: no rev, stale rev (body, ?rev=, If-Match), DELETE without rev; a rev for a new id", async () => {
    const db = await freshDb()
    const r1 = await put(`/${db}/d`, { v: 1 })
    const r2 = await put(`/${db}/d`, { _rev: r1, v: 2 })
    const conflict = { status: 409, body: E("conflict", "Document update conflict.") }
    expect(await call("PUT", `/${db}/d`, { v: 3 })).toEqual(conflict)
    expect(await call("PUT", `/${db}/d`, { _rev: r1, v: 3 })).toEqual(conflict)
    expect(await call("PUT", `/${db}/d?rev=${r1}`, { v: 3 })).toEqual(conflict)
    const ifMatch = { Authorization: basic(ADMIN.user, ADMIN.password), "If-Match": `"${r1}"` }
    expect(await call("PUT", `/${db}/d`, { v: 3 }, ifMatch)).toEqual(conflict)
    expect(await call("DELETE", `/${db}/d`)).toEqual(conflict)
    expect(await call("PUT", `/${db}/never`, { _rev: "1-abc" })).toEqual(conflict)
    expect(await call("PUT", `/${db}/never?rev=1-abc`, {})).toEqual(conflict)
    expect(
      await call<unknown>("POST", `/${db}/_bulk_docs`, { docs: [{ _id: "never", _rev: "1-abc" }] }),
    ).toEqual({
      status: 201,
      body: [{ id: "never", error: "conflict", reason: "Document update conflict." }],
    })
    const del = await call("DELETE", `/${db}/d?rev=${r2}`)
    expect(del).toEqual({ status: 200, body: { ok: true, id: "d", rev: expect.stringMatching(/^3-/) } })
  })

  test("reads: missing, deleted, ?rev=, ?deleted=true; re-create extends the tombstone", async () => {
    const db = await freshDb()
    const missing = { status: 404, body: E("not_found", "missing") }
    expect(await call("GET", `/${db}/nope`)).toEqual(missing)
    const r1 = await put(`/${db}/c`, { v: 1 })
    expect(await call("GET", `/${db}/c?rev=1-abc`)).toEqual(missing)
    const tomb = (await call<{ rev: string }>("DELETE", `/${db}/c?rev=${r1}`)).body.rev
    expect(tomb).toMatch(/^2-/)
    expect(await call("GET", `/${db}/c`)).toEqual({ status: 404, body: E("not_found", "deleted") })
    const stone = { status: 200, body: { _id: "c", _rev: tomb, _deleted: true } }
    expect(await call("GET", `/${db}/c?rev=${tomb}`)).toEqual(stone)
    expect(await call("GET", `/${db}/c?deleted=true`)).toEqual(stone)
    expect(await call("PUT", `/${db}/c`, { v: 3 })).toEqual({
      status: 201,
      body: { ok: true, id: "c", rev: expect.stringMatching(/^3-[0-9a-f]{32}$/) },
    })
  })

  test("bad input: rev format, special members, reserved ids", async () => {
    const db = await freshDb()
    expect(await call("PUT", `/${db}/d`, { _rev: "garbage" })).toEqual({
      status: 400,
      body: E("bad_request", "Invalid rev format"),
    })
    expect(await call("PUT", `/${db}/d`, { _bad: 1 })).toEqual({
      status: 400,
      body: E("doc_validation", "Bad special document member: _bad"),
    })
    expect(await call("PUT", `/${db}/_x`, {})).toEqual({
      status: 400,
      body: E("illegal_docid", "Only reserved document ids may start with underscore."),
    })
  })

  // The purge lease's compare-and-set (src/purge/lease.ts) rests on these answers; the id with
  // every character a database name may hold, percent-encoded, was checked on CouchDB 3.5.0.
  test("a lease's life: create 201, no or stale rev 409 (PUT and DELETE), DELETE 200, re-create 201", async () => {
    const db = await freshDb()
    const id = "purge:a/b+c$d(e)f-g_h"
    const path = `/${db}/${encodeURIComponent(id)}`
    const conflict = { status: 409, body: E("conflict", "Document update conflict.") }
    const created = await call<{ ok: boolean; rev: string; id: string }>("PUT", path, { holder: "a" })
    expect(created).toEqual({ status: 201, body: { ok: true, id, rev: expect.stringMatching(/^1-/) } })
    expect(await call("PUT", path, { holder: "b" })).toEqual(conflict)
    const r2 = await put(path, { _rev: created.body.rev, holder: "b" })
    expect(await call("PUT", path, { _rev: created.body.rev, holder: "c" })).toEqual(conflict)
    expect(await call("DELETE", `${path}?rev=${created.body.rev}`)).toEqual(conflict)
    expect(await call("GET", path)).toEqual({ status: 200, body: { _id: id, _rev: r2, holder: "b" } })
    expect(await call("DELETE", `${path}?rev=${r2}`)).toEqual({
      status: 200,
      body: { ok: true, id, rev: expect.stringMatching(/^3-/) },
    })
    expect(await call("PUT", path, { holder: "c" })).toEqual({
      status: 201,
      body: { ok: true, id, rev: expect.stringMatching(/^4-/) },
    })
  })

  test("?conflicts, ?revs_info, ?revs", async () => {
    const db = await freshDb()
    const docs = [
      { _id: "cf", _rev: "1-aaaa", v: "a" },
      { _id: "cf", _rev: "1-bbbb", v: "b" },
    ]
    expect(await call<unknown>("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })).toEqual({
      status: 201,
      body: [],
    })
    expect((await call("GET", `/${db}/cf?conflicts=true`)).body).toEqual({
      _id: "cf",
      _rev: "1-bbbb",
      v: "b",
      _conflicts: ["1-aaaa"],
    })
    const r1 = await put(`/${db}/h`, { v: 1 })
    const r2 = await put(`/${db}/h`, { _rev: r1, v: 2 })
    const r3 = (await call<{ rev: string }>("DELETE", `/${db}/h?rev=${r2}`)).body.rev
    const r4 = await put(`/${db}/h`, { v: 4 })
    expect((await call("GET", `/${db}/h?conflicts=true`)).body).not.toHaveProperty("_conflicts")
    expect((await call("GET", `/${db}/h?revs_info=true`)).body._revs_info).toEqual([
      { rev: r4, status: "available" },
      { rev: r3, status: "deleted" },
      { rev: r2, status: "available" },
      { rev: r1, status: "available" },
    ])
    const hash = (r: string) => r.split("-")[1]
    expect((await call("GET", `/${db}/h?revs=true`)).body._revisions).toEqual({
      start: 4,
      ids: [r4, r3, r2, r1].map(hash),
    })
  })
})

describe("§3 _bulk_docs", () => {
  test("201 whatever the elements say; ok and conflict elements; a first-ever tombstone", async () => {
    const db = await freshDb()
    await put(`/${db}/doc1`, {})
    const r = await call<Json[]>("POST", `/${db}/_bulk_docs`, {
      docs: [{ _id: "b1", v: 1 }, { _id: "doc1" }, { _id: "b1" }, { _id: "n", _deleted: true }],
    })
    expect(r).toEqual({
      status: 201,
      body: [
        { ok: true, id: "b1", rev: "1-7a7e4b29f3af401e69b6f86e4c26b727" },
        { id: "doc1", error: "conflict", reason: "Document update conflict." },
        { id: "b1", error: "conflict", reason: "Document update conflict." },
        { ok: true, id: "n", rev: expect.stringMatching(/^1-[0-9a-f]{32}$/) },
      ],
    })
    const allFailed = await call("POST", `/${db}/_bulk_docs`, { docs: [{ _id: "doc1" }] })
    expect(allFailed.status).toBe(201)
  })

  test("new_edits:false answers [] and needs revs", async () => {
    const db = await freshDb()
    const docs = [{ _id: "r", _rev: "1-abc" }]
    expect(await call<unknown>("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })).toEqual({
      status: 201,
      body: [],
    })
    expect(await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs: [{ _id: "s" }] })).toEqual({
      status: 400,
      body: E("bad_request", "When `new_edits: false`, the document needs `_rev` or `_revisions` specified"),
    })
  })

  test("one invalid doc fails the whole request and writes nothing; no docs", async () => {
    const db = await freshDb()
    const cases: [unknown, Json][] = [
      [{ _id: "_bad" }, E("illegal_docid", "Only reserved document ids may start with underscore.")],
      [{ _id: "r", _rev: "garbage" }, E("bad_request", "Invalid rev format")],
      [{ _id: "v", _nope: 1 }, E("doc_validation", "Bad special document member: _nope")],
      ["text", E("bad_request", "Document must be a JSON object")],
    ]
    for (const [bad, body] of cases)
      expect(await call("POST", `/${db}/_bulk_docs`, { docs: [{ _id: "fine" }, bad] })).toEqual({
        status: 400,
        body,
      })
    expect((await call("GET", `/${db}/fine`)).status).toBe(404)
    expect(await call("POST", `/${db}/_bulk_docs`, {})).toEqual({
      status: 400,
      body: E("bad_request", "POST body must include `docs` parameter."),
    })
  })
})

describe("§4 _all_docs", () => {
  test("rows, design docs in, deleted and _local out; raw code point order", async () => {
    const db = await freshDb()
    const ids = ["é", "b", "~", "_design/x", "a", "B", "1", "A", "-", "\u{1F600}", "\uFF5E"]
    const w = await call<{ id: string; rev: string }[]>("POST", `/${db}/_bulk_docs`, {
      docs: [...ids.map((_id) => ({ _id })), { _id: "gone" }, { _id: "_local/l1" }],
    })
    await call("DELETE", `/${db}/gone?rev=${w.body[ids.length]?.rev}`)
    const all = await call<{ total_rows: number; offset: number; rows: Json[] }>("GET", `/${db}/_all_docs`)
    expect(all.status).toBe(200)
    // UTF-8 byte order: U+FF5E before U+1F600 (JavaScript's UTF-16 order has it the other way).
    const order = ["-", "1", "A", "B", "_design/x", "a", "b", "~", "é", "\uFF5E", "\u{1F600}"]
    expect(all.body.rows.map((r) => r.id)).toEqual(order)
    expect(all.body).toMatchObject({ total_rows: 11, offset: 0 })
    const revOf = new Map(w.body.map((r) => [r.id, r.rev]))
    expect(all.body.rows[0]).toEqual({ id: "-", key: "-", value: { rev: revOf.get("-") } })
  })

  test("start_key, end_key, limit, skip, descending, inclusive_end; keys must be JSON", async () => {
    const db = await freshDb()
    await call("POST", `/${db}/_bulk_docs`, { docs: ["a", "b", "c", "d", "e"].map((_id) => ({ _id })) })
    const ids = async (qs: string) =>
      (await call<{ offset: number; rows: { id: string }[] }>("GET", `/${db}/_all_docs?${qs}`)).body
    const k = (s: string) => encodeURIComponent(JSON.stringify(s))
    expect((await ids(`start_key=${k("b")}&end_key=${k("d")}`)).rows.map((r) => r.id)).toEqual([
      "b",
      "c",
      "d",
    ])
    expect(
      (await ids(`start_key=${k("b")}&end_key=${k("d")}&inclusive_end=false`)).rows.map((r) => r.id),
    ).toEqual(["b", "c"])
    expect(await ids(`start_key=${k("b")}&limit=2&skip=1`)).toMatchObject({
      offset: 2,
      rows: [{ id: "c" }, { id: "d" }],
    })
    expect(
      (await ids(`descending=true&start_key=${k("d")}&end_key=${k("b")}`)).rows.map((r) => r.id),
    ).toEqual(["d", "c", "b"])
    expect(await call("GET", `/${db}/_all_docs?start_key=b`)).toEqual({
      status: 400,
      body: E("bad_request", "invalid UTF-8 JSON"),
    })
  })

  test("POST keys: offset null, key order, missing, deleted, and _local docs found", async () => {
    const db = await freshDb()
    const b1 = await put(`/${db}/b1`, { v: 1 })
    const c1 = await put(`/${db}/c1`, {})
    const c1del = (await call<{ rev: string }>("DELETE", `/${db}/c1?rev=${c1}`)).body.rev
    await put(`/${db}/_local/l1`, {})
    const r = await call("POST", `/${db}/_all_docs?include_docs=true`, {
      keys: ["m", "c1", "b1", "_local/l1"],
    })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ total_rows: 1, offset: null })
    const [m, c, b, l] = r.body.rows as Json[]
    expect(m).toEqual({ key: "m", error: "not_found" })
    expect(c).toEqual({ id: "c1", key: "c1", value: { rev: c1del, deleted: true }, doc: null })
    expect(b).toEqual({ id: "b1", key: "b1", value: { rev: b1 }, doc: { _id: "b1", _rev: b1, v: 1 } })
    expect(l).toMatchObject({ id: "_local/l1", key: "_local/l1", value: { rev: "0-1" } })
  })
})

describe("§6 _changes", () => {
  interface Row {
    seq: string
    id: string
    changes: { rev: string }[]
    deleted?: boolean
    doc?: Json
  }
  interface Feed {
    results: Row[]
    last_seq: string
    pending: number
  }
  const feed = async (db: string, qs = "") => (await call<Feed>("GET", `/${db}/_changes?${qs}`)).body

  test("one row per doc at its latest rev; deleted flagged; _local never; include_docs; style=all_docs", async () => {
    const db = await freshDb()
    const r1 = await put(`/${db}/doc1`, { v: 1 })
    const r2 = await put(`/${db}/doc1`, { _rev: r1, v: 2 })
    const dd = await put(`/${db}/dd`, {})
    const ddGone = (await call<{ rev: string }>("DELETE", `/${db}/dd?rev=${dd}`)).body.rev
    await put(`/${db}/_local/l`, {})
    const f = await feed(db, "include_docs=true")
    expect(Object.keys(f)).toEqual(["results", "last_seq", "pending"])
    expect(f.last_seq).toMatch(SEQ)
    expect(f.pending).toBe(0)
    const byId = Object.fromEntries(f.results.map((r) => [r.id, r]))
    expect(Object.keys(byId).sort()).toEqual(["dd", "doc1"])
    expect(byId.doc1).toEqual({
      seq: expect.stringMatching(SEQ),
      id: "doc1",
      changes: [{ rev: r2 }],
      doc: { _id: "doc1", _rev: r2, v: 2 },
    })
    expect(byId.dd).toEqual({
      seq: expect.stringMatching(SEQ),
      id: "dd",
      changes: [{ rev: ddGone }],
      deleted: true,
      doc: { _id: "dd", _rev: ddGone, _deleted: true },
    })
    const docs = [
      { _id: "cf", _rev: "1-aaaa" },
      { _id: "cf", _rev: "1-bbbb", _deleted: true },
      { _id: "cf", _rev: "1-cccc" },
    ]
    await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })
    const all = (await feed(db, "style=all_docs")).results.find((r) => r.id === "cf")
    // Every leaf, the winner first (the order of the others is not recorded).
    expect(all?.changes[0]).toEqual({ rev: "1-cccc" })
    expect(all?.changes.map((c) => c.rev).sort()).toEqual(["1-aaaa", "1-bbbb", "1-cccc"])
  })

  test("limit: last_seq is the last row's, pending the rows left; limit=abc is a 500 badarg", async () => {
    const db = await freshDb()
    await call("POST", `/${db}/_bulk_docs`, { docs: Array.from({ length: 7 }, (_, i) => ({ _id: `d${i}` })) })
    const page = await feed(db, "limit=3")
    expect(page.results).toHaveLength(3)
    expect(page.last_seq).toBe(page.results[2]?.seq ?? "")
    expect(page.pending).toBe(4)
    const bad = await call<Json>("GET", `/${db}/_changes?limit=abc`)
    expect(bad).toEqual({
      status: 500,
      body: { error: "unknown_error", reason: "badarg", ref: expect.any(Number) },
    })
    expect(Number.isInteger(bad.body.ref)).toBe(true)
  })

  test("since: 0, now, a full seq (any db's); anything else is a 400", async () => {
    const db = await freshDb()
    const other = await freshDb()
    await put(`/${db}/a`, {})
    await put(`/${other}/z`, {})
    const full = await feed(db, "since=0")
    expect(full.results.map((r) => r.id)).toEqual(["a"])
    expect(await feed(db, "since=now")).toEqual({ results: [], last_seq: full.last_seq, pending: 0 })
    const otherSeq = (await feed(other)).last_seq
    expect((await call("GET", `/${db}/_changes?since=${otherSeq}`)).status).toBe(200)
    for (const since of ["garbage", "5", "200", "-1", "12-abc", '"0"'])
      expect(await call("GET", `/${db}/_changes?since=${encodeURIComponent(since)}`)).toEqual({
        status: 400,
        body: E("bad_request", "Malformed sequence supplied in 'since' parameter."),
      })
  })

  test("q=2: same rows and last_seq on every call, order may differ; prefixes count rows in output order", async () => {
    const db = await freshDb()
    const docs = Array.from({ length: 200 }, (_, i) => ({ _id: `d${String(i).padStart(3, "0")}` }))
    await call("POST", `/${db}/_bulk_docs`, { docs })
    const calls = [await feed(db), await feed(db), await feed(db)]
    for (const c of calls) {
      expect(c.results.map((r) => r.id).sort()).toEqual(docs.map((d) => d._id))
      expect(c.last_seq).toBe(calls[0]?.last_seq ?? "")
      expect(c.results.map((r) => seqNum(r.seq))).toEqual(docs.map((_, i) => i + 1))
    }
    const orders = new Set(calls.map((c) => c.results.map((r) => r.id).join()))
    expect(orders.size).toBeGreaterThan(1)
  })
})

describe("§7 _purge", () => {
  test("answer, ignored revs, a purged doc is missing", async () => {
    const db = await freshDb()
    const b1 = await put(`/${db}/b1`, { v: 1 })
    const b2 = await put(`/${db}/b1`, { _rev: b1, v: 2 })
    expect(await call("POST", `/${db}/_purge`, { b1: [b2] })).toEqual({
      status: 201,
      body: { purge_seq: null, purged: { b1: [b2] } },
    })
    await put(`/${db}/x`, {})
    const x2 = await put(`/${db}/x`, {
      _rev: (await call<{ _rev: string }>("GET", `/${db}/x`)).body._rev,
      v: 2,
    })
    const xs = await call<{ _revisions: { ids: string[] } }>("GET", `/${db}/x?revs=true`)
    const nonLeaf = `1-${xs.body._revisions.ids[1]}`
    expect((await call("POST", `/${db}/_purge`, { x: [nonLeaf], y: ["1-abc"] })).body).toEqual({
      purge_seq: null,
      purged: { x: [], y: [] },
    })
    expect((await call("POST", `/${db}/_purge`, { x: ["2-abc"] })).body.purged).toEqual({ x: [] })
    const docs = [
      { _id: "cf", _rev: "1-aaaa" },
      { _id: "cf", _rev: "1-bbbb" },
    ]
    await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })
    expect((await call("POST", `/${db}/_purge`, { cf: ["1-aaaa", "1-zzzz"] })).body.purged).toEqual({
      cf: ["1-aaaa"],
    })
    expect(await call("POST", `/${db}/_purge`, { x: [x2] })).toMatchObject({ status: 201 })
    expect(await call("GET", `/${db}/x`)).toEqual({ status: 404, body: E("not_found", "missing") })
  })

  test("limits and bad bodies", async () => {
    const db = await freshDb()
    const ids = (k: number) => Object.fromEntries(Array.from({ length: k }, (_, i) => [`i${i}`, ["1-abc"]]))
    expect(await call("POST", `/${db}/_purge`, ids(101))).toEqual({
      status: 400,
      body: E("bad_request", "Exceeded maximum number of documents."),
    })
    expect((await call("POST", `/${db}/_purge`, ids(100))).status).toBe(201)
    const revs = Array.from({ length: 101 }, (_, i) => `1-r${i}`)
    expect((await call("POST", `/${db}/_purge`, { one: revs })).status).toBe(201)
    const bad = (body: unknown, reason: string) =>
      expect(call("POST", `/${db}/_purge`, body)).resolves.toEqual({
        status: 400,
        body: E("bad_request", reason),
      })
    await bad([], "Request body must be a JSON object")
    await bad({ x: "1-abc" }, "Invalid list of revisions")
    await bad({ x: ["garbage"] }, "Invalid rev format")
  })

  test("purge_seq grows by one per requested id, no-ops included", async () => {
    const db = await freshDb()
    const docs = ["t1", "t2", "t3"].map((_id) => ({ _id, _rev: `1-${_id}`, _deleted: true }))
    await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })
    const ids = Object.fromEntries(Array.from({ length: 97 }, (_, i) => [`none${i}`, ["1-abc"]]))
    const first = { ...Object.fromEntries(docs.map((d) => [d._id, [d._rev]])), ...ids }
    const r = await call<{ purged: Record<string, string[]> }>("POST", `/${db}/_purge`, first)
    expect(Object.values(r.body.purged).flat()).toHaveLength(3)
    await call(
      "POST",
      `/${db}/_purge`,
      Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x${i}`, []])),
    )
    const info = (await call<{ purge_seq: string }>("GET", `/${db}`)).body
    expect(info.purge_seq).toMatch(/^106-g1AAAA/)
  })
})

describe("§8 _local docs", () => {
  test("0-N revs with no conflict check, ever", async () => {
    const db = await freshDb()
    expect(await call("PUT", `/${db}/_local/l`, { a: 1 })).toEqual({
      status: 201,
      body: { ok: true, id: "_local/l", rev: "0-1" },
    })
    expect(await call("GET", `/${db}/_local/l`)).toEqual({
      status: 200,
      body: { _id: "_local/l", _rev: "0-1", a: 1 },
    })
    expect((await call("PUT", `/${db}/_local/l`, { a: 2 })).body.rev).toBe("0-1")
    expect((await call("PUT", `/${db}/_local/l`, { _rev: "0-1" })).body.rev).toBe("0-2")
    expect((await call("PUT", `/${db}/_local/l`, { _rev: "0-2" })).body.rev).toBe("0-3")
    expect(await call("PUT", `/${db}/_local/l`, { _rev: "0-1" })).toEqual({
      status: 201,
      body: { ok: true, id: "_local/l", rev: "0-2" },
    })
    expect((await call("PUT", `/${db}/_local/l`, { _rev: "0-5" })).body.rev).toBe("0-6")
    expect(await call("GET", `/${db}/_local/l?rev=0-1`)).toEqual({
      status: 404,
      body: E("not_found", "missing"),
    })
    expect((await call("GET", `/${db}/_local/l?rev=0-6`)).status).toBe(200)
  })

  test("rev formats: 1-abc is a 500, garbage a 400", async () => {
    const db = await freshDb()
    await put(`/${db}/_local/l`, {})
    expect(await call("PUT", `/${db}/_local/l`, { _rev: "1-abc" })).toEqual({
      status: 500,
      body: E("error", "Invalid rev format"),
    })
    expect(await call("PUT", `/${db}/_local/l`, { _rev: "garbage" })).toEqual({
      status: 400,
      body: E("bad_request", "Invalid rev format"),
    })
  })

  test("DELETE (any or no rev) or PUT _deleted: 200 with 0-0; then missing, never deleted", async () => {
    const db = await freshDb()
    const deleted = { status: 200, body: { ok: true, id: "_local/l", rev: "0-0" } }
    const missing = { status: 404, body: E("not_found", "missing") }
    await put(`/${db}/_local/l`, {})
    expect(await call("DELETE", `/${db}/_local/l`)).toEqual(deleted)
    expect(await call("GET", `/${db}/_local/l`)).toEqual(missing)
    expect(await call("DELETE", `/${db}/_local/l`)).toEqual(missing)
    await put(`/${db}/_local/l`, {})
    expect(await call("DELETE", `/${db}/_local/l?rev=0-7`)).toEqual(deleted)
    await put(`/${db}/_local/l`, {})
    expect(await call("PUT", `/${db}/_local/l`, { _deleted: true })).toEqual(deleted)
    expect(await call("GET", `/${db}/_local/l`)).toEqual(missing)
  })
})

describe("§11 auth", () => {
  test("the table: anonymous, non-member, wrong password, unknown user, member limits", async () => {
    const db = await freshDb()
    const other = await freshDb()
    const member = await user("fact-member", [db])
    expect(await call("GET", `/${db}`, undefined, {})).toEqual({
      status: 401,
      body: E("unauthorized", "You are not authorized to access this db."),
    })
    expect(await call("GET", `/${other}`, undefined, member)).toEqual({
      status: 403,
      body: E("forbidden", "You are not allowed to access this db."),
    })
    const incorrect = { status: 401, body: E("unauthorized", "Name or password is incorrect.") }
    expect(await call("GET", `/${db}`, undefined, { Authorization: basic("fact-member", "nope") })).toEqual(
      incorrect,
    )
    expect(await call("GET", `/${db}`, undefined, { Authorization: basic("nobody", "pw") })).toEqual(
      incorrect,
    )
    expect((await call("GET", `/${db}`, undefined, member)).status).toBe(200)
    const serverAdmin = { status: 401, body: E("unauthorized", "You are not a server admin.") }
    expect(await call("POST", `/${db}/_purge`, {}, member)).toEqual(serverAdmin)
    expect(await call("GET", `/${db}/_purged_infos_limit`, undefined, member)).toEqual(serverAdmin)
    expect(await call("PUT", `/${db}/_purged_infos_limit`, 5, member)).toEqual(serverAdmin)
    expect(await call("GET", "/_all_dbs", undefined, member)).toEqual(serverAdmin)
    expect(await call("GET", "/_active_tasks", undefined, member)).toEqual(serverAdmin)
    expect(await call("GET", "/_scheduler/docs", undefined, member)).toEqual(serverAdmin)
    expect(await call("PUT", "/facts-mine", undefined, member)).toEqual(serverAdmin)
    expect(await call("POST", `/${db}/_compact`, {}, member)).toEqual({
      status: 401,
      body: E("unauthorized", "You are not a server or db admin."),
    })
    expect(await call("PUT", `/${db}/_design/x`, {}, member)).toEqual({
      status: 403,
      body: E("forbidden", "You are not a db or server admin."),
    })
  })

  test("a db admin is not a server admin: _purge and _purged_infos_limit answer 401", async () => {
    const db = await freshDb()
    await user("fact-dbadmin")
    const sec = { members: { names: [], roles: [] }, admins: { names: ["fact-dbadmin"], roles: [] } }
    expect(await call("PUT", `/${db}/_security`, sec)).toEqual({ status: 200, body: { ok: true } })
    const dba = { Authorization: basic("fact-dbadmin", "pw") }
    const serverAdmin = { status: 401, body: E("unauthorized", "You are not a server admin.") }
    expect(await call("POST", `/${db}/_purge`, {}, dba)).toEqual(serverAdmin)
    expect(await call("GET", `/${db}/_purged_infos_limit`, undefined, dba)).toEqual(serverAdmin)
  })

  test("default _security: members and admins are the _admin role", async () => {
    const db = await freshDb()
    expect(await call("GET", `/${db}/_security`)).toEqual({
      status: 200,
      body: { members: { roles: ["_admin"] }, admins: { roles: ["_admin"] } },
    })
  })

  test("after 5 wrong passwords the 6th and later logins are 403, even with the right password", async () => {
    const db = await freshDb()
    const right = await user("fact-locked", [db])
    const wrong = { Authorization: basic("fact-locked", "nope") }
    for (let i = 0; i < 5; i++) expect((await call("GET", `/${db}`, undefined, wrong)).status).toBe(401)
    const locked = {
      status: 403,
      body: E("forbidden", "Account is temporarily locked due to multiple authentication failures"),
    }
    expect(await call("GET", `/${db}`, undefined, wrong)).toEqual(locked)
    expect(await call("GET", `/${db}`, undefined, right)).toEqual(locked)
    expect((await call("GET", `/${db}`)).status).toBe(200) // other users are unaffected
  })
})

describe("§13 server", () => {
  test("welcome and _up need no credentials", async () => {
    const welcome = await call("GET", "/", undefined, {})
    expect(welcome).toEqual({
      status: 200,
      body: {
        couchdb: "Welcome",
        version: "3.5.0",
        git_sha: expect.any(String),
        uuid: expect.stringMatching(/^[0-9a-f]{32}$/),
        features: [
          "quickjs",
          "access-ready",
          "partitioned",
          "pluggable-storage-engines",
          "reshard",
          "scheduler",
        ],
        vendor: { name: "The Apache Software Foundation" },
      },
    })
    expect(await call("GET", "/_up", undefined, {})).toEqual({
      status: 200,
      body: { status: "ok", seeds: {} },
    })
  })

  test("config: a section with nothing set is {}, an unset key a 404", async () => {
    expect(await call("GET", "/_node/_local/_config/purge")).toEqual({ status: 200, body: {} })
    expect(await call("GET", "/_node/_local/_config/purge/nope")).toEqual({
      status: 404,
      body: E("not_found", "unknown_config_value"),
    })
  })

  test("_all_dbs honours start_key, end_key and limit (JSON keys)", async () => {
    for (const name of ["facts_c", "facts_big", "facts_a%2Fb", "facts_a", "factsz"])
      expect((await call("PUT", `/${name}`)).status).toBe(201)
    const q = `start_key=${encodeURIComponent('"facts_"')}&end_key=${encodeURIComponent('"facts_\ufff0"')}&limit=3`
    expect(await call<unknown>("GET", `/_all_dbs?${q}`)).toEqual({
      status: 200,
      body: ["facts_a", "facts_a/b", "facts_big"],
    })
    expect((await call<string[]>("GET", "/_all_dbs?limit=1&skip=1")).body).toHaveLength(1)
  })
})
