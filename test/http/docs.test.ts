import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect, Stream } from "effect"
import { DocNotFound, InvalidCollection } from "../../src/docs/errors.ts"
import type { Doc, DocumentStoreShape } from "../../src/docs/store.ts"
import { auth, type Serve, startServe } from "./serve-harness.ts"

/** A store in a Map: enough of the port's behaviour for the routes (revs count up). */
const fakeStore = (): DocumentStoreShape => {
  const data = new Map<string, Map<string, Doc>>()
  const coll = (c: string) => {
    if (!/^[a-z][a-z0-9_$()+/-]*$/.test(c)) return Effect.fail(new InvalidCollection({ collection: c }))
    return Effect.succeed(data.get(c) ?? data.set(c, new Map()).get(c)!)
  }
  const existing = (c: string) =>
    data.has(c)
      ? Effect.succeed(data.get(c)!)
      : Effect.fail(new DocNotFound({ store: "fake", collection: c }))
  const nextRev = (old: Doc | undefined) => `${Number((old?._rev ?? "0-").split("-")[0]) + 1}-fake`
  return {
    describe: "fake",
    save: (c, id, doc) =>
      Effect.map(coll(c), (m) => {
        const rev = nextRev(m.get(id))
        m.set(id, { ...doc, _id: id, _rev: rev })
        return { id, rev }
      }),
    saveMany: () => Effect.succeed([]),
    get: (c, id) =>
      Effect.flatMap(existing(c), (m) => {
        const d = m.get(id)
        return d === undefined
          ? Effect.fail(new DocNotFound({ store: "fake", collection: c, id }))
          : Effect.succeed(d)
      }),
    list: (c) =>
      Stream.unwrap(
        Effect.map(existing(c), (m) =>
          Stream.fromIterable([...m.values()].sort((a, b) => (a._id < b._id ? -1 : 1))),
        ),
      ),
    delete: (c, id) =>
      Effect.flatMap(existing(c), (m) => {
        const d = m.get(id)
        if (d === undefined) return Effect.fail(new DocNotFound({ store: "fake", collection: c, id }))
        m.delete(id)
        return Effect.succeed({ id, rev: nextRev(d) })
      }),
    collections: Effect.sync(() => [...data.keys()].sort()),
    // Not used by the document routes.
    saveReplicated: () => Effect.die("saveReplicated is not used by the routes"),
    getMany: () => Effect.die("getMany is not used by the routes"),
  }
}

let s: Serve
beforeAll(async () => {
  s = await startServe({ store: fakeStore(), maxBodyBytes: 1024 })
})
afterAll(() => s.close())

const put = (path: string, body: unknown, headers: Record<string, string> = auth()) =>
  s.request(path, { method: "PUT", headers, body: JSON.stringify(body) })

describe("the document API over the DocumentStore port", () => {
  test("PUT answers {id, rev}; GET reads it back; DELETE removes it; GET /docs lists collections", async () => {
    const r = await put("/docs/orders/a1", { total: 12 })
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({ id: "a1", rev: "1-fake" })
    expect(await (await put("/docs/orders/a1", { total: 13 })).json()).toEqual({ id: "a1", rev: "2-fake" })
    expect(await (await s.request("/docs/orders/a1")).json()).toEqual({
      _id: "a1",
      _rev: "2-fake",
      total: 13,
    })
    expect(await (await s.request("/docs")).json()).toEqual(["orders"])
    const del = await s.request("/docs/orders/a1", { method: "DELETE", headers: auth() })
    expect(del.status).toBe(200)
    expect((await s.request("/docs/orders/a1")).status).toBe(404)
  })

  test("GET /docs/:collection pages by id, or streams NDJSON", async () => {
    for (let i = 0; i < 7; i++) await put(`/docs/pages/d${i}`, { i })
    const first = (await (await s.request("/docs/pages?limit=3")).json()) as {
      docs: Array<Doc>
      next: string
    }
    expect(first.docs.map((d) => d._id)).toEqual(["d0", "d1", "d2"])
    const second = (await (await s.request(`/docs/pages?limit=3&after=${first.next}`)).json()) as {
      docs: Array<Doc>
    }
    expect(second.docs.map((d) => d._id)).toEqual(["d3", "d4", "d5"])
    const nd = await s.request("/docs/pages", { headers: { accept: "application/x-ndjson" } })
    expect(nd.headers.get("content-type")).toContain("application/x-ndjson")
    const lines = (await nd.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Doc)
    expect(lines.map((d) => d._id)).toEqual(["d0", "d1", "d2", "d3", "d4", "d5", "d6"])
    expect((await s.request("/docs/pages?limit=0")).status).toBe(400)
  })

  test("errors: missing collection 404, bad name 400, non-object 400, no token 401, too large 413", async () => {
    expect((await s.request("/docs/nothing-here")).status).toBe(404)
    expect(
      (await s.request("/docs/nothing-here", { headers: { accept: "application/x-ndjson" } })).status,
    ).toBe(404)
    const bad = await put("/docs/Bad!/x", { a: 1 })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: string }).error).toBe("InvalidCollection")
    expect((await put("/docs/orders/x", [1, 2])).status).toBe(400)
    expect((await put("/docs/orders/x", { a: 1 }, { "content-type": "application/json" })).status).toBe(401)
    expect((await s.request("/docs/orders/x", { method: "DELETE" })).status).toBe(401)
    expect((await put("/docs/orders/x", { a: "z".repeat(2000) })).status).toBe(413)
  })

  test("without a store the document API is 503 unavailable", async () => {
    const bare = await startServe()
    const r = await bare.request("/docs")
    expect(r.status).toBe(503)
    await bare.close()
  })
})
