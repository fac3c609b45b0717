import { describe, expect, test } from "bun:test"
import { purgeBody, splitBatches, type Tombstone } from "../../src/purge/batches.ts"

const docs = (n: number, revs = 1): Array<Tombstone> =>
  Array.from({ length: n }, (_, i) => ({
    id: `d${i}`,
    revs: Array.from({ length: revs }, (_, r) => `${r + 2}-x${i}`),
  }))

const countRevs = (batch: ReadonlyArray<Tombstone>) => batch.reduce((n, t) => n + t.revs.length, 0)

describe("splitBatches", () => {
  test("splits by ids", () => {
    const batches = splitBatches(docs(250), { maxIds: 100, maxRevs: 1000 })
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50])
    expect(batches.flat().map((t) => t.id)).toEqual(docs(250).map((t) => t.id))
  })

  test("splits by revs when documents have many leaves", () => {
    const batches = splitBatches(docs(30, 40), { maxIds: 100, maxRevs: 1000 })
    expect(batches.map((b) => b.length)).toEqual([25, 5])
    for (const b of batches) expect(countRevs(b)).toBeLessThanOrEqual(1000)
  })

  test("spreads a document with more leaves than the rev limit over several requests", () => {
    const batches = splitBatches([{ id: "huge", revs: Array.from({ length: 25 }, (_, i) => `1-${i}`) }], {
      maxIds: 100,
      maxRevs: 10,
    })
    expect(batches.map(countRevs)).toEqual([10, 10, 5])
    expect(batches.flat().flatMap((t) => t.revs)).toHaveLength(25)
  })

  test("empty input makes no batch; a limit below 1 is treated as 1", () => {
    expect(splitBatches([], { maxIds: 100, maxRevs: 1000 })).toEqual([])
    expect(splitBatches(docs(3), { maxIds: 0, maxRevs: 0 })).toHaveLength(3)
  })

  test("purgeBody maps ids to their revs", () => {
    expect(purgeBody(docs(2, 2))).toEqual({ d0: ["2-x0", "3-x0"], d1: ["2-x1", "3-x1"] })
  })
})
