/**
 * `--grace`: CouchDB does not record when a document was deleted, and its seqs are opaque (never
 * parsed or compared). So each run records an observation, the time and the database's
 * `update_seq` then, in a short history beside the checkpoint; a tombstone is within the grace
 * when its document shows up in `_changes?since=<the newest seq observed at least the grace ago>`.
 * Every change after an observation's time is in the feed since its seq (the time is taken after
 * the seq was read), so nothing changed within the grace is missed; a little more may be held.
 */
export interface Observation {
  /** Epoch milliseconds, when the seq was known to be current (or older). */
  readonly at: number
  readonly seq: string
}

/** Most observations kept: thinned so that old ones stay spread over time. */
export const maxObservations = 50

/**
 * Adds `observation`, keeping the history in time order and at most `max` long: while too long,
 * drops the inner observation whose neighbours are closest in time (the oldest and the newest
 * always stay), so a year of hourly runs keeps observations spread over the year.
 */
export const recordObservation = (
  history: ReadonlyArray<Observation>,
  observation: Observation,
  max = maxObservations,
): ReadonlyArray<Observation> => {
  const all = [...history, observation].sort((a, b) => a.at - b.at)
  while (all.length > Math.max(2, max)) {
    let drop = 1
    let narrowest = Number.POSITIVE_INFINITY
    for (let i = 1; i < all.length - 1; i++) {
      const gap = all[i + 1]!.at - all[i - 1]!.at
      if (gap < narrowest) {
        narrowest = gap
        drop = i
      }
    }
    all.splice(drop, 1)
  }
  return all
}

export type GraceStart =
  /** Hold back the ids changed since `seq`, observed at `at`. */
  | { readonly kind: "since"; readonly seq: string; readonly at: number }
  /** No observation is old enough: hold back everything; a purge is first possible at `from`. */
  | { readonly kind: "none"; readonly from: number }

/**
 * Where the grace starts at `now`: the newest observation at least `graceMs` old. With none, every
 * tombstone waits until the oldest observation (this run's, on a first run) is `graceMs` old.
 */
export const graceStart = (
  history: ReadonlyArray<Observation>,
  now: number,
  graceMs: number,
  current: Observation,
): GraceStart => {
  let best: Observation | undefined
  for (const o of history) if (o.at <= now - graceMs && (best === undefined || o.at > best.at)) best = o
  if (best !== undefined) return { kind: "since", seq: best.seq, at: best.at }
  const oldest = [...history, current].reduce((a, b) => (b.at < a.at ? b : a))
  return { kind: "none", from: oldest.at + graceMs }
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * The history as stored in the checkpoint document (`[{"at":"<ISO time>","seq":"…"}]`); entries
 * that are not that shape are left out (the document is ours, but a person may have edited it).
 */
export const historyOf = (stored: unknown): ReadonlyArray<Observation> => {
  if (!Array.isArray(stored)) return []
  const out: Array<Observation> = []
  for (const entry of stored) {
    if (!isRecord(entry) || typeof entry.seq !== "string" || typeof entry.at !== "string") continue
    const at = Date.parse(entry.at)
    if (Number.isFinite(at)) out.push({ at, seq: entry.seq })
  }
  return out.sort((a, b) => a.at - b.at)
}

/** The history as the checkpoint document stores it. */
export const storedHistory = (history: ReadonlyArray<Observation>) =>
  history.map((o) => ({ at: new Date(o.at).toISOString(), seq: o.seq }))
