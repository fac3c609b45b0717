import { describe, expect, test } from "bun:test"
import type { ChangesPage } from "../../src/couch/schema.ts"
import { autoLimits, unitsOf } from "../../src/purge/units.ts"

const row = (i: number, deleted: boolean, revs = 1) => ({
  seq: `${i}-opaque`,
  id: `doc${i}`,
  changes: Array.from({ length: revs }, (_, r) => ({ rev: `${r + 1}-abc${i}` })),
  ...(deleted ? { deleted: true } : {}),
})

describe("unitsOf", () => {
  test("keeps only deleted rows, every leaf rev, and closes each unit at the last row it covers", () => {
    const page: ChangesPage = {
      results: [row(1, true, 2), row(2, false, 2), row(3, true), row(4, true), row(5, false)],
      last_seq: "5-opaque",
      pending: 0,
    }
    const units = unitsOf(page, { maxIds: 2, maxRevs: 1000 }, 7)
    expect(units.map((u) => u.n)).toEqual([7, 8])
    expect(units[0]!.tombstones).toEqual([
      { id: "doc1", revs: ["1-abc1", "2-abc1"] },
      { id: "doc3", revs: ["1-abc3"] },
    ])
    // doc4 starts a new unit, so the first one ends at the row before it.
    expect(units[0]!.seq).toBe("3-opaque")
    expect(units[1]!.tombstones.map((t) => t.id)).toEqual(["doc4"])
    expect(units[1]!.seq).toBe("5-opaque")
  })

  test("a page without tombstones is one empty unit ending at last_seq", () => {
    const units = unitsOf(
      { results: [row(1, false)], last_seq: "1-opaque" },
      { maxIds: 100, maxRevs: 1000 },
      0,
    )
    expect(units).toEqual([{ n: 0, seq: "1-opaque", tombstones: [] }])
  })
})

describe("autoLimits", () => {
  test("100 ids before CouchDB 3.5.1, more from 3.5.1 on; 1000 revs always", () => {
    expect(autoLimits("3.5.0")).toEqual({ maxIds: 100, maxRevs: 1000 })
    expect(autoLimits("3.3.3")).toEqual({ maxIds: 100, maxRevs: 1000 })
    expect(autoLimits("3.5.1").maxIds).toBeGreaterThan(100)
    expect(autoLimits("4.0.0").maxIds).toBeGreaterThan(100)
    expect(autoLimits("3.5.1").maxRevs).toBe(1000)
  })
})
