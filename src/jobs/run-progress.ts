import { Clock, Effect, SubscriptionRef } from "effect"
import { type ProgressShape, partOf } from "../shared/progress.ts"
import type { RunStatus } from "./status.ts"

/**
 * A progress reporter that keeps the run's status and also shows it on the display. A part (one
 * database of many) counts into the run's status and shows as its own line where the display can.
 */
export const progressOf = (
  display: ProgressShape,
  status: SubscriptionRef.SubscriptionRef<RunStatus>,
  startedAt: number,
): ProgressShape => {
  const rate = (done: number) =>
    Clock.currentTimeMillis.pipe(
      Effect.map((now) => Math.round(done / Math.max((now - startedAt) / 1000, 0.001))),
    )
  const count = (n: number) =>
    SubscriptionRef.get(status).pipe(
      Effect.flatMap((s) => {
        const done = s.progress.done + n
        return rate(done).pipe(
          Effect.flatMap((ratePerSecond) =>
            SubscriptionRef.set(status, {
              ...s,
              progress: { ...s.progress, done, total: Math.max(s.progress.total, done), ratePerSecond },
            }),
          ),
        )
      }),
    )
  return {
    start: (label, total) =>
      SubscriptionRef.update(status, (s) => ({
        ...s,
        progress: { label, done: 0, total, ratePerSecond: 0 },
      })).pipe(Effect.zipRight(display.start(label, total))),
    advance: (n) => count(n).pipe(Effect.zipRight(display.advance(n))),
    stop: display.stop,
    part: (label) =>
      Effect.map(
        partOf(display, label),
        (shown): ProgressShape => ({
          start: (partLabel, total) =>
            SubscriptionRef.update(status, (s) => ({
              ...s,
              progress: { ...s.progress, total: s.progress.total + total },
            })).pipe(Effect.zipRight(shown.start(partLabel, total))),
          advance: (n) => count(n).pipe(Effect.zipRight(shown.advance(n))),
          stop: shown.stop,
        }),
      ),
  }
}
