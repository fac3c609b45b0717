// The CouchDB-API test server, checked over HTTP only (fetch), as a client would see it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { basic, client as couchClient, type Json, type Reply } from "./couch-http.ts"
import { type CouchServer, type CouchServerOptions, startCouchServer } from "./couch-server.ts"

interface Change {
  seq: string
  id: string
  changes: { rev: string }[]
  deleted?: boolean
}
interface Changes {
  results: Change[]
  last_seq: string
  pending: number
}
interface DbInfo {
  doc_count: number
  doc_del_count: number
  update_seq: string
  purge_seq: string
}
interface Purge {
  purge_seq: null
  purged: Record<string, string[]>
}
interface AllDocs {
  total_rows: number
  offset: number
  rows: { id: string; value: { rev: string } }[]
}
interface Written {
  ok?: boolean
  id: string
  rev: string
  error?: string
}

const ADMIN = { user: "admin", password: "s3cret" }
const client = (url: string) => couchClient(url, ADMIN)
const withServer = async (
  options: CouchServerOptions,
  run: (s: CouchServer, call: ReturnType<typeof client>) => Promise<void>,
): Promise<void> => {
  const s = await startCouchServer({ admin: ADMIN, ...options })
  try {
    await run(s, client(s.url))
  } finally {
    await s.stop()
  }
}

let server: CouchServer
let call: ReturnType<typeof client>
let dbn = 0
const freshDb = async (): Promise<string> => {
  const name = `db${++dbn}`
  expect((await call("PUT", `/${name}`)).status).toBe(201)
  return name
}
const changes = (db: string, qs = ""): Promise<Reply<Changes>> =>
  call<Changes>("GET", `/${db}/_changes?${qs}`)
const info = async (db: string): Promise<DbInfo> => (await call<DbInfo>("GET", `/${db}`)).body
const seqNum = (seq: string): number => Number(seq.split("-")[0])
/** Whether `xs` splits into two increasing runs (greedy: each x extends the highest tail below it). */
const twoRuns = (xs: number[]): boolean => {
  let hi = -1
  let lo = -1
  for (const x of xs) {
    if (x > hi) hi = x
    else if (x > lo) lo = x
    else return false
  }
  return true
}
const byId = <T extends { id: string }>(rows: T[]): T[] => [...rows].sort((a, b) => (a.id < b.id ? -1 : 1))

beforeAll(async () => {
  server = await startCouchServer({
    admin: ADMIN,
    users: [
      { user: "bob", password: "pw" },
      { user: "eve", password: "pw", dbs: ["evedb"] },
    ],
    seed: 42,
  })
  call = client(server.url)
})
afterAll(() => server.stop())

describe("server and databases", () => {
  test("welcome, _up, _all_dbs, create/412/delete, names", async () => {
    const welcome = await fetch(`${server.url}/`).then((r) => r.json())
    expect(welcome).toMatchObject({
      couchdb: "Welcome",
      version: "3.5.0",
      vendor: { name: "The Apache Software Foundation" },
    })
    expect((await call("GET", "/_up", undefined, {})).body).toEqual({ status: "ok", seeds: {} })
    expect(await call("PUT", "/a%2Fb")).toEqual({ status: 201, body: { ok: true } })
    expect(await call("PUT", "/a%2Fb")).toEqual({
      status: 412,
      body: { error: "file_exists", reason: "The database could not be created, the file already exists." },
    })
    expect((await call("GET", "/a%2Fb")).body).toMatchObject({
      db_name: "a/b",
      doc_count: 0,
      instance_start_time: expect.stringMatching(/^[1-9]\d{9}$/),
    })
    expect((await call<string[]>("GET", "/_all_dbs")).body).toContain("a/b")
    const bad = await call("PUT", "/Bad")
    expect(bad.status).toBe(400)
    expect(bad.body.error).toBe("illegal_database_name")
    expect(await call("DELETE", "/a%2Fb")).toEqual({ status: 200, body: { ok: true } })
    expect(await call("GET", "/a%2Fb")).toEqual({
      status: 404,
      body: { error: "not_found", reason: "Database does not exist." },
    })
    expect((await call("GET", "/_scheduler/docs")).body).toEqual({ total_rows: 0, offset: 0, docs: [] })
    expect((await call("GET", "/_nope")).body.error).toBe("illegal_database_name")
  })

  test("405, invalid JSON, 415", async () => {
    const db = await freshDb()
    expect(await call("PUT", `/${db}/_changes`)).toEqual({
      status: 405,
      body: { error: "method_not_allowed", reason: "Only GET,POST,HEAD allowed" },
    })
    expect((await call("PUT", `/${db}/_purge`)).body.reason).toBe("Only POST allowed")
    expect(await call("PUT", `/${db}/doc`, "{nope")).toEqual({
      status: 400,
      body: { error: "bad_request", reason: "invalid UTF-8 JSON" },
    })
    const auth = { Authorization: basic(ADMIN.user, ADMIN.password), "Content-Type": "text/plain" }
    expect((await call("POST", `/${db}/_bulk_docs`, { docs: [] }, auth)).status).toBe(415)
  })
})

