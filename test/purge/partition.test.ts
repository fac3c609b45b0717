import { describe, expect, test } from "bun:test"
import {
  fnv1a32,
  inPartition,
  parsePartition,
  partitionOf,
  resolvePartition,
} from "../../src/purge/partition.ts"

describe("partition hash", () => {
  test("is 32-bit FNV-1a of the UTF-8 bytes (published test vectors)", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5)
    expect(fnv1a32("a")).toBe(0xe40c292c)
    expect(fnv1a32("foobar")).toBe(0xbf9cf968)
    // UTF-8, not UTF-16 code units: "é" is the bytes c3 a9.
    expect(fnv1a32("é")).toBe(
      Math.imul((Math.imul(0x811c9dc5 ^ 0xc3, 0x01000193) >>> 0) ^ 0xa9, 0x01000193) >>> 0,
    )
  })

  test("places fixed names in fixed partitions (a change here moves databases between workers)", () => {
    const names = ["userdb-0", "userdb-1", "userdb-2", "userdb-3", "orders", "_users"]
    expect(names.map((db) => partitionOf(db, 4))).toEqual(names.map((db) => fnv1a32(db) % 4))
    expect(names.map((db) => partitionOf(db, 1))).toEqual([0, 0, 0, 0, 0, 0])
  })

  test("n workers cover every database exactly once, roughly evenly", () => {
    const dbs = Array.from({ length: 2000 }, (_, i) => `userdb-${i.toString(16).padStart(8, "0")}`)
    for (const count of [2, 3, 4, 7, 16]) {
      const owners = dbs.map((db) =>
        Array.from({ length: count }, (_, index) => index).filter((index) =>
          inPartition(db, { index, count }),
        ),
      )
      expect(owners.every((o) => o.length === 1)).toBe(true)
      const sizes = Array.from({ length: count }, (_, index) => owners.filter((o) => o[0] === index).length)
      const even = dbs.length / count
      for (const size of sizes) {
        expect(size).toBeGreaterThan(even * 0.8)
        expect(size).toBeLessThan(even * 1.2)
      }
    }
  })
})

describe("--partition and the Indexed Job variables", () => {
  test("i/n is read", () => {
    expect(parsePartition("0/4")).toEqual({ partition: { index: 0, count: 4 } })
    expect(parsePartition(" 3 / 4 ")).toEqual({ partition: { index: 3, count: 4 } })
    expect(parsePartition("0/1")).toEqual({ partition: { index: 0, count: 1 } })
  })

  test.each([
    ["4/4", "i must be a whole number from 0 to 3"],
    ["-1/4", "i must be a whole number from 0 to 3"],
    ["1.5/4", "i must be"],
    ["0/0", "n must be a whole number from 1 to 100000"],
    ["0/x", "n must be"],
    ["2", "must be i/n"],
    ["1/2/3", "must be i/n"],
    ["", "must be i/n"],
  ])("%p is refused", (raw, why) => {
    const r = parsePartition(raw)
    expect("problem" in r && r.problem).toContain(why)
  })

  test("the flag wins over the environment", () => {
    expect(resolvePartition("1/2", { index: "3", count: "4" })).toEqual({ partition: { index: 1, count: 2 } })
  })

  test("a bad flag names the flag", () => {
    const r = resolvePartition("9/4", { index: undefined, count: undefined })
    expect("problem" in r && r.problem).toStartWith("--partition i must be")
  })

  test("without the flag: JOB_COMPLETION_INDEX and DBSWEEP_PARTITIONS", () => {
    expect(resolvePartition(undefined, { index: "2", count: "4" })).toEqual({
      partition: { index: 2, count: 4 },
    })
    expect(resolvePartition(undefined, { index: undefined, count: undefined })).toEqual({
      partition: undefined,
    })
    // Kubernetes sets JOB_COMPLETION_INDEX in every Indexed Job: alone it does not split anything.
    expect(resolvePartition(undefined, { index: "2", count: undefined })).toEqual({ partition: undefined })
  })

  test.each([
    [{ index: "4", count: "4" }, "JOB_COMPLETION_INDEX must be a whole number from 0 to 3"],
    [{ index: "two", count: "4" }, "JOB_COMPLETION_INDEX must be"],
    [{ index: "0", count: "0" }, "DBSWEEP_PARTITIONS must be a whole number from 1 to 100000"],
    [{ index: "0", count: "four" }, "DBSWEEP_PARTITIONS must be"],
    [{ index: undefined, count: "4" }, "DBSWEEP_PARTITIONS is 4 but JOB_COMPLETION_INDEX is not set"],
  ])("bad variables %p name the variable", (env, why) => {
    const r = resolvePartition(undefined, env)
    expect("problem" in r && r.problem).toStartWith(why)
  })
})
