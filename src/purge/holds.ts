/**
 * Why a tombstone is held back (not purged this run, and not checkpointed past, so a later run
 * reads it again): changed within `--grace`; changed since a replication that reads this database
 * last checkpointed; or the whole database waits on a replication in an error state.
 */
export type HeldReason = "grace" | "replication" | "replication-error"

export const heldReasons: ReadonlyArray<HeldReason> = ["replication-error", "replication", "grace"]

/** Held-back tombstones by reason. */
export interface HeldCounts {
  readonly grace: number
  readonly replication: number
  readonly "replication-error": number
}

export const zeroHeld: HeldCounts = { grace: 0, replication: 0, "replication-error": 0 }

export const addHeld = (a: HeldCounts, b: Partial<HeldCounts> | undefined): HeldCounts =>
  b === undefined
    ? a
    : {
        grace: a.grace + (b.grace ?? 0),
        replication: a.replication + (b.replication ?? 0),
        "replication-error": a["replication-error"] + (b["replication-error"] ?? 0),
      }

export const totalHeld = (h: HeldCounts) => h.grace + h.replication + h["replication-error"]

/** "12 (grace 10, replication 2)", or "0". */
export const showHeld = (h: HeldCounts) => {
  const parts = heldReasons.filter((r) => h[r] > 0).map((r) => `${r} ${h[r]}`)
  return parts.length === 0 ? "0" : `${totalHeld(h)} (${parts.join(", ")})`
}

/** One reason outranks another: a tombstone held for several reasons is counted under the first. */
const rank = (r: HeldReason) => heldReasons.indexOf(r)

/**
 * What a run holds back: every tombstone (`all`), or the ids found in the feeds the caps read.
 * Only ids of deleted documents are kept: a live document is never purged, and one deleted later
 * is found by the catch-up read that follows each page of the main feed.
 */
export interface Holds {
  all: HeldReason | undefined
  readonly ids: Map<string, HeldReason>
}

export const noHolds = (): Holds => ({ all: undefined, ids: new Map() })

/** Holds `id` for `reason` unless it is held for a weightier one already. */
export const holdId = (holds: Holds, id: string, reason: HeldReason): void => {
  const was = holds.ids.get(id)
  if (was === undefined || rank(reason) < rank(was)) holds.ids.set(id, reason)
}

/** Why `id` is held back, if it is. */
export const heldFor = (holds: Holds, id: string): HeldReason | undefined => {
  const own = holds.ids.get(id)
  if (holds.all === undefined) return own
  return own !== undefined && rank(own) < rank(holds.all) ? own : holds.all
}

/** Whether holding for `reason` adds anything to a run that holds everything for `all`. */
export const outranks = (reason: HeldReason, all: HeldReason | undefined) =>
  all === undefined || rank(reason) < rank(all)

/** Whether the run holds anything back at all (no caps: the purge runs as before). */
export const holdsAnything = (holds: Holds) => holds.all !== undefined || holds.ids.size > 0
