import { Clock, Effect, SubscriptionRef } from "effect"
import { heldPlus, type ProgressShape, partOf } from "../shared/progress.ts"
import type { PartProgress, RunStatus } from "./status.ts"

/**
 * A progress reporter that keeps the run's status and also shows it on the display. A part (one
 * database of many) counts into the run's status and shows as its own line where the display can.
 */
export const progressOf = (
  display: ProgressShape,
  status: SubscriptionRef.SubscriptionRef<RunStatus>,
  startedAt: number,
): ProgressShape => {
  // One atomic update: parts of a run of many advance from several fibers at once.
  const count = (n: number) =>
    Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) =>
        SubscriptionRef.update(status, (s) => {
          const done = s.progress.done + n
          const ratePerSecond = Math.round(done / Math.max((now - startedAt) / 1000, 0.001))
          return {
            ...s,
            progress: { ...s.progress, done, total: Math.max(s.progress.total, done), ratePerSecond },
          }
        }),
      ),
    )
  const hold = (reason: string, n: number) =>
    SubscriptionRef.update(status, (s) => ({
      ...s,
      progress: {
        ...s.progress,
        held: heldPlus(s.progress.held, reason, n),
      },
    }))
  return {
    start: (label, total) =>
      SubscriptionRef.update(status, (s) => ({
        ...s,
        progress: {
          label,
          done: 0,
          total,
          ratePerSecond: 0,
          ...(s.progress.held ? { held: s.progress.held } : {}),
        },
      })).pipe(Effect.zipRight(display.start(label, total))),
    advance: (n) => count(n).pipe(Effect.zipRight(display.advance(n))),
    hold: (reason, n) => hold(reason, n).pipe(Effect.zipRight(display.hold?.(reason, n) ?? Effect.void)),
    stop: display.stop,
    part: (name) => {
      const parts = (
        s: RunStatus,
        change: (parts: ReadonlyArray<PartProgress>) => ReadonlyArray<PartProgress>,
      ) => ({
        ...s,
        progress: { ...s.progress, parts: change(s.progress.parts ?? []) },
      })
      return Effect.map(
        partOf(display, name),
        (shown): ProgressShape => ({
          start: (label, total) =>
            SubscriptionRef.update(status, (s) =>
              parts({ ...s, progress: { ...s.progress, total: s.progress.total + total } }, (all) => [
                ...all.filter((p) => p.name !== name),
                { name, done: 0, total },
              ]),
            ).pipe(Effect.zipRight(shown.start(label, total))),
          advance: (n) =>
            count(n).pipe(
              Effect.zipRight(
                SubscriptionRef.update(status, (s) =>
                  parts(s, (all) =>
                    all.map((p) =>
                      p.name === name ? { ...p, done: p.done + n, total: Math.max(p.total, p.done + n) } : p,
                    ),
                  ),
                ),
              ),
              Effect.zipRight(shown.advance(n)),
            ),
          hold: (reason, n) => hold(reason, n).pipe(Effect.zipRight(shown.hold?.(reason, n) ?? Effect.void)),
          // Only the parts in progress are kept: a run of 100,000 databases shows the few at work.
          stop: SubscriptionRef.update(status, (s) =>
            parts(s, (all) => all.filter((p) => p.name !== name)),
          ).pipe(Effect.zipRight(shown.stop)),
        }),
      )
    },
  }
}