describe("revision trees", () => {
  test("update, stale rev 409, delete to a tombstone, re-create extends the branch", async () => {
    const db = await freshDb()
    const r1 = (await call<Written>("PUT", `/${db}/d`, { v: 1 })).body.rev
    expect(r1).toMatch(/^1-[0-9a-f]{32}$/)
    const r2 = (await call<Written>("PUT", `/${db}/d`, { _rev: r1, v: 2 })).body.rev
    expect(r2.startsWith("2-")).toBe(true)
    expect(await call("PUT", `/${db}/d`, { _rev: r1, v: 3 })).toEqual({
      status: 409,
      body: { error: "conflict", reason: "Document update conflict." },
    })
    expect((await call("PUT", `/${db}/d`, { v: 3 })).status).toBe(409)
    const del = await call<Written>("DELETE", `/${db}/d?rev=${r2}`)
    expect(del.status).toBe(200)
    expect(del.body.rev.startsWith("3-")).toBe(true)
    expect(await call("GET", `/${db}/d`)).toEqual({
      status: 404,
      body: { error: "not_found", reason: "deleted" },
    })
    expect(await call("GET", `/${db}/nope`)).toEqual({
      status: 404,
      body: { error: "not_found", reason: "missing" },
    })
    expect((await call("GET", `/${db}/d?rev=${del.body.rev}`)).body).toMatchObject({ _deleted: true })
    expect(await info(db)).toMatchObject({ doc_count: 0, doc_del_count: 1 })
    const again = await call<Written>("PUT", `/${db}/d`, { v: 4 })
    expect(again.status).toBe(201)
    expect(again.body.rev.startsWith("4-")).toBe(true)
    const doc = (await call("GET", `/${db}/d?revs=true`)).body
    expect(doc).toMatchObject({ _rev: again.body.rev, v: 4, _revisions: { start: 4 } })
    expect((doc._revisions as { ids: string[] }).ids).toHaveLength(4)
    expect(await info(db)).toMatchObject({ doc_count: 1, doc_del_count: 0 })
  })

  test("new_edits:false makes conflicts; the winner is deterministic", async () => {
    const db = await freshDb()
    const r = await call<unknown[]>("POST", `/${db}/_bulk_docs`, {
      new_edits: false,
      docs: [
        { _id: "c", _rev: "1-aaa", v: "a" },
        { _id: "c", _rev: "1-bbb", v: "b" },
        { _id: "c", _rev: "2-zzz", _revisions: { start: 2, ids: ["zzz", "aaa"] }, _deleted: true },
        { _id: "t", _rev: "1-x", _deleted: true },
        { _id: "t", _rev: "1-y", _deleted: true },
      ],
    })
    expect(r).toEqual({ status: 201, body: [] })
    // live 1-bbb beats the deleted 2-zzz despite its lower generation
    const c = (await call("GET", `/${db}/c?conflicts=true&deleted_conflicts=true`)).body
    expect(c).toMatchObject({ _rev: "1-bbb", v: "b", _deleted_conflicts: ["2-zzz"] })
    expect(c._conflicts).toBeUndefined()
    await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs: [{ _id: "c", _rev: "1-ccc", v: "c" }] })
    expect((await call("GET", `/${db}/c?conflicts=true`)).body).toMatchObject({
      _rev: "1-ccc",
      _conflicts: ["1-bbb"],
    })
    expect((await call("GET", `/${db}/t`)).status).toBe(404)
    const bad = await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs: [{ _id: "n" }] })
    expect(bad.body.reason).toBe(
      "When `new_edits: false`, the document needs `_rev` or `_revisions` specified",
    )
  })
})

