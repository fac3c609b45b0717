import { Clock, Context, Effect, Layer, Option, Ref } from "effect"

/**
 * How a job shows how far it is. The CLI picks the adapter: a live bar on a terminal, periodic log
 * lines otherwise; the HTTP mode and tests use their own.
 */
export interface ProgressShape {
  readonly start: (label: string, total: number) => Effect.Effect<void>
  readonly advance: (done: number) => Effect.Effect<void>
  readonly stop: Effect.Effect<void>
  /** `n` more items held back for `reason` (a purge's safety caps): shown beside the count done. */
  readonly hold?: (reason: string, n: number) => Effect.Effect<void>
  /**
   * A line of its own for one part of a run (one database of many), shown beside the others where
   * the display can: its start adds its total to this one's, its advances count here too. A
   * display without parts shows only the whole.
   */
  readonly part?: (label: string) => Effect.Effect<ProgressShape>
}

/** `progress`'s part for `label`; where it has none, one that counts into the whole. */
export const partOf = (progress: ProgressShape, label: string): Effect.Effect<ProgressShape> =>
  progress.part?.(label) ??
  Effect.succeed({
    start: () => Effect.void,
    advance: progress.advance,
    stop: Effect.void,
    ...(progress.hold === undefined ? {} : { hold: progress.hold }),
  })

/** Held-back counts by reason with `n` more for `reason`. */
export const heldPlus = (
  held: Readonly<Record<string, number>> | undefined,
  reason: string,
  n: number,
): Readonly<Record<string, number>> => ({ ...held, [reason]: (held?.[reason] ?? 0) + n })

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
  /** Held back, by reason (a purge's safety caps). */
  readonly held: Readonly<Record<string, number>>
  readonly startedAt: number
  readonly lastLog: number
}

/** A progress line's state, logged as `<label> progress` at most every `every` ms. */
const logLine = (
  every: number,
  onAdvance: (n: number) => Effect.Effect<void>,
  onHold: (reason: string, n: number) => Effect.Effect<void> = () => Effect.void,
) =>
  Effect.gen(function* () {
    const state = yield* Ref.make<LogState>({
      label: "",
      total: 0,
      done: 0,
      held: {},
      startedAt: 0,
      lastLog: 0,
    })
    const line = (s: LogState, now: number) => {
      const { rate, eta } = rateAndEta(s.done, s.total, s.startedAt, now)
      const held = Object.fromEntries(
        Object.entries(s.held).map(([r, n]) => [`held_${r.replace(/-/g, "_")}`, n]),
      )
      return Effect.logInfo(`${s.label} progress`).pipe(
        Effect.annotateLogs({ done: s.done, total: s.total, rate_per_s: rate, eta_s: eta, ...held }),
      )
    }
    return {
      hold: (reason: string, n: number) =>
        Ref.update(state, (s) => ({ ...s, held: heldPlus(s.held, reason, n) })).pipe(
          Effect.zipRight(onHold(reason, n)),
        ),
      grow: (total: number) => Ref.update(state, (s) => ({ ...s, total: s.total + total })),
      start: (label: string, total: number) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) =>
            Ref.set(state, { label, total, done: 0, held: {}, startedAt: now, lastLog: now }),
          ),
        ),
      advance: (n: number) =>
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
          Effect.zipRight(onAdvance(n)),
        ),
    }
  })

/**
 * One log line every `every` ms: for logs collected by a machine (not a terminal). Each part (one
 * database of many) logs its own line too.
 */
export const logProgress = (every: number) =>
  Layer.effect(
    Progress,
    Effect.gen(function* () {
      const whole = yield* logLine(every, () => Effect.void)
      return Progress.of({
        start: whole.start,
        advance: whole.advance,
        hold: whole.hold,
        stop: Effect.void,
        part: () =>
          Effect.map(
            logLine(every, whole.advance, whole.hold),
            (line): ProgressShape => ({
              start: (label, total) => whole.grow(total).pipe(Effect.zipRight(line.start(label, total))),
              advance: line.advance,
              hold: line.hold,
              stop: Effect.void,
            }),
          ),
      })
    }),
  )
