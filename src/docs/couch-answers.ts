import { Either } from "effect"
import type { Doc } from "./store.ts"

/**
 * The answers the couchdb store reads in bulk (`_bulk_docs`, `_all_docs`), checked by hand: one
 * pass over the rows, each field's type tested once. Schema's generic decoder walked every key of
 * every document and cost more than the request itself. A wrong shape is still refused, and the
 * reason names the field as the Schema did ("field [3].id is missing").
 */

type Check<A> = Either.Either<A, string>

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const missing = (path: string) => Either.left(`field ${path} is missing`)
const wrong = (path: string) =>
  Either.left(
    path === ""
      ? "the answer does not have the expected form"
      : `field ${path} does not have the expected form`,
  )

/** One element of a `_bulk_docs` answer (COUCHDB-FACTS §3): a rev when ok, else error and reason. */
export interface BulkResult {
  readonly id: string
  readonly rev?: string
  readonly error?: string
  readonly reason?: string
}

const optionalString = (row: Record<string, unknown>, key: string) =>
  row[key] === undefined || typeof row[key] === "string"

export const checkBulkResults = (json: unknown): Check<ReadonlyArray<BulkResult>> => {
  if (!Array.isArray(json)) return wrong("")
  for (let i = 0; i < json.length; i++) {
    const row: unknown = json[i]
    if (!isObject(row)) return wrong(`[${i}]`)
    if (row.id === undefined) return missing(`[${i}].id`)
    if (typeof row.id !== "string") return wrong(`[${i}].id`)
    for (const key of ["rev", "error", "reason"]) {
      if (!optionalString(row, key)) return wrong(`[${i}].${key}`)
    }
  }
  return Either.right(json as ReadonlyArray<BulkResult>)
}

/** A document as CouchDB sends it: a JSON object with a string `_id` and, when present, a string `_rev`. */
export const checkDoc = (doc: unknown, path: string): Check<Doc> => {
  if (!isObject(doc)) return wrong(path)
  if (doc._id === undefined) return missing(`${path}._id`.replace(/^\./, ""))
  if (typeof doc._id !== "string") return wrong(`${path}._id`.replace(/^\./, ""))
  if (!optionalString(doc, "_rev")) return wrong(`${path}._rev`.replace(/^\./, ""))
  return Either.right(doc as Doc)
}

/** A row of `_all_docs?include_docs=true` (COUCHDB-FACTS §4): `doc` is null for a deleted row. */
export interface AllDocsRow {
  readonly id?: string
  readonly key: unknown
  readonly error?: string
  readonly value?: { readonly rev: string; readonly deleted?: boolean }
  readonly doc?: Doc | null
}

export const checkAllDocs = (json: unknown): Check<ReadonlyArray<AllDocsRow>> => {
  if (!isObject(json)) return wrong("")
  const rows = json.rows
  if (rows === undefined) return missing("rows")
  if (!Array.isArray(rows)) return wrong("rows")
  for (let i = 0; i < rows.length; i++) {
    const at = `rows[${i}]`
    const row: unknown = rows[i]
    if (!isObject(row)) return wrong(at)
    if (!("key" in row)) return missing(`${at}.key`)
    if (!optionalString(row, "id")) return wrong(`${at}.id`)
    if (!optionalString(row, "error")) return wrong(`${at}.error`)
    const value = row.value
    if (value !== undefined) {
      if (!isObject(value)) return wrong(`${at}.value`)
      if (value.rev === undefined) return missing(`${at}.value.rev`)
      if (typeof value.rev !== "string") return wrong(`${at}.value.rev`)
      if (value.deleted !== undefined && typeof value.deleted !== "boolean")
        return wrong(`${at}.value.deleted`)
    }
    if (row.doc !== undefined && row.doc !== null) {
      const doc = checkDoc(row.doc, `${at}.doc`)
      if (Either.isLeft(doc)) return Either.left(doc.left)
    }
  }
  return Either.right(rows as ReadonlyArray<AllDocsRow>)
}
