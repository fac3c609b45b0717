import { describe, expect, test } from "bun:test"
import { readdirSync, readFileSync } from "node:fs"
import { Chunk, Effect, Stream } from "effect"
import { fileStore, outcome, run, tempDir } from "./stores.ts"

const ids = (docs: Chunk.Chunk<{ readonly _id: string }>) => Chunk.toArray(docs).map((d) => d._id)

describe("file adapter", () => {
  test("a reopened store streams from the file: same order, no tombstones, no _design/; no temp file left", async () => {
    const dir = tempDir()
    const first = await fileStore(dir)
    await run(
      first.saveMany(
        "things",
        ["b", "a", "_design/v", "é", "A", "c"].map((_id) => ({ _id, v: _id })),
      ),
    )
    await run(first.delete("things", "c"))
    const before = ids(await run(Stream.runCollect(first.list("things"))))
    const again = await fileStore(dir)
    expect(ids(await run(Stream.runCollect(again.list("things"))))).toEqual(before)
    expect(before).toEqual(["A", "a", "b", "é"])
    expect(await run(again.collections)).toEqual(["things"])
    expect((await run(again.get("things", "a"))).v).toBe("a")
    // The tombstone was kept on disk: a new save continues the revisions.
    expect((await run(again.save("things", "c", { v: 3 }))).rev).toMatch(/^3-/)
    expect(readdirSync(dir)).toEqual(["things.ndjson"])
    expect(readFileSync(`${dir}/things.ndjson`, "utf8").split("\n")[0]).toStartWith('{"_id":"A","_rev":"1-')
  })

  test("a damaged file is StoreUnavailable naming the line", async () => {
    const dir = tempDir()
    await Bun.write(`${dir}/bad.ndjson`, '{"_id":"a","_rev":"1-x"}\nnot json\n')
    const store = await fileStore(dir)
    expect(await outcome(store.get("bad", "a"))).toBe("StoreUnavailable")
    const e = await run(Effect.flip(Stream.runDrain(store.list("bad"))))
    expect(e.message).toContain("line 2")
  })
})