describe("_changes", () => {
  test("style=all_docs lists every leaf; deleted only when the winner is deleted", async () => {
    const db = await freshDb()
    await call("POST", `/${db}/_bulk_docs`, {
      new_edits: false,
      docs: [
        { _id: "mixed", _rev: "1-a" },
        { _id: "mixed", _rev: "1-b", _deleted: true },
        { _id: "gone", _rev: "1-c", _deleted: true },
        { _id: "gone", _rev: "1-d", _deleted: true },
      ],
    })
    const main = (await changes(db)).body.results
    expect(byId(main).map((c) => [c.id, c.changes.length, c.deleted])).toEqual([
      ["gone", 1, true],
      ["mixed", 1, undefined],
    ])
    const all = (await changes(db, "style=all_docs")).body.results
    expect(all.find((c) => c.id === "mixed")?.changes).toEqual([{ rev: "1-a" }, { rev: "1-b" }])
    expect(all.find((c) => c.id === "gone")?.changes).toEqual([{ rev: "1-d" }, { rev: "1-c" }])
    expect(all.find((c) => c.id === "gone")?.deleted).toBe(true)
  })

  test("paging with since/limit sees every doc once, at its latest seq; pending counts the rest", async () => {
    const db = await freshDb()
    const docs = Array.from({ length: 25 }, (_, i) => ({ _id: `d${String(i).padStart(2, "0")}` }))
    const first = (await call<Written[]>("POST", `/${db}/_bulk_docs`, { docs })).body
    const before = (await changes(db)).body.last_seq
    await call("PUT", `/${db}/d03`, { _rev: first[3]?.rev, again: true }) // d03 moves to the end of its shard
    const seen: string[] = []
    let since = "0"
    let pendings: number[] = []
    for (;;) {
      const page = (await changes(db, `since=${since}&limit=10`)).body
      seen.push(...page.results.map((c) => c.id))
      pendings = [...pendings, page.pending]
      since = page.last_seq
      if (page.results.length < 10) break
    }
    expect(seen).toHaveLength(25)
    expect(new Set(seen).size).toBe(25)
    expect((await changes(db, `since=${before}`)).body.results.map((c) => c.id)).toEqual(["d03"])
    expect(pendings).toEqual([15, 5, 0])
    expect(seqNum(since)).toBe(26)
    expect((await changes(db, `since=${since}`)).body.results).toEqual([])
    expect((await changes(db, "since=now")).body.results).toEqual([])
    expect(await call("GET", `/${db}/_changes?since=26`)).toEqual({
      status: 400,
      body: { error: "bad_request", reason: "Malformed sequence supplied in 'since' parameter." },
    })
  })

  test("q=2 (facts §6): the order differs between calls, the rows, last_seq and per-shard order do not", async () => {
    const db = await freshDb()
    const docs = Array.from({ length: 200 }, (_, i) => ({ _id: `d${String(i).padStart(3, "0")}` }))
    await call("POST", `/${db}/_bulk_docs`, { docs })
    const calls = await Promise.all([1, 2, 3].map(async () => (await changes(db)).body))
    const orders = calls.map((c) => c.results.map((r) => Number(r.id.slice(1))))
    for (const c of calls) {
      expect(c.results.map((r) => r.id).sort()).toEqual(docs.map((d) => d._id))
      expect(c.last_seq).toBe(calls[0]?.last_seq ?? "")
      // Prefixes read 1…200 in output order (the sum of the shard seqs reached).
      expect(c.results.map((r) => seqNum(r.seq))).toEqual(orders[0]?.map((_, i) => i + 1) ?? [])
    }
    expect(new Set(orders.map((o) => o.join())).size).toBeGreaterThan(1)
    // Two shards, each in creation order: every answer is a merge of two increasing runs.
    for (const o of orders) expect(twoRuns(o)).toBe(true)
    expect(twoRuns([2, 1, 0])).toBe(false)
    // Any row's seq resumes right after it: the rest of that answer, in whatever order.
    const first = calls[0]?.results ?? []
    for (const i of [0, 57, 133, 199]) {
      const rest = (await changes(db, `since=${first[i]?.seq}`)).body.results.map((r) => r.id).sort()
      expect(rest).toEqual(
        first
          .slice(i + 1)
          .map((r) => r.id)
          .sort(),
      )
    }
  })

  test("a long-edited doc: superseded entries are compacted away, paging still exact", async () => {
    const db = await freshDb()
    const docs = Array.from({ length: 6000 }, (_, i) => ({
      _id: "x",
      _rev: `${i + 1}-h${i + 1}`,
      _revisions: { start: i + 1, ids: i === 0 ? ["h1"] : [`h${i + 1}`, `h${i}`] },
    }))
    await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })
    await call("PUT", `/${db}/y`, {})
    const first = (await changes(db, "limit=1")).body
    expect(first.pending).toBe(1)
    const rest = (await changes(db, `since=${first.last_seq}`)).body
    const rows = [...first.results, ...rest.results]
    expect(rows.map((c) => c.id).sort()).toEqual(["x", "y"])
    // x is listed once, at its latest seq (its shard's 6000th; the other shard adds 0 or 1).
    expect(seqNum(rows.find((c) => c.id === "x")?.seq ?? "")).toBeGreaterThanOrEqual(6000)
    expect(seqNum(rest.last_seq)).toBe(6001)
    expect((await call("GET", `/${db}/x`)).body._rev).toBe("6000-h6000")
  })

  test("_local docs: 0-N revs, no conflicts, never in the feed, _all_docs or counts", async () => {
    const db = await freshDb()
    expect((await call("PUT", `/${db}/_local/cp`, { seq: 1 })).body).toEqual({
      ok: true,
      id: "_local/cp",
      rev: "0-1",
    })
    expect((await call("PUT", `/${db}/_local/cp`, { _rev: "0-1", seq: 2 })).body.rev).toBe("0-2")
    expect((await call("PUT", `/${db}/_local/cp`, { seq: 3 })).body.rev).toBe("0-1") // last write wins
    expect((await call("GET", `/${db}/_local/cp`)).body).toEqual({ _id: "_local/cp", _rev: "0-1", seq: 3 })
    await call("PUT", `/${db}/real`, {})
    expect((await changes(db)).body.results.map((c) => c.id)).toEqual(["real"])
    expect((await call<AllDocs>("GET", `/${db}/_all_docs`)).body.rows.map((r) => r.id)).toEqual(["real"])
    expect((await info(db)).doc_count).toBe(1)
    expect((await call("DELETE", `/${db}/_local/cp`)).body).toEqual({ ok: true, id: "_local/cp", rev: "0-0" })
    expect((await call("GET", `/${db}/_local/cp`)).status).toBe(404)
  })

  test("_all_docs: live docs by id, keys as JSON, limit/skip/descending", async () => {
    const db = await freshDb()
    const docs = ["b", "a", "d", "c"].map((_id) => ({ _id }))
    const w = (await call<Written[]>("POST", `/${db}/_bulk_docs`, { docs })).body
    await call("DELETE", `/${db}/d?rev=${w[2]?.rev}`)
    const all = (await call<AllDocs>("GET", `/${db}/_all_docs`)).body
    expect(all.rows.map((r) => r.id)).toEqual(["a", "b", "c"])
    expect(all.total_rows).toBe(3)
    const page = (
      await call<AllDocs>("GET", `/${db}/_all_docs?startkey=${encodeURIComponent('"b"')}&limit=1`)
    ).body
    expect(page).toMatchObject({ offset: 1, rows: [{ id: "b" }] })
    const desc = (await call<AllDocs>("GET", `/${db}/_all_docs?descending=true&skip=1`)).body
    expect(desc.rows.map((r) => r.id)).toEqual(["b", "a"])
  })
})

