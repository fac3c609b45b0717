import { Effect } from "effect"
import type { Doc, DocumentStoreShape, StoreError } from "./store.ts"
import { bodyOf } from "./table.ts"

/** One collection's counts in a migration. */
export interface CollectionCounts {
  readonly collection: string
  /** Documents read from the source. */
  read: number
  /** Written to the target (or, in a dry run, that would be). */
  written: number
  /** Already equal at the target: not written again (what makes a re-run idempotent). */
  skipped: number
  failed: number
}

export interface Failure {
  readonly collection: string
  readonly id: string
  readonly error: string
  readonly reason: string
}

/** Equal as JSON values, whatever order the keys of their objects were written in. */
const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  return sameFields(a as Record<string, unknown>, b as Record<string, unknown>, false)
}

/** CouchDB's own fields: the store's, not the application's (`bodyOf` drops the same ones). */
const storeFields = new Set(["_id", "_rev", "_revisions", "_deleted"])

const sameFields = (a: Record<string, unknown>, b: Record<string, unknown>, top: boolean): boolean => {
  let count = 0
  for (const key in a) {
    if (top && storeFields.has(key)) continue
    count += 1
    if (!Object.hasOwn(b, key) || !sameJson(a[key], b[key])) return false
  }
  for (const key in b) if (!(top && storeFields.has(key))) count -= 1
  return count === 0
}

/**
 * Equal as application documents: both deleted, or the same body, whatever the revisions (no
 * `_rev`) and the order of keys. Compared in place: this runs for every document of a re-run.
 */
export const sameBody = (a: Doc, b: Doc): boolean =>
  (a._deleted === true) === (b._deleted === true) && sameFields(a, b, true)

/**
 * The document to send to a bulk save against `rev` (the target's current one, if any): the
 * source's own store fields are dropped. A plain document (no `_rev`, `_revisions`, `_deleted`)
 * going where nothing is yet is sent as it is, without a copy.
 */
const toWrite = (d: Doc, rev: string | undefined): Doc =>
  rev === undefined && d._rev === undefined && d._revisions === undefined && d._deleted === undefined
    ? d
    : { _id: d._id, ...(rev === undefined ? {} : { _rev: rev }), ...bodyOf(d) }

export interface BatchOutcome {
  readonly written: number
  readonly skipped: number
  readonly failures: ReadonlyArray<Failure>
}

/**
 * Copies one batch: reads what the target holds for these ids, leaves out documents already equal
 * there, and writes the rest in one bulk request against the target's current revisions. A
 * per-doc conflict (someone wrote meanwhile, or a retried request that had landed) is checked
 * once more: equal now counts as skipped, else a failure. A batch whose requests fail after their
 * retries fails as a whole, counted, without stopping the run.
 */
export const copyBatch = Effect.fn("Docs.copyBatch")(function* (
  target: DocumentStoreShape,
  collection: string,
  docs: ReadonlyArray<Doc>,
  dryRun: boolean,
  /** The target collection did not exist when the copy began: nothing to look up there. */
  fresh = false,
) {
  const fail = (e: StoreError): BatchOutcome => ({
    written: 0,
    skipped: 0,
    failures: docs.map((d) => ({ collection, id: d._id, error: e._tag, reason: e.message })),
  })
  return yield* Effect.gen(function* () {
    const existing = fresh
      ? new Map<string, Doc>()
      : yield* target.getMany(
          collection,
          docs.map((d) => d._id),
        )
    const changed = docs.filter((d) => {
      const there = existing.get(d._id)
      return there === undefined || !sameBody(d, there)
    })
    const skipped = docs.length - changed.length
    if (dryRun || changed.length === 0) return { written: changed.length, skipped, failures: [] }
    const writes = changed.map((d) => toWrite(d, existing.get(d._id)?._rev))
    // Docs read from a couchbackup file carry their history: restored with it, like couchrestore.
    const replicated =
      target.keepsRevisions === true ||
      changed.every((d) => d._revisions !== undefined && d._rev !== undefined)
    const results = yield* replicated
      ? target.saveReplicated(collection, changed)
      : target.saveMany(collection, writes)
    const refused = results.filter((r) => !r.ok)
    if (refused.length === 0) return { written: results.length, skipped, failures: [] }
    const recheck = yield* target.getMany(
      collection,
      refused.map((r) => r.id),
    )
    const byId = new Map(changed.map((d) => [d._id, d]))
    const failures: Array<Failure> = []
    let landed = 0
    for (const r of refused) {
      const now = recheck.get(r.id)
      const wanted = byId.get(r.id)
      if (now !== undefined && wanted !== undefined && sameBody(now, wanted)) landed += 1
      else if (!r.ok) failures.push({ collection, id: r.id, error: r.error, reason: r.reason })
    }
    return { written: results.length - refused.length, skipped: skipped + landed, failures }
  }).pipe(Effect.catchAll((e) => Effect.succeed(fail(e))))
})
