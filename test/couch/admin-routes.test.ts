/**
 * The admin endpoints as COUCHDB-FACTS §9–§12 record them, over HTTP: these run against the test
 * server and, with COUCHDB_URL, against a real CouchDB (timing-dependent checks only on the former).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import {
  authHeader,
  type CouchTarget,
  couch,
  createDb,
  seed,
  startCouchTarget,
  throwawayUser,
} from "../support/couch-target.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(() => t.stop())

const E = (error: string, reason: string) => ({ error, reason })

/** A request with exactly the headers given (plus the admin's credentials). */
const raw = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: { authorization: authHeader(t), ...headers },
    body,
  })
  return { status: res.status, body: (await res.json()) as unknown }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("compaction endpoints (facts §9)", () => {
  test("_compact needs Content-Type application/json: 415 without, 202 with; GET is 405", async () => {
    const db = await createDb(t)
    const refused = { status: 415, body: E("bad_content_type", "Content-Type must be application/json") }
    expect(await raw("POST", `/${db}/_compact`)).toEqual(refused)
    expect(await raw("POST", `/${db}/_compact`, { "content-type": "text/plain" }, "x")).toEqual(refused)
    expect(await raw("POST", `/${db}/_compact`, { "content-type": "application/json" })).toEqual({
      status: 202,
      body: { ok: true },
    })
    expect(await raw("GET", `/${db}/_compact`)).toEqual({
      status: 405,
      body: E("method_not_allowed", "Only POST allowed"),
    })
  })

  test("_compact/{ddoc}: 202 for a design doc, 404 missing otherwise; _view_cleanup 202 without a type", async () => {
    const db = await createDb(t)
    await couch(t, "PUT", `/${db}/_design/v`, { views: { a: { map: "function(d){emit(d._id,1)}" } } })
    expect(await couch(t, "POST", `/${db}/_compact/v`)).toEqual({ status: 202, body: { ok: true } })
    if (t.faults !== undefined) {
      const tasks = (await couch(t, "GET", "/_active_tasks")).body as Array<Record<string, unknown>>
      const views = tasks.filter((task) => String(task.database).includes(`/${db}.`))
      expect(views.length).toBe(2)
      for (const task of views)
        expect(task).toMatchObject({ type: "view_compaction", design_document: "_design/v" })
    }
    expect(await couch(t, "POST", `/${db}/_compact/nosuch`)).toEqual({
      status: 404,
      body: E("not_found", "missing"),
    })
    expect(await raw("POST", `/${db}/_view_cleanup`)).toEqual({ status: 202, body: { ok: true } })
  })

  test("compact_running is true for a while, then false; the file shrinks towards active", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 50, tombstones: 50 })
    // Old revisions: update every live doc once more.
    const all = (await couch(t, "GET", `/${db}/_all_docs?include_docs=true`)).body as {
      rows: Array<{ doc: Record<string, unknown> }>
    }
    await couch(t, "POST", `/${db}/_bulk_docs`, {
      docs: all.rows.map((r) => ({ ...r.doc, more: "y".repeat(500) })),
    })
    const before = (await couch(t, "GET", `/${db}`)).body as { sizes: { file: number; active: number } }
    expect(before.sizes.file).toBeGreaterThan(before.sizes.active)
    expect((await couch(t, "POST", `/${db}/_compact`)).status).toBe(202)
    if (t.faults !== undefined) {
      // The test server compacts for a fixed while: it is seen running, one task per shard.
      const running = (await couch(t, "GET", `/${db}`)).body as { compact_running: boolean }
      expect(running.compact_running).toBe(true)
      const tasks = (await couch(t, "GET", "/_active_tasks")).body as Array<Record<string, unknown>>
      const mine = tasks.filter((task) => String(task.database).includes(`/${db}.`))
      expect(mine.length).toBe(2)
      for (const task of mine) {
        expect(task).toMatchObject({ type: "database_compaction", phase: "document_copy" })
        expect(String(task.database)).toMatch(new RegExp(`^shards/[0-9a-f]{8}-[0-9a-f]{8}/${db}\\.\\d+$`))
        expect(typeof task.progress).toBe("number")
      }
    }
    let after = (await couch(t, "GET", `/${db}`)).body as {
      compact_running: boolean
      sizes: { file: number }
    }
    // A real CouchDB may answer 202 before the compaction shows as running: wait for it to have
    // run (the file replaced), not only for compact_running to be false.
    for (let i = 0; i < 100 && (after.compact_running || after.sizes.file >= before.sizes.file); i++) {
      await sleep(200)
      after = (await couch(t, "GET", `/${db}`)).body as typeof after
    }
    expect(after.compact_running).toBe(false)
    expect(after.sizes.file).toBeLessThan(before.sizes.file)
    const idle = (await couch(t, "GET", "/_active_tasks")).body as Array<{ database?: string }>
    expect(idle.filter((task) => task.database?.includes(`/${db}.`))).toEqual([])
  })
})

