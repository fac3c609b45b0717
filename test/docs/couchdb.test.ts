import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { couchStore, freshCollection, run } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

describe("couchdb adapter", () => {
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
