import { Clock, Duration, Effect, Ref } from "effect"

/**
 * `--max-rate N`: at most N tombstones a second into one database, so a purge on a busy server
 * leaves it room for live traffic (every purge makes views and indexes catch up as an update does).
 *
 * A schedule, not a bucket: each batch of k tombstones is given the slot that starts where the
 * previous one's k/N seconds end (or now, if that is past), and waits for it. The first batch goes
 * at once; after it, over any stretch of time, no more than N tombstones a second are sent, however
 * many requests are in flight. The time is the Effect Clock's (a TestClock in tests).
 */
export interface Pacer {
  /**
   * Waits for the slot of `tombstones` tombstones; stops waiting as soon as `stopping` says so
   * (checked every `check`). The milliseconds waited for the slot, as computed.
   */
  readonly take: (tombstones: number, stopping: Effect.Effect<boolean>) => Effect.Effect<number>
}

/** How often a wait looks at the stop flag: Ctrl-C must not sit behind a long wait. */
const check = Duration.millis(200)

/** No pacing: no wait, no clock read. */
export const unpaced: Pacer = { take: () => Effect.succeed(0) }

/** The slot of `tombstones` at `now`, after a schedule that ends at `next`: [wait, new end]. */
export const slot = (
  next: number,
  now: number,
  tombstones: number,
  perSecond: number,
): readonly [wait: number, next: number] => {
  const start = Math.max(next, now)
  return [start - now, start + (tombstones * 1000) / perSecond]
}

export const makePacer = (perSecond: number | undefined): Effect.Effect<Pacer> =>
  perSecond === undefined
    ? Effect.succeed(unpaced)
    : Effect.map(Ref.make(Number.NEGATIVE_INFINITY), (next) => ({
        take: (tombstones, stopping) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const wait = yield* Ref.modify(next, (end) => slot(end, now, tombstones, perSecond))
            let left = wait
            while (left > 0 && !(yield* stopping)) {
              const step = Math.min(left, Duration.toMillis(check))
              yield* Effect.sleep(Duration.millis(step))
              left -= step
            }
            return wait
          }),
      }))