describe("permissions of a member that is not an admin (facts §11)", () => {
  test("_compact and _view_cleanup 401, PUT _design 403, PUT _replicator 403", async () => {
    const db = await createDb(t)
    await couch(t, "PUT", "/_replicator")
    const clerk = await throwawayUser(t, { memberOf: [db] })
    try {
      const as = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${t.url}${path}`, {
          method,
          headers: {
            authorization: `Basic ${btoa(`${clerk.user}:${clerk.password}`)}`,
            "content-type": "application/json",
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
        return { status: res.status, body: (await res.json()) as unknown }
      }
      const notAdmin = { status: 401, body: E("unauthorized", "You are not a server or db admin.") }
      expect(await as("POST", `/${db}/_compact`)).toEqual(notAdmin)
      expect(await as("POST", `/${db}/_view_cleanup`)).toEqual(notAdmin)
      expect(await as("PUT", `/${db}/_design/x`, { views: {} })).toEqual({
        status: 403,
        body: E("forbidden", "You are not a db or server admin."),
      })
      expect(
        await as("PUT", "/_replicator/dbsweep-member", { source: "http://h/a", target: "http://h/b" }),
      ).toEqual({
        status: 403,
        body: E("forbidden", "You are not allowed to access this db."),
      })
    } finally {
      await clerk.drop()
    }
  })
})

describe("_replicator documents and the scheduler (facts §10)", () => {
  const endpoint = (db: string) => ({
    url: `${t.url}/${db}`,
    auth: { basic: { username: t.user, password: t.password } },
  })
  const state = async (id: string, until: (s: Record<string, unknown>) => boolean) => {
    let s: { status: number; body: unknown } = { status: 0, body: undefined }
    for (let i = 0; i < 150; i++) {
      s = await couch(t, "GET", `/_scheduler/docs/_replicator/${id}`)
      if (s.status === 200 && until(s.body as Record<string, unknown>)) break
      await sleep(200)
    }
    return s.body as Record<string, unknown>
  }
  const cleanup = async (id: string) => {
    const doc = await couch(t, "GET", `/_replicator/${id}`)
    if (doc.status === 200)
      await couch(t, "DELETE", `/_replicator/${id}?rev=${(doc.body as { _rev: string })._rev}`)
  }

  test("an unknown id is 404 missing", async () => {
    expect(await couch(t, "GET", "/_scheduler/docs/_replicator/dbsweep-never-written")).toEqual({
      status: 404,
      body: E("not_found", "missing"),
    })
  })

  test("a one-off completes, copies the docs, and the scheduler shows no credentials", async () => {
    await couch(t, "PUT", "/_replicator")
    const source = await createDb(t)
    const target = await createDb(t)
    await seed(t, source, { live: 12 })
    const id = `dbsweep-routes-${Date.now().toString(36)}`
    try {
      expect(
        (await couch(t, "PUT", `/_replicator/${id}`, { source: endpoint(source), target: endpoint(target) }))
          .status,
      ).toBe(201)
      const done = await state(id, (s) => s.state === "completed")
      expect(done).toMatchObject({ database: "_replicator", doc_id: id, state: "completed", error_count: 0 })
      expect(done.source).toBe(`${t.url}/${source}/`)
      expect(JSON.stringify(done)).not.toContain(t.password)
      expect(((await couch(t, "GET", `/${target}`)).body as { doc_count: number }).doc_count).toBe(12)
    } finally {
      await cleanup(id)
    }
  })

  test("a missing source is crashing with db_not_found", async () => {
    await couch(t, "PUT", "/_replicator")
    const target = await createDb(t)
    const id = `dbsweep-routes-crash-${Date.now().toString(36)}`
    try {
      await couch(t, "PUT", `/_replicator/${id}`, {
        source: endpoint("dbsweep-nosuch"),
        target: endpoint(target),
      })
      const s = await state(id, (x) => x.state === "crashing")
      expect(s.state).toBe("crashing")
      expect(String((s.info as { error: string }).error)).toStartWith("db_not_found: could not open")
      expect(JSON.stringify(s)).not.toContain(t.password)
    } finally {
      await cleanup(id)
    }
  })

  test("a completed one-off has a real checkpoint, and _scheduler/docs lists it (paged by limit and skip)", async () => {
    await couch(t, "PUT", "/_replicator")
    const source = await createDb(t)
    const dbs = [source]
    await seed(t, source, { live: 5 })
    const ids = [0, 1].map((i) => `dbsweep-routes-list-${i}-${Date.now().toString(36)}`)
    try {
      // Each to its own target: a second document for the same replication is "failed" (a real
      // 3.5.0 refuses to run one replication twice).
      for (const id of ids)
        await couch(t, "PUT", `/_replicator/${id}`, {
          source: endpoint(source),
          target: endpoint(dbs[dbs.push(await createDb(t)) - 1]!),
          create_target: true,
        })
      const done = await state(ids[0]!, (s) => s.state === "completed")
      const seq = (done.info as { checkpointed_source_seq: string }).checkpointed_source_seq
      expect(seq).not.toBe("0")
      // The seq it checkpointed is one the source accepts: nothing changed after it.
      const after = await couch(t, "GET", `/${source}/_changes?since=${encodeURIComponent(seq)}`)
      expect((after.body as { results: Array<unknown> }).results).toEqual([])
      await state(ids[1]!, (s) => s.state === "completed")
      const all = (await couch(t, "GET", "/_scheduler/docs")).body as {
        total_rows: number
        docs: Array<{ doc_id: string; state: string; source: string }>
      }
      const ours = all.docs.filter((d) => ids.includes(d.doc_id))
      expect(ours.map((d) => d.state)).toEqual(["completed", "completed"])
      expect(ours[0]!.source).toBe(`${t.url}/${source}/`)
      // Paging: one document a page, every one seen once.
      const seen: Array<string> = []
      for (let skip = 0; skip < all.total_rows; skip++) {
        const page = (await couch(t, "GET", `/_scheduler/docs?limit=1&skip=${skip}`)).body as {
          docs: Array<{ doc_id: string }>
        }
        expect(page.docs.length).toBeLessThanOrEqual(1)
        seen.push(...page.docs.map((d) => d.doc_id))
      }
      expect(seen.filter((d) => ids.includes(d)).sort()).toEqual([...ids].sort())
    } finally {
      for (const id of ids) await cleanup(id)
      for (const db of dbs) await couch(t, "DELETE", `/${db}`)
    }
  })

  test.skipIf(process.env.COUCHDB_URL !== undefined && process.env.COUCHDB_URL !== "")(
    "the test hook adds scheduler entries and replication tasks [test server only: a hook of the test server]",
    async () => {
      const doc = {
        database: "_replicator",
        doc_id: "hooked",
        id: "abc+continuous",
        state: "error",
        source: `${t.url}/x/`,
        target: `${t.url}/y/`,
        info: { error: "boom" },
        error_count: 1,
      }
      const task = {
        type: "replication",
        doc_id: null,
        replication_id: "def+continuous",
        source: `${t.url}/x/`,
        checkpointed_source_seq: "0",
      }
      await couch(t, "PUT", "/_dbsweep_test/replications", { docs: [doc], tasks: [task] })
      try {
        const docs = (await couch(t, "GET", "/_scheduler/docs")).body as { docs: Array<unknown> }
        expect(docs.docs).toContainEqual(doc)
        expect((await couch(t, "GET", "/_scheduler/docs/_replicator/hooked")).body).toEqual(doc)
        expect((await couch(t, "GET", "/_active_tasks")).body).toContainEqual(task)
      } finally {
        await couch(t, "PUT", "/_dbsweep_test/replications", {})
      }
      expect((await couch(t, "GET", "/_active_tasks")).body).toEqual([])
    },
  )
})
