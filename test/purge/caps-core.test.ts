import { describe, expect, test } from "bun:test"
import type { ReplicationInfo } from "../../src/couch/replications.ts"
import type { ChangesPage } from "../../src/couch/schema.ts"
import { graceStart, historyOf, recordObservation, storedHistory } from "../../src/purge/grace.ts"
import { heldFor, holdId, noHolds, outranks, showHeld } from "../../src/purge/holds.ts"
import { replicationsOf, sourceDbName } from "../../src/purge/replications.ts"
import { unitsOf } from "../../src/purge/units.ts"
import { completeUnit, emptyWatermark, holdUnit } from "../../src/purge/watermark.ts"

const row = (i: number, deleted: boolean) => ({
  seq: `${i}-opaque`,
  id: `doc${i}`,
  changes: [{ rev: `1-abc${i}` }],
  ...(deleted ? { deleted: true } : {}),
})

const page = (rows: ReadonlyArray<ReturnType<typeof row>>, last: string): ChangesPage => ({
  results: rows,
  last_seq: last,
  pending: 0,
})

describe("unitsOf with held-back tombstones", () => {
  test("a held tombstone is not purged, its unit is marked, and the unit before it ends just before it", () => {
    const held = new Set(["doc3"])
    const units = unitsOf(
      page([row(1, true), row(2, false), row(3, true), row(4, true), row(5, false)], "5-opaque"),
      { maxIds: 100, maxRevs: 1000 },
      0,
      "0",
      (id) => (held.has(id) ? "grace" : undefined),
    )
    expect(units[0]).toEqual({ n: 0, seq: "2-opaque", tombstones: [{ id: "doc1", revs: ["1-abc1"] }] })
    expect(units[1]!.held).toEqual([{ id: "doc3", revs: ["1-abc3"], reason: "grace" }])
    // doc4 comes after the held one: still purged (a purged doc leaves the feed).
    expect(units[1]!.tombstones).toEqual([{ id: "doc4", revs: ["1-abc4"] }])
    expect(units.flatMap((u) => u.tombstones.map((t) => t.id))).not.toContain("doc3")
  })

  test("live documents are never held or purged; no hold function: no held units", () => {
    const units = unitsOf(
      page([row(1, false), row(2, true)], "2-opaque"),
      { maxIds: 100, maxRevs: 1000 },
      0,
      "0",
    )
    expect(units.every((u) => u.held === undefined)).toBe(true)
    const all = unitsOf(
      page([row(1, false)], "1-opaque"),
      { maxIds: 100, maxRevs: 1000 },
      0,
      "0",
      () => "grace",
    )
    expect(all.every((u) => u.held === undefined)).toBe(true)
  })

  test("holding everything gives one held unit a page, not one per tombstone", () => {
    const rows = Array.from({ length: 500 }, (_, i) => row(i + 1, true))
    const units = unitsOf(
      page(rows, "500-opaque"),
      { maxIds: 100, maxRevs: 1000 },
      0,
      "0",
      () => "replication-error",
    )
    expect(units.filter((u) => u.held !== undefined)).toHaveLength(1)
    expect(units.flatMap((u) => u.tombstones)).toHaveLength(0)
    expect(units.flatMap((u) => u.held ?? [])).toHaveLength(500)
  })
})

describe("low-water mark with a held unit", () => {
  test("the checkpoint stops before the held unit, whatever finishes after it", () => {
    let w = completeUnit(emptyWatermark, 0, "s0")
    w = holdUnit(w, 1)
    w = completeUnit(w, 2, "s2")
    w = completeUnit(w, 3, "s3")
    expect(w.checkpoint).toBe("s0")
    expect(w.ahead.size).toBe(0)
  })

  test("held from the start: the checkpoint never moves", () => {
    let w = holdUnit(emptyWatermark, 0)
    for (let i = 0; i < 5; i++) w = completeUnit(w, i, `s${i}`)
    expect(w.checkpoint).toBeUndefined()
  })

  test("a later hold does not lift an earlier one; units done before it still count", () => {
    let w = completeUnit(emptyWatermark, 2, "s2")
    w = holdUnit(w, 3)
    w = holdUnit(w, 5)
    w = completeUnit(w, 0, "s0")
    w = completeUnit(w, 1, "s1")
    expect(w.checkpoint).toBe("s2")
    expect(w.heldFrom).toBe(3)
  })
})

