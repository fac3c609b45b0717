import { describe, expect, test } from "bun:test"
import { globPrefix, globTest } from "../../src/couch/all-dbs.ts"
import { asGlob } from "../../src/http/catalog.ts"

describe("the databases filter", () => {
  test("a glob: * any run, ? one character, the rest literal (regex characters too)", () => {
    const cases: Array<[string, string, boolean]> = [
      ["orders-*", "orders-2024", true],
      ["orders-*", "old-orders-2024", false],
      ["*-eu", "users-eu", true],
      ["u?ers-*", "users-eu", true],
      ["a*b*c", "a-b-c", true],
      ["a*b*c", "a-c-b", false],
      ["a?", "a", false],
      ["db(1)+$", "db(1)+$", true],
      ["db.1", "dbx1", false],
    ]
    for (const [glob, name, want] of cases)
      expect([glob, name, globTest(glob)(name)]).toEqual([glob, name, want])
  })
  test("plain text matches anywhere in the name; the literal start is where _all_dbs begins", () => {
    expect(globTest(asGlob("ders"))("orders-1")).toBe(true)
    expect(globPrefix(asGlob("ders"))).toBe("")
    expect(globPrefix("users-*-eu")).toBe("users-")
  })
  test("a glob made to backtrack is answered (as a regular expression it would not end)", () => {
    expect(globTest(`${"*a".repeat(60)}*b`)("a".repeat(238))).toBe(false)
    expect(globTest(`${"*a".repeat(60)}*`)("a".repeat(238))).toBe(true)
  })
})
