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

/** JSON with keys sorted, so two bodies compare equal whatever order their keys were written in. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )

/** Equal as application documents: both deleted, or the same body, whatever the revisions (no `_rev`). */
export const sameBody = (a: Doc, b: Doc): boolean =>
  (a._deleted === true) === (b._deleted === true) && canonical(bodyOf(a)) === canonical(bodyOf(b))

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
    const writes = changed.map((d): Doc => {
      const rev = existing.get(d._id)?._rev
      return { _id: d._id, ...(rev === undefined ? {} : { _rev: rev }), ...bodyOf(d) }
    })
    // Docs read from a couchbackup file carry their history: restored with it, like couchrestore.
    const replicated =
      target.keepsRevisions === true ||
      changed.every((d) => d._revisions !== undefined && d._rev !== undefined)
    const results = yield* replicated
      ? target.saveReplicated(collection, changed)
      : target.saveMany(collection, writes)
    const refused = results.filter((r) => !r.ok)
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