describe("grace observations", () => {
  const day = 86_400_000
  test("the newest observation at least the grace old is where the grace starts", () => {
    const history = [
      { at: 0, seq: "a" },
      { at: 5 * day, seq: "b" },
      { at: 9 * day, seq: "c" },
    ]
    expect(graceStart(history, 13 * day, 7 * day, { at: 13 * day, seq: "d" })).toEqual({
      kind: "since",
      seq: "b",
      at: 5 * day,
    })
  })

  test("none old enough: nothing before the oldest observation plus the grace (a first run: now plus the grace)", () => {
    expect(graceStart([{ at: 2 * day, seq: "a" }], 3 * day, 7 * day, { at: 3 * day, seq: "b" })).toEqual({
      kind: "none",
      from: 9 * day,
    })
    expect(graceStart([], 3 * day, 7 * day, { at: 3 * day, seq: "b" })).toEqual({
      kind: "none",
      from: 10 * day,
    })
  })

  test("the history stays bounded, keeps the oldest and the newest, and stays spread over time", () => {
    let h: ReadonlyArray<{ at: number; seq: string }> = []
    for (let hour = 0; hour < 24 * 365; hour++)
      h = recordObservation(h, { at: hour * 3_600_000, seq: `s${hour}` }, 50)
    expect(h).toHaveLength(50)
    expect(h[0]!.seq).toBe("s0")
    expect(h.at(-1)!.seq).toBe(`s${24 * 365 - 1}`)
    // No gap is more than a few times the even spacing (a year over 49 gaps).
    const gaps = h.slice(1).map((o, i) => o.at - h[i]!.at)
    expect(Math.max(...gaps)).toBeLessThan((4 * (365 * day)) / 49)
  })

  test("stored as ISO times and read back; entries of another shape are left out", () => {
    const h = [{ at: Date.parse("2026-01-02T03:04:05.000Z"), seq: "1-x" }]
    expect(historyOf(storedHistory(h))).toEqual(h)
    expect(
      historyOf([{ at: "nope", seq: "1" }, { seq: 2 }, "x", { at: "2026-01-01T00:00:00Z", seq: "2-y" }]),
    ).toEqual([{ at: Date.parse("2026-01-01T00:00:00Z"), seq: "2-y" }])
    expect(historyOf(undefined)).toEqual([])
  })
})

describe("holds", () => {
  test("a tombstone held for several reasons counts under the weightiest", () => {
    const h = noHolds()
    holdId(h, "a", "grace")
    holdId(h, "a", "replication")
    holdId(h, "b", "replication")
    holdId(h, "b", "grace")
    expect(heldFor(h, "a")).toBe("replication")
    expect(heldFor(h, "b")).toBe("replication")
    h.all = "grace"
    expect(heldFor(h, "a")).toBe("replication")
    expect(heldFor(h, "zzz")).toBe("grace")
    expect(outranks("replication", "grace")).toBe(true)
    expect(outranks("grace", "replication-error")).toBe(false)
    expect(showHeld({ grace: 2, replication: 1, "replication-error": 0 })).toBe("3 (replication 1, grace 2)")
  })
})

describe("replications that read a database", () => {
  const rep = (over: Partial<ReplicationInfo>): ReplicationInfo => ({
    docId: "r1",
    database: "_replicator",
    replicationId: "abc+continuous",
    state: "running",
    source: "http://127.0.0.1:5984/src/",
    checkpoint: "5-x",
    error: undefined,
    ...over,
  })

  test("the source URL's last path segment, decoded, names the database (credentials, trailing slash, encoding)", () => {
    expect(sourceDbName("http://127.0.0.1:5984/src/")).toBe("src")
    expect(sourceDbName("https://user:pa%40ss@host.example/couch/userdb-1")).toBe("userdb-1")
    expect(sourceDbName("http://host/a%2Fb/")).toBe("a/b")
    expect(sourceDbName("http://host:5984/")).toBeUndefined()
    expect(sourceDbName("localdb")).toBe("localdb")
  })

  test("sorted into watched, broken (crashing, error, failed) and ignored", () => {
    const all = [
      rep({ docId: "ok" }),
      rep({ docId: "done", state: "completed", replicationId: undefined }),
      rep({ docId: "bad", state: "crashing" }),
      rep({ docId: "err", state: "error", replicationId: "x+continuous" }),
      rep({ docId: "fail", state: "failed" }),
      rep({ docId: "other", source: "http://127.0.0.1:5984/other/" }),
    ]
    const w = replicationsOf("src", all, ["x+continuous"])
    expect(w.watched.map((r) => r.docId)).toEqual(["ok", "done"])
    expect(w.broken.map((r) => r.docId)).toEqual(["bad", "fail"])
    expect(w.ignored.map((r) => r.docId)).toEqual(["err"])
    expect(replicationsOf("src", all, ["_replicator/bad", "fail"]).broken.map((r) => r.docId)).toEqual([
      "err",
    ])
  })
})
