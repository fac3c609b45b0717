import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { rangeAdvisor } from "../../src/docs/couchdb.ts"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { recordingProxy } from "../support/recording-client.ts"
import { couchStore, freshCollection, run } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

describe("couchdb adapter", () => {
  test("getMany reads a batch in id order as one range of _all_docs, asks what the range did not answer as keys, and pauses ranges that answer little", async () => {
    const proxy = recordingProxy(t.url)
    try {
      const store = await couchStore({ ...t, url: proxy.url })
      const c = freshCollection("ranges")
      const id = (prefix: string, i: number) => `${prefix}${String(i).padStart(3, "0")}`
      const present = Array.from({ length: 100 }, (_, i) => id("d", i))
      await run(
        store.saveMany(
          c,
          present.map((_id) => ({ _id })),
        ),
      )
      const reads = () =>
        proxy.seen
          .filter((r) => r.path === `/${c}/_all_docs`)
          .map((r) => (r.method === "GET" && r.query.includes("start_key") ? "range" : `${r.method} keys`))
      const newOnes = (prefix: string) => Array.from({ length: 20 }, (_, i) => id(prefix, i))
      // A re-run's batch, all there: one range.
      expect((await run(store.getMany(c, present.slice(0, 50)))).size).toBe(50)
      expect(reads()).toEqual(["range"])
      // A resumed run's batch, new ones after those there: the range, then the new ones as keys.
      expect((await run(store.getMany(c, [...present.slice(50), ...newOnes("e")]))).size).toBe(50)
      expect(reads().slice(1)).toEqual(["range", "POST keys"])
      // A batch of new ones: the range answers nothing, so the next 8 batches go straight to keys.
      await run(store.getMany(c, newOnes("f")))
      for (let i = 0; i < 8; i++) await run(store.getMany(c, newOnes(`g${i}`)))
      expect(reads().slice(3)).toEqual(["range", "POST keys", ...Array(8).fill("POST keys")])
      // Then a range is tried again; out of order or a short batch never is.
      expect((await run(store.getMany(c, present.slice(0, 50)))).size).toBe(50)
      await run(store.getMany(c, present.slice(0, 50).reverse()))
      await run(store.getMany(c, present.slice(0, 15)))
      expect(reads().slice(13)).toEqual(["range", "POST keys", "POST keys"])
    } finally {
      await proxy.stop()
    }
  })

  test("rangeAdvisor: a range for 16 ids or more in strict code point order, paused after one that answers under half", () => {
    const ranges = rangeAdvisor({ min: 3, pause: 2 })
    expect(ranges.advise("c", ["a", "b"])).toBeUndefined()
    expect(ranges.advise("c", ["a", "c", "b"])).toBeUndefined()
    expect(ranges.advise("c", ["a", "a", "b"])).toBeUndefined()
    // Code point order, not UTF-16's: an astral character sorts after U+FFFD.
    expect(ranges.advise("c", ["a", "\u{1F600}", "\uFFFD"])).toBeUndefined()
    expect(ranges.advise("c", ["a", "\uFFFD", "\u{1F600}"])?.params).toEqual({
      start_key: '"a"',
      end_key: JSON.stringify("\u{1F600}"),
      limit: "6",
    })
    ranges.record("c", 1, 3)
    expect(ranges.advise("c", ["a", "b", "c"])).toBeUndefined()
    expect(ranges.advise("other", ["a", "b", "c"])).toBeDefined()
    expect(ranges.advise("c", ["a", "b", "c"])).toBeUndefined()
    expect(ranges.advise("c", ["a", "b", "c"])).toBeDefined()
    ranges.record("c", 2, 4)
    expect(ranges.advise("c", ["a", "b", "c"])).toBeDefined()
  })

  test("the database is created on first save; a racing creator's 412 is fine", async () => {
    const store = await couchStore(t)
    const c = freshCollection("auto")
    expect((await couch(t, "GET", `/${c}`)).status).toBe(404)
    const saved = await run(
      Effect.all(
        [store.save(c, "a", { v: 1 }), store.save(c, "b", { v: 1 }), store.saveMany(c, [{ _id: "c", v: 1 }])],
        { concurrency: "unbounded" },
      ),
    )
    expect(saved[0].rev).toMatch(/^1-/)
    expect((await couch(t, "GET", `/${c}`)).status).toBe(200)
    expect(((await couch(t, "GET", `/${c}`)).body as { doc_count: number }).doc_count).toBe(3)
  })

  test("a 409 from a concurrent writer is retried against the fresh rev", async () => {
    const store = await couchStore(t)
    const c = freshCollection("race")
    await run(store.save(c, "doc", { v: 0 }))
    // Another writer updates the doc between our read of the rev and our write, every few ms.
    let stop = false
    let theirs = 0
    const writer = (async () => {
      while (!stop) {
        const cur = (await couch(t, "GET", `/${c}/doc`)).body as { _rev: string }
        const r = await couch(t, "PUT", `/${c}/doc`, { _rev: cur._rev, v: "theirs" })
        if (r.status === 201) theirs += 1
      }
    })()
    // Ours start once theirs is under way: a save is fast enough to finish all ten before the
    // writer's first write otherwise, and then nothing concurrent would have been tested.
    while (theirs === 0) await Bun.sleep(1)
    const ours = await run(
      Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => store.save(c, "doc", { v: i }),
        {
          concurrency: 1,
        },
      ),
    ).finally(() => {
      stop = true
    })
    await writer
    const final = (await couch(t, "GET", `/${c}/doc`)).body as { _rev: string }
    expect(ours.length).toBe(10)
    expect(theirs).toBeGreaterThan(0)
    expect(Number.parseInt(final._rev, 10)).toBe(1 + 10 + theirs)
  })
})
