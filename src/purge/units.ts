import type { ChangesPage } from "../couch/schema.ts"
import type { BatchLimits, Tombstone } from "./batches.ts"
import type { HeldReason } from "./holds.ts"

/** CouchDB 3.5.1 dropped the 100-id limit of `_purge`; the 1000-rev limit stays. */
export const autoLimits = (version: string): BatchLimits => {
  const [major = 0, minor = 0, patch = 0] = version.split(".").map((p) => Number.parseInt(p, 10) || 0)
  const lifted = major > 3 || (major === 3 && (minor > 5 || (minor === 5 && patch >= 1)))
  return { maxIds: lifted ? 500 : 100, maxRevs: 1000 }
}

/**
 * Turns one feed page into work units within `limits`; a page without tombstones is one empty unit.
 * `from` is the seq the page was read from. With `seq_interval` most rows carry no seq: a unit then
 * ends at the last seq known at or before its last row (`from` before any), so the checkpoint may
 * lag a few rows behind the work done, and a later run reads those rows again; it never runs ahead
 * of it, so nothing is skipped. The last unit ends at the page's `last_seq`, which is always given.
 *
 * `hold` says which tombstones the run holds back (`--grace`, `--respect-replications`): a held
 * tombstone is not purged, and the unit it is in is marked `held`, so the checkpoint never moves
 * past it (the units before it end at the last seq known before it). The tombstones after it in
 * the unit and in later units are still purged: a purged document leaves the feed, so the next
 * run, reading from before the held one, finds only what is left.
 */
export const unitsOf = (
  page: ChangesPage,
  limits: BatchLimits,
  first: number,
  from?: string,
  hold?: (id: string) => HeldReason | undefined,
): ReadonlyArray<Unit> => {
  const units: Array<Unit> = []
  let pending: Array<Tombstone> = []
  let held: Array<HeldTombstone> | undefined
  let revs = 0
  /** The last seq known at or before the previous row. */
  let known = from
  const close = (seq: string) => {
    units.push(
      held === undefined
        ? { n: first + units.length, seq, tombstones: pending }
        : { n: first + units.length, seq, tombstones: pending, held },
    )
    pending = []
    held = undefined
    revs = 0
  }
  for (const row of page.results) {
    // A deleted winner means every leaf is deleted (CouchDB always prefers a live leaf as winner),
    // so every rev that style=all_docs lists for such a row is a deleted leaf.
    // https://docs.couchdb.org/en/stable/replication/conflicts.html#working-with-conflicting-documents
    const reason = row.deleted === true && hold !== undefined ? hold(row.id) : undefined
    if (reason !== undefined && row.changes.length > 0) {
      // The first held tombstone of a unit ends the unit before it, so the checkpoint can reach
      // the last seq known before it and no further.
      if (held === undefined && known !== undefined) close(known)
      held ??= []
      held.push({ id: row.id, revs: row.changes.map((c) => c.rev), reason })
    } else if (row.deleted === true && row.changes.length > 0) {
      const leafRevs = row.changes.map((c) => c.rev)
      const full = pending.length + 1 > limits.maxIds || revs + leafRevs.length > limits.maxRevs
      // Without a known seq the unit grows past the limits instead (the sender splits it).
      if (pending.length > 0 && full && known !== undefined) close(known)
      pending.push({ id: row.id, revs: leafRevs })
      revs += leafRevs.length
    }
    if (row.seq !== null) known = row.seq
  }
  close(page.last_seq)
  return units
}

export interface Unit {
  readonly n: number
  /** The feed position that everything in (and before) this unit reaches. */
  readonly seq: string
  readonly tombstones: ReadonlyArray<Tombstone>
  /** Tombstones held back: present only when there are some, and then the unit is never checkpointed past. */
  readonly held?: ReadonlyArray<HeldTombstone>
}

/** A tombstone held back, and why. */
export interface HeldTombstone extends Tombstone {
  readonly reason: HeldReason
}
