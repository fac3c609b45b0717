import { Context, Effect, Layer } from "effect"

/**
 * How a job shows how far it is. The CLI picks the adapter: a live bar on a terminal, periodic log
 * lines otherwise; the HTTP mode and tests use their own.
 */
export interface ProgressShape {
  readonly start: (label: string, total: number) => Effect.Effect<void>
  readonly advance: (done: number) => Effect.Effect<void>
  readonly stop: Effect.Effect<void>
}

export class Progress extends Context.Tag("dbsweep/Progress")<Progress, ProgressShape>() {}

export const silentProgress = Layer.succeed(
  Progress,
  Progress.of({ start: () => Effect.void, advance: () => Effect.void, stop: Effect.void }),
)

const rateAndEta = (done: number, total: number, startedAt: number, now: number) => {
  const seconds = Math.max((now - startedAt) / 1000, 0.001)
  const rate = done / seconds
  const eta = rate > 0 && total > done ? Math.round((total - done) / rate) : 0
  return { rate: Math.round(rate), eta }
}

/** One log line every `every` ms: for logs collected by a machine (not a terminal). */
export const logProgress = (every: number) =>
  Layer.sync(Progress, () => {
    let label = ""
    let total = 0
    let done = 0
    let startedAt = Date.now()
    let lastLog = 0
    const line = (final: boolean) => {
      const now = Date.now()
      const { rate, eta } = rateAndEta(done, total, startedAt, now)
      lastLog = now
      return Effect.logInfo(final ? `${label} finished` : `${label} progress`).pipe(
        Effect.annotateLogs({ done, total, rate_per_s: rate, eta_s: eta }),
      )
    }
    return Progress.of({
      start: (l, t) =>
        Effect.sync(() => {
          label = l
          total = t
          done = 0
          startedAt = Date.now()
          lastLog = startedAt
        }),
      advance: (n) =>
        Effect.suspend(() => {
          done += n
          if (done > total) total = done
          return Date.now() - lastLog >= every ? line(false) : Effect.void
        }),
      stop: Effect.void,
    })
  })
