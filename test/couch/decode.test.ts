import { describe, expect, test } from "bun:test"
import { Either } from "effect"
import { decodeChangesPage, decodePurgeAnswer, schemaDecoder } from "../../src/couch/decode.ts"
import { ChangesPage, PurgeAnswer } from "../../src/couch/schema.ts"

/**
 * The hand checks of the two hot answers against the Schemas they replace: for every input, the
 * same verdict, the same value when accepted and the same one-line reason when refused.
 */
const bySchema = { page: schemaDecoder(ChangesPage), purge: schemaDecoder(PurgeAnswer) }

const row = (over: Record<string, unknown> = {}) => ({
  seq: "3-g1AAAA",
  id: "doc-1",
  changes: [{ rev: "2-abc" }],
  deleted: true,
  ...over,
})
const page = (over: Record<string, unknown> = {}) => ({
  results: [row()],
  last_seq: "3-g1AAAA",
  pending: 0,
  ...over,
})
const without = (o: Record<string, unknown>, key: string) => {
  const copy = { ...o }
  delete copy[key]
  return copy
}

const pages: Array<readonly [string, unknown]> = [
  ["a normal page", page()],
  ["an empty page", { results: [], last_seq: "0" }],
  ["null seqs (seq_interval)", page({ results: [row({ seq: null }), row()] })],
  ["numeric seqs (CouchDB 1.x)", page({ results: [row({ seq: 7 })], last_seq: 7 })],
  ["a live row without deleted", page({ results: [without(row(), "deleted")] })],
  ["several leaves", page({ results: [row({ changes: [{ rev: "2-a" }, { rev: "3-b" }] })] })],
  ["extra fields are ignored", page({ results: [row({ doc: { x: 1 } })], extra: true })],
  ["not an object", "nope"],
  ["null", null],
  ["an array", []],
  ["results missing", without(page(), "results")],
  ["results not a list", page({ results: {} })],
  ["last_seq missing", without(page(), "last_seq")],
  ["last_seq an object", page({ last_seq: {} })],
  ["last_seq null", page({ last_seq: null })],
  ["pending a string", page({ pending: "3" })],
  ["pending null", page({ pending: null })],
  ["a row not an object", page({ results: [row(), 5] })],
  ["a row null", page({ results: [null] })],
  ["missing id", page({ results: [without(row(), "id")] })],
  ["id a number", page({ results: [row({ id: 5 })] })],
  ["missing seq", page({ results: [without(row(), "seq")] })],
  ["seq a boolean", page({ results: [row({ seq: true })] })],
  ["missing changes", page({ results: [without(row(), "changes")] })],
  ["changes not a list", page({ results: [row({ changes: { rev: "1-a" } })] })],
  ["a change not an object", page({ results: [row({ changes: ["1-a"] })] })],
  ["a change without rev", page({ results: [row({ changes: [{}] })] })],
  ["a rev not a string", page({ results: [row({ changes: [{ rev: 1 }] })] })],
  ["the second rev not a string", page({ results: [row({ changes: [{ rev: "1-a" }, { rev: null }] })] })],
  ["deleted not a boolean", page({ results: [row({ deleted: "true" })] })],
  ["deleted null", page({ results: [row({ deleted: null })] })],
  ["the fourth row wrong", page({ results: [row(), row(), row(), row({ id: [] })] })],
  ["two wrong fields: the first named", page({ results: [row({ id: 1, changes: 2 })] })],
  ["results and last_seq both wrong", { results: 1, last_seq: {} }],
]

const answers: Array<readonly [string, unknown]> = [
  ["a normal answer", { purge_seq: null, purged: { a: ["1-x"], b: [] } }],
  ["a string purge_seq", { purge_seq: "5-g1AA", purged: {} }],
  ["a numeric purge_seq", { purge_seq: 5, purged: {} }],
  ["no purge_seq", { purged: { a: ["1-x", "2-y"] } }],
  ["an error outcome", { purged: { a: { error: "conflict", reason: "no" } } }],
  ["an error outcome without reason", { purged: { a: { error: "conflict" } } }],
  ["not an object", 3],
  ["purged missing", { purge_seq: null }],
  ["purged a list", { purged: [] }],
  ["purged null", { purged: null }],
  ["purge_seq an object", { purge_seq: {}, purged: {} }],
  ["an outcome a number", { purged: { a: 5 } }],
  ["an outcome null", { purged: { a: null } }],
  ["a rev not a string", { purged: { a: ["1-x", 2] } }],
  ["an error not a string", { purged: { a: { error: 5 } } }],
  ["a reason not a string", { purged: { a: { error: "x", reason: 5 } } }],
  ["an object without error", { purged: { a: { reason: "x" } } }],
  ["the second id wrong", { purged: { a: [], b: "x" } }],
]

describe("the _changes page check matches the ChangesPage Schema", () => {
  for (const [name, json] of pages) {
    test(name, () => {
      expect(decodeChangesPage(json)).toEqual(bySchema.page(json))
    })
  }
})

describe("the _purge answer check matches the PurgeAnswer Schema", () => {
  for (const [name, json] of answers) {
    test(name, () => {
      expect(decodePurgeAnswer(json)).toEqual(bySchema.purge(json))
    })
  }
})

describe("wrong row shapes are refused with the field named", () => {
  const reasons: Array<readonly [unknown, string]> = [
    [page({ results: [without(row(), "id")] }), "field results[0].id is missing"],
    [
      page({ results: [row({ changes: "2-abc" })] }),
      "field results[0].changes does not have the expected form",
    ],
    [
      page({ results: [row({ changes: [{ rev: 2 }] })] }),
      "field results[0].changes[0].rev does not have the expected form",
    ],
    [page({ results: [row({ deleted: 1 })] }), "field results[0].deleted does not have the expected form"],
  ]
  for (const [json, reason] of reasons) {
    test(reason, () => {
      expect(decodeChangesPage(json)).toEqual(Either.left(reason))
    })
  }
})
