/**
 * The low-water mark: work units are numbered in feed order, each ending at a seq; the checkpoint
 * moves to a unit's seq only once that unit and every unit before it are done. A later unit that
 * finishes first waits; a unit that never finishes (failed) holds the checkpoint before it, so the
 * next run reads those changes again and nothing is skipped.
 */
export interface Watermark {
  /** The first unit not yet done. */
  readonly next: number
  /** Units done ahead of `next`, with their seqs. */
  readonly ahead: ReadonlyMap<number, string>
  /** The seq everything up to which is done, if any unit is. */
  readonly checkpoint: string | undefined
  /** The first unit holding back a tombstone: the checkpoint never reaches it or goes past it. */
  readonly heldFrom?: number
}

export const emptyWatermark: Watermark = { next: 0, ahead: new Map(), checkpoint: undefined }

export const completeUnit = (state: Watermark, unit: number, seq: string): Watermark => {
  if (unit < state.next) return state
  if (state.heldFrom !== undefined && unit >= state.heldFrom) return state
  const ahead = new Map(state.ahead)
  ahead.set(unit, seq)
  let next = state.next
  let checkpoint = state.checkpoint
  for (let s = ahead.get(next); s !== undefined; s = ahead.get(next)) {
    checkpoint = s
    ahead.delete(next)
    next += 1
  }
  return { ...state, next, ahead, checkpoint }
}

/**
 * Marks a unit that holds back a tombstone: it never counts as done, and units after it are no
 * longer remembered (the checkpoint can never reach them), so memory stays flat however long the
 * rest of the feed is.
 */
export const holdUnit = (state: Watermark, unit: number): Watermark => {
  if (state.heldFrom !== undefined && state.heldFrom <= unit) return state
  const ahead = new Map([...state.ahead].filter(([n]) => n < unit))
  return { ...state, ahead, heldFrom: unit }
}
