import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import {
  type CouchTarget,
  createDb,
  dbInfo,
  deleteDb,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { recordingProxy } from "../support/recording-client.ts"
import { type Serve, startServe } from "./serve-harness.ts"

/**
 * `GET /databases` (what the page's table shows) against the test server or a real CouchDB, with
 * a proxy in front of CouchDB that counts the requests the server makes.
 */

interface Row {
  db: string
  docCount: number
  tombstones: number
  lastPurge?: string
  error?: string
}
interface Listing {
  page: { rows: Array<Row>; total?: number; next?: { from?: string; page?: number }; first: boolean }
}

/** A proxy to `target` that counts what passes, by method and path. */
const countingProxy = (target: string) => {
  const proxy = recordingProxy(target)
  return {
    url: proxy.url,
    /** Requests since the last call. */
    take: () => proxy.seen.splice(0).map((r) => `${r.method} ${r.path}`),
    stop: proxy.stop,
  }
}

const prefix = `dbtable${Date.now().toString(36)}`
let t: CouchTarget
const dbs: Array<string> = []

beforeAll(async () => {
  t = await startCouchTarget()
  for (let i = 0; i < 12; i++) {
    const db = await createDb(t, prefix)
    if (i % 3 !== 2) await seed(t, db, { live: i + 1, tombstones: i * 2 })
    dbs.push(db)
  }
  dbs.sort()
}, 60_000)
afterAll(async () => {
  for (const db of dbs) await deleteDb(t, db)
  await t.stop()
})

const list = async (s: Serve, query: string) => {
  const res = await s.request(`/databases?${query}`)
  expect(res.status).toBe(200)
  return ((await res.json()) as Listing).page
}

/** A serve app whose CouchDB is reached through a counting proxy. */
const proxied = async (target: CouchTarget) => {
  const proxy = countingProxy(target.url)
  const s = await startServe({ couch: { ...target, url: proxy.url } })
  const close = async () => {
    await s.close()
    proxy.stop()
  }
  return { s, proxy, close }
}

describe("GET /databases", () => {
  test("names, documents and tombstones are what GET /{db} says; pages follow on by name, both ways", async () => {
    const { s, close } = await proxied(t)
    try {
      const all = await list(s, `q=${prefix}-*&size=100`)
      expect(all.rows.map((r) => r.db)).toEqual(dbs)
      for (const r of all.rows) {
        const info = await dbInfo(t, r.db)
        expect([r.db, r.docCount, r.tombstones]).toEqual([r.db, info.doc_count, info.doc_del_count])
      }
      for (const dir of ["asc", "desc"] as const) {
        const seen: Array<string> = []
        let from: string | undefined
        for (let pages = 0; pages < 10; pages++) {
          const page = await list(
            s,
            `q=${prefix}-*&size=5&dir=${dir}${from ? `&from=${encodeURIComponent(from)}` : ""}`,
          )
          expect(page.first).toBe(from === undefined)
          seen.push(...page.rows.map((r) => r.db))
          from = page.next?.from
          if (from === undefined) break
        }
        expect(seen).toEqual(dir === "asc" ? dbs : [...dbs].reverse())
      }
      // A glob in the middle, and plain text matched anywhere in the name.
      const tail = dbs[4]!.slice(-4)
      expect((await list(s, `q=${prefix}-*${tail}`)).rows.map((r) => r.db)).toEqual([dbs[4]!])
      expect((await list(s, `q=${tail}`)).rows.map((r) => r.db)).toEqual([dbs[4]!])
      // Sorted by tombstones, largest first, paged by number.
      const first = await list(s, `q=${prefix}-*&sort=tombstones&size=5`)
      expect(first.total).toBe(dbs.length)
      const second = await list(s, `q=${prefix}-*&sort=tombstones&size=5&page=1`)
      const counts = [...first.rows, ...second.rows].map((r) => r.tombstones)
      expect(counts).toEqual([...counts].sort((a, b) => b - a))
      expect(first.next).toEqual({ page: 1 })
    } finally {
      await close()
    }
  })

  test("the first page costs CouchDB the same requests whatever the number of databases; a reload one", async () => {
    const { s, proxy, close } = await proxied(t)
    try {
      // 12 matching databases or 1 (on a server of its own, nothing cached): a page asks the same.
      await list(s, `q=${prefix}-*&size=2`)
      const many = proxy.take()
      const alone = await proxied(t)
      await list(alone.s, `q=${dbs[0]}*&size=2`)
      const one = alone.proxy.take()
      await alone.close()
      expect(many.length - 1).toBe(one.length)
      // One names read, one details read for all shown (100 a request), one checkpoint each.
      expect(many.filter((r) => r === "GET /_all_dbs")).toHaveLength(1)
      expect(many.filter((r) => r === "POST /_dbs_info")).toHaveLength(1)
      expect(many.filter((r) => r.endsWith("/_local/dbsweep-purge"))).toHaveLength(2)
      expect(many).toHaveLength(4)
      // Within the cache's 30 s a reload reads only the names.
      await list(s, `q=${prefix}-*&size=2`)
      expect(proxy.take()).toEqual(["GET /_all_dbs"])
      // Sorting needs every matching database's details: still one request per 100 of them.
      await list(s, `q=${prefix}-*&sort=tombstones&size=2`)
      const sorted = proxy.take()
      expect(sorted.filter((r) => r === "POST /_dbs_info")).toHaveLength(1)
      expect(sorted.filter((r) => r.startsWith("GET /dbtable"))).toHaveLength(2)
    } finally {
      await close()
    }
  })

  test("a purge makes its database's cached details stale: the next read shows 0 tombstones and when", async () => {
    const { s, close } = await proxied(t)
    try {
      const db = (await list(s, `q=${prefix}-*&sort=tombstones&size=1`)).rows[0]!.db
      const before = (await list(s, `q=${db}`)).rows[0]!
      expect(before.tombstones).toBeGreaterThan(0)
      const started = await s.request("/jobs/purge", {
        method: "POST",
        headers: { authorization: "Bearer test-token-0123456789abcdef", "content-type": "application/json" },
        body: JSON.stringify({ db }),
      })
      const { id } = (await started.json()) as { id: string }
      for (let i = 0; i < 500; i++) {
        const run = (await (await s.request(`/jobs/${id}`)).json()) as { state: string }
        if (run.state !== "running") break
        await Bun.sleep(20)
      }
      const after = (await list(s, `q=${db}`)).rows[0]!
      expect(after.tombstones).toBe(0)
      expect(after.lastPurge).toBeString()
    } finally {
      await close()
    }
  })

  test.skipIf(Boolean(process.env.COUCHDB_URL))(
    "a server without _dbs_info (CouchDB 2.1) is read one GET /{db} at a time, with the same rows",
    async () => {
      const old = await startCouchTarget({ version: "2.1.0" })
      const tombstones = new Map<string, number>()
      for (let i = 0; i < 3; i++) {
        const db = await createDb(old, prefix)
        await seed(old, db, { live: 2, tombstones: i + 1 })
        tombstones.set(db, i + 1)
      }
      const made = [...tombstones.keys()].sort()
      const { s, proxy, close } = await proxied(old)
      try {
        const page = await list(s, `q=${prefix}-*`)
        expect(page.rows.map((r) => [r.db, r.tombstones])).toEqual(
          made.map((db) => [db, tombstones.get(db) ?? -1]),
        )
        const asked = proxy.take()
        expect(asked.filter((r) => r === "POST /_dbs_info")).toHaveLength(1)
        expect(asked.filter((r) => made.some((db) => r === `GET /${db}`))).toHaveLength(3)
        // Learnt once: the next read does not try it again.
        await list(s, `q=${prefix}-*&sort=docs`)
        expect(proxy.take().filter((r) => r === "POST /_dbs_info")).toHaveLength(0)
      } finally {
        await close()
        await old.stop()
      }
    },
  )

  test("CouchDB refusing the login: one line naming it, on the page and as JSON", async () => {
    // An unknown user, not the admin with a wrong password: CouchDB would lock the admin out.
    const s = await startServe({
      couch: { ...t, user: `nobody${Date.now()}`, password: "wrong-password-000" },
    })
    try {
      const res = await s.request("/databases")
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(((await res.json()) as { message: string }).message.split("\n")).toHaveLength(1)
      const html = await (await s.request("/page/databases")).text()
      expect(html).toContain("Cannot read the databases")
      expect(html).not.toContain("wrong-password-000")
    } finally {
      await s.close()
    }
  })
})
