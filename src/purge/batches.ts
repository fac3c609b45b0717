/** A deleted document and the leaf revs to purge. */
export interface Tombstone {
  readonly id: string
  readonly revs: ReadonlyArray<string>
}

export interface BatchLimits {
  /** Most document ids in one `_purge` request (CouchDB's `max_document_id_number`, 100 before 3.5.1). */
  readonly maxIds: number
  /** Most revs in one request (CouchDB's `max_revisions_number`, 1000). */
  readonly maxRevs: number
}

/**
 * Splits tombstones into `_purge` bodies within both limits, keeping feed order. A document with
 * more leaf revs than `maxRevs` is spread over several bodies, each within the rev limit.
 */
export const splitBatches = (
  tombstones: ReadonlyArray<Tombstone>,
  limits: BatchLimits,
): ReadonlyArray<ReadonlyArray<Tombstone>> => {
  const maxIds = Math.max(1, limits.maxIds)
  const maxRevs = Math.max(1, limits.maxRevs)
  const batches: Array<Array<Tombstone>> = []
  let current: Array<Tombstone> = []
  let revs = 0
  const close = () => {
    if (current.length > 0) batches.push(current)
    current = []
    revs = 0
  }
  for (const tombstone of tombstones) {
    const n = tombstone.revs.length
    if (n > 0 && n <= maxRevs) {
      // Nearly every tombstone: whole, as it is (no copy of its revs).
      if (current.length + 1 > maxIds || revs + n > maxRevs) close()
      current.push(tombstone)
      revs += n
      continue
    }
    for (let start = 0; start < n; start += maxRevs) {
      const part = tombstone.revs.slice(start, start + maxRevs)
      if (current.length + 1 > maxIds || revs + part.length > maxRevs) close()
      current.push(part.length === tombstone.revs.length ? tombstone : { id: tombstone.id, revs: part })
      revs += part.length
    }
  }
  close()
  return batches
}

/** The `_purge` request body for a batch: the rev lists are shared, not copied. */
export const purgeBody = (batch: ReadonlyArray<Tombstone>): Record<string, ReadonlyArray<string>> => {
  const body: Record<string, ReadonlyArray<string>> = {}
  for (const t of batch) {
    const revs = body[t.id]
    body[t.id] = revs === undefined ? t.revs : [...revs, ...t.revs]
  }
  return body
}

/** How many leaf revs the tombstones hold. */
export const revsOf = (tombstones: ReadonlyArray<Tombstone>) => {
  let n = 0
  for (const t of tombstones) n += t.revs.length
  return n
}
