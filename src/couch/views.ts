import { HttpClientRequest } from "@effect/platform"
import { Effect, Option } from "effect"
import type { CouchClientShape } from "./client.ts"
import { isDbMissing } from "./errors.ts"
import { JsonObject, PutAnswer } from "./schema.ts"

/**
 * Design documents (views) kept as files: written only when they differ from what the database
 * holds. An identical re-PUT still makes a new revision (COUCHDB-FACTS §12), and a new revision
 * of a design doc makes CouchDB rebuild its indexes, so an unchanged one is never written.
 * https://docs.couchdb.org/en/stable/api/ddoc/common.html
 */

export type EnsureOutcome = "created" | "updated" | "unchanged"

export interface EnsureReport {
  readonly db: string
  readonly id: string
  readonly outcome: EnsureOutcome
  readonly rev: string
}

/** JSON with object keys sorted at every level, so two equal documents compare equal as text. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
  }
  return JSON.stringify(value)
}

/** The document as compared: without `_rev`, which the file does not (need to) carry. */
const comparable = (doc: Readonly<Record<string, unknown>>) => {
  const { _rev, ...rest } = doc
  return canonicalJson(rest)
}

const ddocPath = (db: string, id: string) =>
  `/${encodeURIComponent(db)}/_design/${encodeURIComponent(id.slice("_design/".length))}`

/** The stored design doc, or none when it never existed or was deleted. */
const current = (couch: CouchClientShape, db: string, id: string) =>
  couch.request(`GET /${db}/${id}`, db, HttpClientRequest.get(ddocPath(db, id)), JsonObject).pipe(
    Effect.map((r) => Option.some(r.body)),
    Effect.catchTag("CouchNotFound", (e) => (isDbMissing(e) ? Effect.fail(e) : Effect.succeedNone)),
  )

/** Creates or updates the design doc `doc` (its `_id` starts with `_design/`) only when it differs. */
export const ensureDesignDoc = Effect.fn("Couch.ensureDesignDoc")(function* (
  couch: CouchClientShape,
  db: string,
  doc: Readonly<Record<string, unknown>> & { readonly _id: string },
) {
  const stored = yield* current(couch, db, doc._id)
  if (Option.isSome(stored) && comparable(stored.value) === comparable(doc)) {
    const rev = stored.value._rev
    const report: EnsureReport = {
      db,
      id: doc._id,
      outcome: "unchanged",
      rev: typeof rev === "string" ? rev : "",
    }
    return report
  }
  const { _rev: _ignored, ...body } = doc
  const withRev = Option.match(stored, {
    onNone: () => body,
    onSome: (s) => ({ ...body, _rev: s._rev }),
  })
  const put = yield* couch.request(
    `PUT /${db}/${doc._id}`,
    db,
    HttpClientRequest.put(ddocPath(db, doc._id)).pipe(HttpClientRequest.bodyUnsafeJson(withRev)),
    PutAnswer,
  )
  const report: EnsureReport = {
    db,
    id: doc._id,
    outcome: Option.isSome(stored) ? "updated" : "created",
    rev: put.body.rev,
  }
  return report
})
