import { describe, expect, test } from "bun:test"
import { Either } from "effect"
import { checkAllDocs, checkBulkResults, checkDoc } from "../../src/docs/couch-answers.ts"

const reason = <A>(e: Either.Either<A, string>) => (Either.isLeft(e) ? e.left : "accepted")

describe("hand checks of the couchdb store's bulk answers", () => {
  test("_bulk_docs: CouchDB's answers pass; each wrong shape is refused naming the field", () => {
    const ok = [
      { ok: true, id: "a", rev: "1-x" },
      { id: "b", error: "conflict", reason: "Document update conflict." },
    ]
    expect(reason(checkBulkResults(ok))).toBe("accepted")
    expect(reason(checkBulkResults({ docs: [] }))).toBe("the answer does not have the expected form")
    expect(reason(checkBulkResults([1]))).toBe("field [0] does not have the expected form")
    expect(reason(checkBulkResults([{ rev: "1-x" }]))).toBe("field [0].id is missing")
    expect(reason(checkBulkResults([{ id: 7 }]))).toBe("field [0].id does not have the expected form")
    expect(reason(checkBulkResults([{ id: "a" }, { id: "b", rev: 2 }]))).toBe(
      "field [1].rev does not have the expected form",
    )
    expect(reason(checkBulkResults([{ id: "a", error: null }]))).toBe(
      "field [0].error does not have the expected form",
    )
    expect(reason(checkBulkResults([{ id: "a", reason: {} }]))).toBe(
      "field [0].reason does not have the expected form",
    )
  })

  test("_all_docs: rows, tombstones and missing keys pass; each wrong shape is refused naming the field", () => {
    const answer = {
      total_rows: 3,
      offset: null,
      rows: [
        { id: "a", key: "a", value: { rev: "1-x" }, doc: { _id: "a", _rev: "1-x", v: 1 } },
        { id: "c", key: "c", value: { rev: "2-y", deleted: true }, doc: null },
        { key: "m", error: "not_found" },
      ],
    }
    expect(reason(checkAllDocs(answer))).toBe("accepted")
    expect(reason(checkAllDocs([]))).toBe("the answer does not have the expected form")
    expect(reason(checkAllDocs({}))).toBe("field rows is missing")
    expect(reason(checkAllDocs({ rows: {} }))).toBe("field rows does not have the expected form")
    expect(reason(checkAllDocs({ rows: [{ id: "a" }] }))).toBe("field rows[0].key is missing")
    expect(reason(checkAllDocs({ rows: [{ key: "a", id: 1 }] }))).toBe(
      "field rows[0].id does not have the expected form",
    )
    expect(reason(checkAllDocs({ rows: [{ key: "a", value: {} }] }))).toBe(
      "field rows[0].value.rev is missing",
    )
    expect(reason(checkAllDocs({ rows: [{ key: "a", value: { rev: "1-x", deleted: "yes" } }] }))).toBe(
      "field rows[0].value.deleted does not have the expected form",
    )
    expect(reason(checkAllDocs({ rows: [{ key: "a", doc: { v: 1 } }] }))).toBe(
      "field rows[0].doc._id is missing",
    )
    expect(reason(checkAllDocs({ rows: [{ key: "a", doc: { _id: "a", _rev: 3 } }] }))).toBe(
      "field rows[0].doc._rev does not have the expected form",
    )
  })

  test("a single document", () => {
    expect(reason(checkDoc({ _id: "a", _rev: "1-x", v: [1] }, ""))).toBe("accepted")
    expect(reason(checkDoc({ _rev: "1-x" }, ""))).toBe("field _id is missing")
    expect(reason(checkDoc("text", ""))).toBe("the answer does not have the expected form")
  })
})
