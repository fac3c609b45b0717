import { Clock, Effect, SubscriptionRef } from "effect"
import { heldPlus, type ProgressShape, partOf } from "../shared/progress.ts"
import type { PartProgress, RunStatus } from "./status.ts"

/** How often summed advances reach the run's status and the display, in ms. */
export const publishEvery = 100

/** A run's progress reporter, and the way to publish what it has summed but not yet shown. */
export interface RunProgressShape extends ProgressShape {
  /** Publishes the advances summed since the last publish (the runner calls it as the run ends). */
  readonly flush: Effect.Effect<void>
}

/** Advances summed for one part (one database of many), not yet published. */
interface PendingPart {
  readonly name: string
  n: number
  readonly shown: ProgressShape
}

/**
 * A progress reporter that keeps the run's status and also shows it on the display. A part (one
 * database of many) counts into the run's status and shows as its own line where the display can.
 *
 * Advances come once per unit of work, hundreds a second, and each status update is a semaphore
 * and a publish to the status's subscribers (the HTTP mode's event streams): it was 48 of the 113
 * effect steps a purge took per unit. So advances are summed here and published at most every
 * `publishEvery` ms (the first at once), and always before a start, a part's stop and the stop:
 * what a run ends with is exact. The job worker sums its advances the same way (off-thread.ts).
 */
export const progressOf = (
  display: ProgressShape,
  status: SubscriptionRef.SubscriptionRef<RunStatus>,
  startedAt: number,
): RunProgressShape => {
  /** Advances of the whole not yet published, and those of them made on the whole (not a part). */
  let pending = 0
  let direct = 0
  const pendingParts = new Set<PendingPart>()
  let publishedAt = Number.NEGATIVE_INFINITY

  const parts = (
    s: RunStatus,
    change: (parts: ReadonlyArray<PartProgress>) => ReadonlyArray<PartProgress>,
  ): RunStatus => ({
    ...s,
    progress: { ...s.progress, parts: change(s.progress.parts ?? []) },
  })

  /** Takes the sums (so no other fiber publishes them again) and applies them in one update. */
  const publishAt = (now: number): Effect.Effect<void> => {
    if (pending === 0) return Effect.void
    publishedAt = now
    const n = pending
    const own = direct
    const byPart = [...pendingParts].filter((p) => p.n > 0).map((p) => [p.name, p.n, p.shown] as const)
    pending = 0
    direct = 0
    for (const p of pendingParts) p.n = 0
    const counted = SubscriptionRef.update(status, (s) => {
      const done = s.progress.done + n
      const ratePerSecond = Math.round(done / Math.max((now - startedAt) / 1000, 0.001))
      const whole: RunStatus = {
        ...s,
        progress: { ...s.progress, done, total: Math.max(s.progress.total, done), ratePerSecond },
      }
      if (byPart.length === 0) return whole
      const add = new Map<string, number>()
      for (const [name, k] of byPart) add.set(name, (add.get(name) ?? 0) + k)
      return parts(whole, (all) =>
        all.map((p) => {
          const k = add.get(p.name)
          return k === undefined ? p : { ...p, done: p.done + k, total: Math.max(p.total, p.done + k) }
        }),
      )
    })
    return Effect.all(
      [
        counted,
        own > 0 ? display.advance(own) : Effect.void,
        ...byPart.map(([, k, shown]) => shown.advance(k)),
      ],
      { discard: true },
    )
  }

  const flush = Effect.flatMap(Clock.currentTimeMillis, publishAt)

  /** Sums `n` (for `part` when given); publishes when `publishEvery` has passed since the last. */
  const count = (n: number, part?: PendingPart) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      pending += n
      if (part === undefined) direct += n
      else part.n += n
      return now - publishedAt < publishEvery ? Effect.void : publishAt(now)
    })

  const hold = (reason: string, n: number) =>
    SubscriptionRef.update(status, (s) => ({
      ...s,
      progress: {
        ...s.progress,
        held: heldPlus(s.progress.held, reason, n),
      },
    }))
  return {
    flush,
    start: (label, total) =>
      flush.pipe(
        Effect.zipRight(
          SubscriptionRef.update(status, (s) => ({
            ...s,
            progress: {
              label,
              done: 0,
              total,
              ratePerSecond: 0,
              ...(s.progress.held ? { held: s.progress.held } : {}),
            },
          })),
        ),
        Effect.zipRight(display.start(label, total)),
      ),
    advance: (n) => count(n),
    hold: (reason, n) => hold(reason, n).pipe(Effect.zipRight(display.hold?.(reason, n) ?? Effect.void)),
    stop: flush.pipe(Effect.zipRight(display.stop)),
    part: (name) =>
      Effect.map(partOf(display, name), (shown): ProgressShape => {
        const mine: PendingPart = { name, n: 0, shown }
        pendingParts.add(mine)
        return {
          start: (label, total) =>
            flush.pipe(
              Effect.zipRight(
                SubscriptionRef.update(status, (s) =>
                  parts({ ...s, progress: { ...s.progress, total: s.progress.total + total } }, (all) => [
                    ...all.filter((p) => p.name !== name),
                    { name, done: 0, total },
                  ]),
                ),
              ),
              Effect.zipRight(shown.start(label, total)),
            ),
          advance: (n) => count(n, mine),
          hold: (reason, n) => hold(reason, n).pipe(Effect.zipRight(shown.hold?.(reason, n) ?? Effect.void)),
          // Only the parts in progress are kept: a run of 100,000 databases shows the few at work.
          stop: flush.pipe(
            Effect.tap(() => pendingParts.delete(mine)),
            Effect.zipRight(
              SubscriptionRef.update(status, (s) => parts(s, (all) => all.filter((p) => p.name !== name))),
            ),
            Effect.zipRight(shown.stop),
          ),
        }
      }),
  }
}
