import cliProgress from "cli-progress"
import { Clock, Effect, Layer, Ref } from "effect"
import { heldPlus, Progress } from "../shared/progress.ts"

/** Held-back counts by reason, as the bars show them: " | held 12 (grace 10, replication 2)". */
const heldTally = () => {
  let by: Readonly<Record<string, number>> = {}
  return {
    add: (reason: string, n: number) => {
      by = heldPlus(by, reason, n)
      const total = Object.values(by).reduce((a, b) => a + b, 0)
      return ` | held ${total} (${Object.entries(by)
        .map(([r, k]) => `${r} ${k}`)
        .join(", ")})`
    },
  }
}

/** A live bar on stderr (done/total, rate, ETA) for a person watching a terminal. */
export const terminalProgress = Layer.scoped(
  Progress,
  Effect.gen(function* () {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: " {label} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}{held}",
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    )
    // The bar is one object drawn on one terminal; its state lives in Refs, its time in Clock.
    const state = yield* Ref.make({ startedAt: 0, running: false, done: 0 })
    const held = heldTally()
    const stop = Ref.getAndUpdate(state, (s) => ({ ...s, running: false })).pipe(
      Effect.flatMap((s) => (s.running ? Effect.sync(() => bar.stop()) : Effect.void)),
    )
    yield* Effect.addFinalizer(() => stop)
    return Progress.of({
      start: (label, total) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) => Ref.set(state, { startedAt: now, running: true, done: 0 })),
          Effect.zipRight(Effect.sync(() => bar.start(total, 0, { label, rate: 0, held: "" }))),
        ),
      advance: (n) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) =>
            Ref.updateAndGet(state, (s) => ({ ...s, done: s.done + n })).pipe(
              Effect.flatMap((s) =>
                Effect.sync(() => {
                  if (s.done > bar.getTotal()) bar.setTotal(s.done)
                  const seconds = Math.max((now - s.startedAt) / 1000, 0.001)
                  bar.increment(n, { rate: Math.round(s.done / seconds) })
                }),
              ),
            ),
          ),
        ),
      hold: (reason, n) => Effect.sync(() => bar.increment(0, { held: held.add(reason, n) })),
      stop,
    })
  }),
)

/**
 * Bars for a run of many databases: one for the whole (databases done, tombstones over all of
 * them) and one per database in progress, removed when it ends, so the terminal shows at most
 * `--db-concurrency` + 1 bars however many databases there are.
 */
export const terminalMultiProgress = Layer.scoped(
  Progress,
  Effect.gen(function* () {
    const bars = new cliProgress.MultiBar(
      {
        stream: process.stderr,
        format: " {label} [{bar}] {value}/{total} | {rate}/s{held}",
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    )
    const whole = yield* Ref.make<{
      bar: cliProgress.SingleBar | undefined
      startedAt: number
      done: number
    }>({
      bar: undefined,
      startedAt: 0,
      done: 0,
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => bars.stop()))
    const rateOf = (done: number, startedAt: number, now: number) =>
      Math.round(done / Math.max((now - startedAt) / 1000, 0.001))
    const advanceWhole = (n: number) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) =>
          Ref.updateAndGet(whole, (s) => ({ ...s, done: s.done + n })).pipe(
            Effect.flatMap((s) =>
              Effect.sync(() => {
                if (s.bar === undefined) return
                if (s.done > s.bar.getTotal()) s.bar.setTotal(s.done)
                s.bar.increment(n, { rate: rateOf(s.done, s.startedAt, now) })
              }),
            ),
          ),
        ),
      )
    const wholeHeld = heldTally()
    const holdWhole = (reason: string, n: number) =>
      Ref.get(whole).pipe(
        Effect.flatMap((s) => Effect.sync(() => s.bar?.increment(0, { held: wholeHeld.add(reason, n) }))),
      )
    return Progress.of({
      hold: holdWhole,
      start: (label, total) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) =>
            Ref.set(whole, {
              bar: bars.create(total, 0, { label, rate: 0, held: "" }),
              startedAt: now,
              done: 0,
            }),
          ),
        ),
      advance: advanceWhole,
      stop: Effect.void,
      part: () =>
        Effect.sync(() => {
          let bar: cliProgress.SingleBar | undefined
          let startedAt = 0
          let done = 0
          const held = heldTally()
          return {
            hold: (reason: string, n: number) =>
              Effect.sync(() => bar?.increment(0, { held: held.add(reason, n) })).pipe(
                Effect.zipRight(holdWhole(reason, n)),
              ),
            start: (label: string, total: number) =>
              Clock.currentTimeMillis.pipe(
                Effect.zipLeft(
                  Ref.get(whole).pipe(Effect.map((s) => s.bar?.setTotal(s.bar.getTotal() + total))),
                ),
                Effect.flatMap((now) =>
                  Effect.sync(() => {
                    startedAt = now
                    bar = bars.create(total, 0, { label, rate: 0, held: "" })
                  }),
                ),
              ),
            advance: (n: number) =>
              Clock.currentTimeMillis.pipe(
                Effect.flatMap((now) =>
                  Effect.sync(() => {
                    done += n
                    if (bar === undefined) return
                    if (done > bar.getTotal()) bar.setTotal(done)
                    bar.increment(n, { rate: rateOf(done, startedAt, now) })
                  }),
                ),
                Effect.zipRight(advanceWhole(n)),
              ),
            stop: Effect.sync(() => {
              if (bar !== undefined) bars.remove(bar)
              bar = undefined
            }),
          }
        }),
    })
  }),
)