describe("_purge", () => {
  const tombstones = async (db: string, n: number): Promise<Record<string, string[]>> => {
    const docs = Array.from({ length: n }, (_, i) => ({ _id: `t${i}`, _rev: `1-${i}`, _deleted: true }))
    await call("POST", `/${db}/_bulk_docs`, { new_edits: false, docs })
    return Object.fromEntries(docs.map((d) => [d._id, [d._rev]]))
  }

  test("answer shape, ignored revs, docs gone everywhere, seqs advance", async () => {
    const db = await freshDb()
    const a = (await call<Written>("PUT", `/${db}/a`, { v: 1 })).body.rev
    const a2 = (await call<Written>("PUT", `/${db}/a`, { _rev: a })).body.rev
    const gone = (await call<Written>("DELETE", `/${db}/a?rev=${a2}`)).body.rev
    await call("PUT", `/${db}/keep`, {})
    const before = await info(db)
    expect(before).toMatchObject({ doc_count: 1, doc_del_count: 1 })
    // a non-leaf rev, an unknown id and an already purged rev come back as []
    const nonLeaf = await call<Purge>("POST", `/${db}/_purge`, { a: [a], zz: ["1-abc"] })
    expect(nonLeaf).toEqual({ status: 201, body: { purge_seq: null, purged: { a: [], zz: [] } } })
    expect((await call<Purge>("POST", `/${db}/_purge`, { a: [gone] })).body.purged).toEqual({ a: [gone] })
    expect((await call<Purge>("POST", `/${db}/_purge`, { a: [gone] })).body.purged).toEqual({ a: [] })
    const after = await info(db)
    expect(after).toMatchObject({ doc_count: 1, doc_del_count: 0 })
    expect(seqNum(after.update_seq)).toBeGreaterThan(seqNum(before.update_seq))
    expect(seqNum(after.purge_seq)).toBe(4)
    expect((await changes(db)).body.results.map((c) => c.id)).toEqual(["keep"])
    const keys = encodeURIComponent('["a"]')
    expect((await call("GET", `/${db}/_all_docs?keys=${keys}`)).body.rows).toEqual([
      { key: "a", error: "not_found" },
    ])
    expect(await call("GET", `/${db}/a`)).toEqual({
      status: 404,
      body: { error: "not_found", reason: "missing" },
    })
  })

  test("partial purge keeps the other leaf, recomputes the winner and re-sequences the doc", async () => {
    const db = await freshDb()
    await call("POST", `/${db}/_bulk_docs`, {
      new_edits: false,
      docs: [
        { _id: "p", _rev: "1-a", v: "a" },
        { _id: "p", _rev: "1-b", _deleted: true },
        { _id: "q", _rev: "1-q" },
      ],
    })
    const seq0 = (await changes(db)).body.last_seq
    expect((await call<Purge>("POST", `/${db}/_purge`, { p: ["1-a"] })).body.purged).toEqual({ p: ["1-a"] })
    expect((await call("GET", `/${db}/p`)).body).toEqual({ error: "not_found", reason: "deleted" })
    expect((await changes(db, "style=all_docs")).body.results.map((c) => c.id).sort()).toEqual(["p", "q"])
    // Re-sequenced: the only change since the purge, now with its one remaining (deleted) leaf.
    const since = (await changes(db, `style=all_docs&since=${seq0}`)).body.results
    expect(since).toMatchObject([{ id: "p", changes: [{ rev: "1-b" }], deleted: true }])
    expect(await info(db)).toMatchObject({ doc_count: 1, doc_del_count: 1 })
  })

  test("limits: 101 ids on 3.5.0, >1000 revs, bad bodies", async () => {
    const db = await freshDb()
    const ids = await tombstones(db, 101)
    expect(await call("POST", `/${db}/_purge`, ids)).toEqual({
      status: 400,
      body: { error: "bad_request", reason: "Exceeded maximum number of documents." },
    })
    const revs = Array.from({ length: 1001 }, (_, i) => `1-r${i}`)
    expect((await call("POST", `/${db}/_purge`, { x: revs })).body.reason).toBe(
      "Exceeded maximum number of revisions.",
    )
    expect((await call("POST", `/${db}/_purge`, { x: "1-a" })).body).toEqual({
      error: "bad_request",
      reason: "Invalid list of revisions",
    })
    expect((await call("POST", `/${db}/_purge`, [])).status).toBe(400)
    expect((await call("POST", "/missing/_purge", {})).status).toBe(404)
    await withServer({ version: "3.5.1" }, async (_s, c) => {
      expect((await c("PUT", "/x")).status).toBe(201)
      await c("POST", "/x/_bulk_docs", {
        new_edits: false,
        docs: Object.entries(ids).map(([_id, [_rev]]) => ({ _id, _rev, _deleted: true })),
      })
      const r = await c<Purge>("POST", "/x/_purge", ids)
      expect(r.status).toBe(201)
      expect(Object.values(r.body.purged).flat()).toHaveLength(101)
      expect((await c<DbInfo>("GET", "/x")).body.doc_del_count).toBe(0)
    })
  })
})

