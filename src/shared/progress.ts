import { Clock, Context, Effect, Layer, Option, Ref } from "effect"

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

interface LogState {
  readonly label: string
  readonly total: number
  readonly done: number
  readonly startedAt: number
  readonly lastLog: number
}

/** One log line every `every` ms: for logs collected by a machine (not a terminal). */
export const logProgress = (every: number) =>
  Layer.effect(
    Progress,
    Effect.gen(function* () {
      const state = yield* Ref.make<LogState>({ label: "", total: 0, done: 0, startedAt: 0, lastLog: 0 })
      const line = (s: LogState, now: number) => {
        const { rate, eta } = rateAndEta(s.done, s.total, s.startedAt, now)
        return Effect.logInfo(`${s.label} progress`).pipe(
          Effect.annotateLogs({ done: s.done, total: s.total, rate_per_s: rate, eta_s: eta }),
        )
      }
      return Progress.of({
        start: (label, total) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) => Ref.set(state, { label, total, done: 0, startedAt: now, lastLog: now })),
          ),
        advance: (n) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) =>
              Ref.modify(state, (s) => {
                const done = s.done + n
                const due = now - s.lastLog >= every
                const next = { ...s, done, total: Math.max(s.total, done), lastLog: due ? now : s.lastLog }
                return [due ? Option.some(next) : Option.none<LogState>(), next] as const
              }),
            ),
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.void,
                onSome: (s) => line(s, s.lastLog),
              }),
            ),
          ),
        stop: Effect.void,
      })
    }),
  )
