import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Chunk, Effect, Stream } from "effect"
import type { DocumentStoreShape } from "../../src/docs/store.ts"
import { type CouchTarget, startCouchTarget } from "../support/couch-target.ts"
import { couchStore, fileStore, freshCollection, memoryStore, outcome, run } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

const adapters: ReadonlyArray<readonly [string, () => Promise<DocumentStoreShape>]> = [
  ["memory", memoryStore],
  ["file", () => fileStore()],
  ["couchdb", () => couchStore(t)],
]

const listIds = (store: DocumentStoreShape, c: string, pageSize: number) =>
  run(
    Stream.runCollect(store.list(c, { pageSize })).pipe(
      Effect.map((docs) => Chunk.toArray(docs).map((d) => d._id)),
    ),
  )

describe.each(adapters)("DocumentStore conformance: %s", (_name, make) => {
  test("the original's example: save new → rev 1-…, save again without _rev → rev 2-…; get returns the latest", async () => {
    const store = await make()
    const c = freshCollection("agents")
    const first = await run(store.save(c, "agent-1", { name: "My Agent" }))
    expect(first.id).toBe("agent-1")
    expect(first.rev).toMatch(/^1-[0-9a-f]{32}$/)
    const second = await run(store.save(c, "agent-1", { name: "Updated Agent" }))
    expect(second.rev).toMatch(/^2-[0-9a-f]{32}$/)
    const doc = await run(store.get(c, "agent-1"))
    expect(doc).toEqual({ _id: "agent-1", _rev: second.rev, name: "Updated Agent" })
    expect(await run(store.collections)).toContain(c)
  })

  test("list: every doc once, in raw code point order, across page boundaries, without _design/ docs", async () => {
    const store = await make()
    const c = freshCollection()
    const ids = [
      "b",
      "a",
      "A",
      "1",
      "-",
      "~",
      "é",
      "z9",
      ...Array.from({ length: 23 }, (_, i) => `d${String(i).padStart(3, "0")}`),
    ]
    const results = await run(
      store.saveMany(c, [...ids.map((_id) => ({ _id, v: _id })), { _id: "_design/x", views: {} }]),
    )
    expect(results.every((r) => r.ok)).toBe(true)
    const expected = ["-", "1", "A", "a", "b", ...ids.filter((i) => i.startsWith("d")).sort(), "z9", "~", "é"]
    for (const pageSize of [1, 4, 5, 31, 1000]) expect(await listIds(store, c, pageSize)).toEqual(expected)
  })

  test("delete leaves a tombstone: get is not found, a new save continues the revisions", async () => {
    const store = await make()
    const c = freshCollection()
    await run(store.save(c, "x", { v: 1 }))
    const deleted = await run(store.delete(c, "x"))
    expect(deleted.rev).toMatch(/^2-/)
    expect(await outcome(store.get(c, "x"))).toBe("DocNotFound")
    expect(await outcome(store.delete(c, "x"))).toBe("DocNotFound")
    expect(await listIds(store, c, 10)).toEqual([])
    expect((await run(store.save(c, "x", { v: 3 }))).rev).toMatch(/^3-/)
  })

  test("not found: a missing document, a missing collection", async () => {
    const store = await make()
    const c = freshCollection()
    await run(store.save(c, "here", {}))
    expect(await outcome(store.get(c, "nope"))).toBe("DocNotFound")
    expect(await outcome(store.get(freshCollection("never"), "x"))).toBe("DocNotFound")
    expect(await outcome(Stream.runDrain(store.list(freshCollection("never"))))).toBe("DocNotFound")
  })

  test("an invalid collection name is refused with CouchDB's rule, before any request", async () => {
    const store = await make()
    for (const bad of ["Bad", "_x", "1abc", "", "a b"]) {
      expect(await outcome(store.save(bad, "x", {}))).toBe("InvalidCollection")
      expect(await outcome(store.get(bad, "x"))).toBe("InvalidCollection")
      expect(await outcome(Stream.runDrain(store.list(bad)))).toBe("InvalidCollection")
    }
    const error = await run(Effect.flip(store.save("Bad", "x", {})))
    expect(error.message).toContain("starts with a lowercase letter")
  })

  test("saveMany follows _bulk_docs: a stale or missing _rev on a live doc is a per-doc conflict", async () => {
    const store = await make()
    const c = freshCollection()
    const [a] = await run(store.saveMany(c, [{ _id: "a", v: 1 }]))
    expect(a?.ok).toBe(true)
    const again = await run(
      store.saveMany(c, [
        { _id: "a", v: 2 },
        { _id: "b", v: 1 },
      ]),
    )
    expect(again.map((r) => [r.id, r.ok])).toEqual([
      ["a", false],
      ["b", true],
    ])
    const withRev = await run(store.saveMany(c, [{ _id: "a", _rev: a?.ok ? a.rev : "", v: 2 }]))
    expect(withRev[0]?.ok && withRev[0].rev.startsWith("2-")).toBe(true)
    const found = await run(store.getMany(c, ["a", "b", "zz"]))
    expect([...found.keys()].sort()).toEqual(["a", "b"])
  })

  test("getMany answers exactly whatever the batch: in id order, spread thin, reversed, or none there (live docs whole, deleted ones as tombstones, missing ones absent)", async () => {
    const store = await make()
    const c = freshCollection()
    const ids = Array.from({ length: 120 }, (_, i) => `d${String(i).padStart(3, "0")}`)
    const saved = await run(
      store.saveMany(
        c,
        ids.map((id, i) => ({ _id: id, n: i })),
      ),
    )
    expect(saved.every((r) => r.ok)).toBe(true)
    const gone = new Map<string, string>()
    for (const id of ["d010", "d011", "d050"]) gone.set(id, (await run(store.delete(c, id))).rev)
    const check = async (asked: ReadonlyArray<string>) => {
      const found = await run(store.getMany(c, asked))
      const there = asked.filter((id) => ids.includes(id))
      expect([...found.keys()].sort()).toEqual([...there].sort())
      for (const id of there) {
        const doc = found.get(id)
        const rev = gone.get(id)
        if (rev !== undefined) expect(doc).toEqual({ _id: id, _rev: rev, _deleted: true })
        else expect(doc).toEqual({ _id: id, _rev: expect.stringMatching(/^1-/), n: Number(id.slice(1)) })
      }
    }
    // A re-run's batch: in id order, with deleted ones and ids never saved amid them.
    await check([...ids.slice(0, 60), "d020a", "d059x"].sort())
    // Spread thin: the range between the first and the last holds far more than the batch.
    await check(ids.filter((_, i) => i % 6 === 0))
    // Out of order, and none of them there (several times: a batch of new ones is common).
    await check(ids.slice(60).reverse())
    for (let round = 0; round < 10; round++) await check(ids.map((id) => `${id}-new`))
    await check(ids.slice(20, 100))
  })

  test("20 fibers saving the same id at once: each succeeds or ends as DocConflict, none lost silently", async () => {
    const store = await make()
    const c = freshCollection()
    await run(store.save(c, "hot", { n: -1 }))
    const outcomes = await run(
      Effect.forEach(
        Array.from({ length: 20 }, (_, n) => n),
        (n) =>
          store.save(c, "hot", { n }).pipe(
            Effect.map((s) => s.rev),
            Effect.catchTag("DocConflict", () => Effect.succeed("conflict")),
          ),
        { concurrency: "unbounded" },
      ),
    )
    const saved = outcomes.filter((o) => o !== "conflict")
    // Every successful save made exactly one revision: the final generation counts them all.
    const final = await run(store.get(c, "hot"))
    expect(Number.parseInt(final._rev ?? "", 10)).toBe(1 + saved.length)
    expect(new Set(saved.map((r) => Number.parseInt(r, 10))).size).toBe(saved.length)
    expect(saved.length).toBeGreaterThan(0)
  })
})