describe("authentication", () => {
  test("401 and 403 bodies", async () => {
    const db = await freshDb()
    const none = {}
    expect(await call("GET", "/_all_dbs", undefined, none)).toEqual({
      status: 401,
      body: { error: "unauthorized", reason: "You are not a server admin." },
    })
    // A wrong password counts towards the lockout: never the admin's on this shared server.
    expect(await call("GET", "/_all_dbs", undefined, { Authorization: basic("bob", "wrong") })).toEqual({
      status: 401,
      body: { error: "unauthorized", reason: "Name or password is incorrect." },
    })
    expect(await call("GET", `/${db}`, undefined, none)).toEqual({
      status: 401,
      body: { error: "unauthorized", reason: "You are not authorized to access this db." },
    })
    const bob = { Authorization: basic("bob", "pw") }
    expect((await call("PUT", `/${db}/doc`, {}, bob)).status).toBe(201)
    // _purge is server-admin only; CouchDB answers 401 even to an authenticated member.
    expect(await call("POST", `/${db}/_purge`, {}, bob)).toEqual({
      status: 401,
      body: { error: "unauthorized", reason: "You are not a server admin." },
    })
    expect((await call("PUT", "/bobs", undefined, bob)).status).toBe(401)
    expect(await call("GET", `/${db}`, undefined, { Authorization: basic("eve", "pw") })).toEqual({
      status: 403,
      body: { error: "forbidden", reason: "You are not allowed to access this db." },
    })
    expect((await call("GET", "/missing", undefined, none)).status).toBe(404)
  })

  test("cookie session", async () => {
    const res = await fetch(`${server.url}/_session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: ADMIN.user, password: ADMIN.password }),
    })
    expect(await res.json()).toEqual({ ok: true, name: "admin", roles: ["_admin"] })
    const cookie = res.headers.get("set-cookie")?.split(";")[0] ?? ""
    expect(cookie.startsWith("AuthSession=")).toBe(true)
    expect((await call("GET", "/_all_dbs", undefined, { Cookie: cookie })).status).toBe(200)
  })
})

describe("_users accounts, _security and the login lockout", () => {
  const LOCKED = {
    status: 403,
    body: {
      error: "forbidden",
      reason: "Account is temporarily locked due to multiple authentication failures",
    },
  }
  const WRONG = { status: 401, body: { error: "unauthorized", reason: "Name or password is incorrect." } }
  const as = (user: string, password: string, from?: string): Record<string, string> => ({
    Authorization: basic(user, password),
    ...(from ? { "X-Forwarded-For": from } : {}),
  })
  const addUser = async (c: ReturnType<typeof client>, name: string, password: string): Promise<void> => {
    expect([201, 412]).toContain((await c("PUT", "/_users")).status)
    const doc = { name, password, roles: [], type: "user" }
    expect((await c("PUT", `/_users/org.couchdb.user:${name}`, doc)).status).toBe(201)
  }
  const whoAmI = (c: ReturnType<typeof client>, headers: Record<string, string>) =>
    c<{ userCtx?: { name: string; roles: string[] }; error?: string; reason?: string }>(
      "GET",
      "/_session",
      undefined,
      headers,
    )

  test("a _users document is an account: hashed on write, validated, its new password replaces the old", async () => {
    await withServer({}, async (_s, c) => {
      await addUser(c, "ann", "first")
      const doc = (await c("GET", "/_users/org.couchdb.user:ann")).body
      expect(doc).toMatchObject({
        name: "ann",
        type: "user",
        password_scheme: "pbkdf2",
        pbkdf2_prf: "sha256",
      })
      expect(doc.password).toBeUndefined()
      expect(typeof doc.derived_key).toBe("string")
      expect((await whoAmI(c, as("ann", "first"))).body.userCtx).toEqual({ name: "ann", roles: [] })
      const changed = await c("PUT", "/_users/org.couchdb.user:ann", { ...doc, password: "second" })
      expect(changed.status).toBe(201)
      expect(await whoAmI(c, as("ann", "first"))).toEqual(WRONG)
      expect((await whoAmI(c, as("ann", "second"))).status).toBe(200)
      const session = await fetch(`${_s.url}/_session`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: "ann", password: "second" }),
      })
      expect(await session.json()).toEqual({ ok: true, name: "ann", roles: [] })
      const cookie = session.headers.get("set-cookie")?.split(";")[0] ?? ""
      expect((await whoAmI(c, { Cookie: cookie })).body.userCtx?.name).toBe("ann")
      const refused = (body: Json) => c("PUT", "/_users/org.couchdb.user:bad", body)
      expect(await refused({ name: "bad", roles: [], password: "x" })).toEqual({
        status: 403,
        body: { error: "forbidden", reason: "doc.type must be user" },
      })
      expect((await refused({ name: "other", roles: [], type: "user" })).body.reason).toBe(
        "Doc ID must be of the form org.couchdb.user:name",
      )
      expect((await refused({ name: "bad", roles: "x", type: "user" })).body.reason).toBe(
        "doc.roles must be an array",
      )
      expect(await c("PUT", "/_users/_security", { members: {} })).toEqual({
        status: 403,
        body: { error: "forbidden", reason: "You can't edit the security object of the user database." },
      })
      expect((await c("DELETE", `/_users/org.couchdb.user:ann?rev=${changed.body.rev}`)).status).toBe(200)
      expect(await whoAmI(c, as("ann", "second"))).toEqual(WRONG)
    })
  })

  test("_security: default admin-only; members and db admins by name; a public db", async () => {
    await withServer({}, async (_s, c) => {
      await addUser(c, "mem", "pw")
      await addUser(c, "dba", "pw")
      expect((await c("PUT", "/s")).status).toBe(201)
      expect((await c("GET", "/s/_security")).body).toEqual({
        members: { roles: ["_admin"] },
        admins: { roles: ["_admin"] },
      })
      const mem = as("mem", "pw")
      const dba = as("dba", "pw")
      const notAllowed = {
        status: 403,
        body: { error: "forbidden", reason: "You are not allowed to access this db." },
      }
      expect(await c("GET", "/s", undefined, mem)).toEqual(notAllowed)
      const sec = { members: { names: ["mem"], roles: [] }, admins: { names: ["dba"], roles: [] } }
      expect(await c("PUT", "/s/_security", sec)).toEqual({ status: 200, body: { ok: true } })
      expect((await c("GET", "/s/_security", undefined, mem)).body).toEqual(sec)
      expect((await c("PUT", "/s/doc", {}, mem)).status).toBe(201)
      const notDbAdmin = { error: "forbidden", reason: "You are not a db or server admin." }
      expect(await c("PUT", "/s/_design/x", {}, mem)).toEqual({ status: 403, body: notDbAdmin })
      expect(await c("PUT", "/s/_security", sec, mem)).toEqual({ status: 403, body: notDbAdmin })
      expect(await c("POST", "/s/_compact", {}, mem)).toEqual({
        status: 401,
        body: { error: "unauthorized", reason: "You are not a server or db admin." },
      })
      const bulk = await c<Written[]>(
        "POST",
        "/s/_bulk_docs",
        { docs: [{ _id: "_design/y" }, { _id: "z" }] },
        mem,
      )
      expect(bulk.body).toMatchObject([
        { id: "_design/y", ...notDbAdmin },
        { id: "z", ok: true },
      ])
      // A db admin (named in admins) manages the db, but _purge stays with server admins.
      expect((await c("PUT", "/s/_design/x", {}, dba)).status).toBe(201)
      expect((await c("POST", "/s/_compact", {}, dba)).status).toBe(202)
      const serverAdmin = {
        status: 401,
        body: { error: "unauthorized", reason: "You are not a server admin." },
      }
      expect(await c("POST", "/s/_purge", {}, dba)).toEqual(serverAdmin)
      expect(await c("GET", "/s/_purged_infos_limit", undefined, dba)).toEqual(serverAdmin)
      expect(await c("PUT", "/s/_security", { members: { names: ["dba"] } }, dba)).toEqual({
        status: 200,
        body: { ok: true },
      })
      expect(await c("GET", "/s", undefined, mem)).toEqual(notAllowed)
      // No member names or roles at all: anyone may read, even without credentials.
      expect((await c("PUT", "/s/_security", {})).status).toBe(200)
      expect((await c("GET", "/s/doc", undefined, {})).status).toBe(200)
    })
  })

  test("lockout: after `threshold` wrong passwords the user is refused from that address, even with the right one", async () => {
    await withServer({ lockout: { durationMs: 1000 } }, async (_s, c) => {
      await addUser(c, "lee", "right")
      await addUser(c, "kim", "right")
      for (let i = 0; i < 5; i++) expect(await whoAmI(c, as("lee", "wrong"))).toEqual(WRONG)
      expect(await whoAmI(c, as("lee", "right"))).toEqual(LOCKED)
      expect(await whoAmI(c, as("lee", "wrong"))).toEqual(LOCKED)
      const login = (name: string, password: string) =>
        fetch(`${_s.url}/_session`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ name, password }),
        }).then(async (r) => ({ status: r.status, body: await r.json() }))
      expect(await login("lee", "right")).toEqual(LOCKED)
      // Per user and client address: others are unaffected.
      expect((await whoAmI(c, as("kim", "right"))).status).toBe(200)
      expect((await whoAmI(c, as("lee", "right", "10.1.2.3"))).status).toBe(200)
      expect((await whoAmI(c, as(ADMIN.user, ADMIN.password))).status).toBe(200)
      // Unknown names are refused without counting; through _session they count.
      for (let i = 0; i < 7; i++) expect(await whoAmI(c, as("nobody", "x"))).toEqual(WRONG)
      for (let i = 0; i < 5; i++) expect(await login("nobody", "x")).toEqual(WRONG)
      expect(await login("nobody", "x")).toEqual(LOCKED)
      // Lifted once `durationMs` has passed since the first failure.
      await Bun.sleep(1050)
      expect((await whoAmI(c, as("lee", "right"))).status).toBe(200)
    })
  })

  test("lockout applies to server admins; threshold and mode are configurable", async () => {
    await withServer({}, async (_s, c) => {
      for (let i = 0; i < 5; i++)
        expect(await c("GET", "/_all_dbs", undefined, as(ADMIN.user, "nope"))).toEqual(WRONG)
      expect(await c("GET", "/_all_dbs")).toEqual(LOCKED)
    })
    await withServer({ lockout: { threshold: 2 } }, async (_s, c) => {
      for (let i = 0; i < 2; i++) await c("GET", "/_all_dbs", undefined, as(ADMIN.user, "nope"))
      expect(await c("GET", "/_all_dbs")).toEqual(LOCKED)
    })
    await withServer({ lockout: { mode: "off" } }, async (_s, c) => {
      for (let i = 0; i < 20; i++) await c("GET", "/_all_dbs", undefined, as(ADMIN.user, "nope"))
      expect((await c("GET", "/_all_dbs")).status).toBe(200)
    })
  })
})

describe("faults", () => {
  test("errorRate 1: every request gets 500/503/429 and nothing is performed", async () => {
    await withServer({ seed: 1 }, async (s, c) => {
      s.setFaults({ errorRate: 1 })
      const statuses = new Set<number>()
      for (let i = 0; i < 30; i++) statuses.add((await c("PUT", `/e${i}`)).status)
      expect([...statuses].sort()).toEqual([429, 500, 503])
      expect((await fetch(`${s.url}/`)).status).toBe(200) // GET / is exempt
      s.setFaults({})
      expect((await c<string[]>("GET", "/_all_dbs")).body).toEqual([])
    })
  })

  test("dropRate 1: fetch rejects and nothing is performed; dropAfterRate performs first", async () => {
    await withServer({}, async (s, c) => {
      s.setFaults({ dropRate: 1 })
      await expect(c("PUT", "/dropped")).rejects.toThrow()
      s.setFaults({ dropAfterRate: 1 })
      await expect(c("PUT", "/performed")).rejects.toThrow()
      s.setFaults({})
      expect((await c<string[]>("GET", "/_all_dbs")).body).toEqual(["performed"])
    })
  })

  test("drops are not hidden by fetch retrying a reused keep-alive connection", async () => {
    await withServer({ seed: 3 }, async (s, c) => {
      for (let i = 0; i < 5; i++) await c("GET", "/_up") // warm the connection pool
      s.setFaults({ dropAfterRate: 0.5 })
      const seen: (number | "dropped")[] = []
      for (let i = 0; i < 60; i++)
        seen.push(
          await c("PUT", `/k${i}`).then(
            (r) => r.status,
            () => "dropped" as const,
          ),
        )
      s.setFaults({})
      expect(seen).not.toContain(412) // a silent retry of a performed PUT would see its own db
      expect(seen.filter((x) => x === "dropped").length).toBeGreaterThan(10)
      expect((await c<string[]>("GET", "/_all_dbs")).body).toHaveLength(60)
    })
  })

  test("latency, and the control endpoint (admin only)", async () => {
    await withServer({}, async (s, c) => {
      const none = {}
      expect((await c("PUT", "/_dbsweep_test/faults", { latencyMs: 150 }, none)).status).toBe(401)
      expect((await c("PUT", "/_dbsweep_test/faults", { latencyMs: 150 })).status).toBe(200)
      const t0 = performance.now()
      expect((await c("GET", "/_up")).status).toBe(200)
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
      s.setFaults({})
    })
  })
})

test("standalone: prints its URL, serves, stops on SIGTERM", async () => {
  const args = [`${import.meta.dir}/couch-server.ts`, "--admin", "a:b", "--error-rate", "0"]
  const proc = Bun.spawn([process.execPath, ...args], { stdout: "pipe" })
  const reader = proc.stdout.getReader()
  const { value } = await reader.read()
  const url = new TextDecoder().decode(value).trim()
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  expect((await client(url)("GET", "/_all_dbs", undefined, { Authorization: basic("a", "b") })).status).toBe(
    200,
  )
  proc.kill("SIGTERM")
  expect(await proc.exited).toBe(0)
})

test("200,000 docs: seeding, paging _changes and concurrent purges stay fast", async () => {
  await withServer({}, async (_s, c) => {
    await c("PUT", "/big")
    const t0 = performance.now()
    for (let b = 0; b < 20; b++) {
      const docs = Array.from({ length: 10_000 }, (_, i) => ({
        _id: `doc${b * 10_000 + i}`,
        _rev: `1-${(b * 10_000 + i).toString(16)}`,
        _deleted: true,
      }))
      expect((await c("POST", "/big/_bulk_docs", { new_edits: false, docs })).status).toBe(201)
    }
    const seeded = performance.now()
    let since = "0"
    const rows: Change[] = []
    for (;;) {
      const page = (await c<Changes>("GET", `/big/_changes?style=all_docs&limit=10000&since=${since}`)).body
      rows.push(...page.results)
      since = page.last_seq
      if (page.pending === 0) break
    }
    expect(rows).toHaveLength(200_000)
    const paged = performance.now()
    const batches: Record<string, string[]>[] = []
    for (let i = 0; i < rows.length; i += 100)
      batches.push(Object.fromEntries(rows.slice(i, i + 100).map((r) => [r.id, r.changes.map((x) => x.rev)])))
    let next = 0
    let purgedCount = 0
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = next++; i < batches.length; i = next++) {
          const r = await c<Purge>("POST", "/big/_purge", batches[i])
          purgedCount += Object.values(r.body.purged).flat().length
        }
      }),
    )
    const purged = performance.now()
    expect(purgedCount).toBe(200_000)
    expect((await c<DbInfo>("GET", "/big")).body).toMatchObject({ doc_count: 0, doc_del_count: 0 })
    const ms = (a: number, b: number): number => Math.round(b - a)
    console.info(`seed ${ms(t0, seeded)} ms, page ${ms(seeded, paged)} ms, purge ${ms(paged, purged)} ms`)
    expect(purged - t0).toBeLessThan(30_000)
  })
}, 60_000)
