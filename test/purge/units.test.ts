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

describe("unitsOf with seq_interval (most rows without a seq)", () => {
  const sparse = (i: number, deleted: boolean, seq: boolean) => ({
    ...row(i, deleted),
    seq: seq ? `${i}-opaque` : null,
  })
  test("a unit ends at the last seq known at or before its last row, never after it", () => {
    const page: ChangesPage = {
      results: [
        sparse(1, true, false),
        sparse(2, true, true),
        sparse(3, true, false),
        sparse(4, true, false),
        sparse(5, true, false),
      ],
      last_seq: "5-opaque",
    }
    const units = unitsOf(page, { maxIds: 2, maxRevs: 1000 }, 0, "0-start")
    expect(units.map((u) => u.tombstones.map((t) => t.id))).toEqual([
      ["doc1", "doc2"],
      ["doc3", "doc4"],
      ["doc5"],
    ])
    // doc1-doc2 end at doc2's own seq; doc3-doc4 end where the last seq was known (doc2's), which
    // a later run reads on from; the last unit ends at last_seq.
    expect(units.map((u) => u.seq)).toEqual(["2-opaque", "2-opaque", "5-opaque"])
  })

  test("before any seq in the page, units end at the seq the page was read from", () => {
    const page: ChangesPage = {
      results: [sparse(1, true, false), sparse(2, true, false), sparse(3, true, false)],
      last_seq: "3-opaque",
    }
    const units = unitsOf(page, { maxIds: 1, maxRevs: 1000 }, 4, "0-start")
    expect(units.map((u) => [u.n, u.seq])).toEqual([
      [4, "0-start"],
      [5, "0-start"],
      [6, "3-opaque"],
    ])
  })

  test("with no seq known at all, the tombstones stay in one unit ending at last_seq", () => {
    const page: ChangesPage = {
      results: [sparse(1, true, false), sparse(2, true, false), sparse(3, true, false)],
      last_seq: "3-opaque",
    }
    const units = unitsOf(page, { maxIds: 1, maxRevs: 1000 }, 0)
    expect(units).toEqual([
      {
        n: 0,
        seq: "3-opaque",
        tombstones: page.results.map((r) => ({ id: r.id, revs: [r.changes[0]!.rev] })),
      },
    ])
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
