import cliProgress from "cli-progress"
import { Clock, Effect, Layer, Ref } from "effect"
import { Progress } from "../shared/progress.ts"

/** A live bar on stderr (done/total, rate, ETA) for a person watching a terminal. */
export const terminalProgress = Layer.scoped(
  Progress,
  Effect.gen(function* () {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: " {label} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}",
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    )
    // The bar is one object drawn on one terminal; its state lives in Refs, its time in Clock.
    const state = yield* Ref.make({ startedAt: 0, running: false, done: 0 })
    const stop = Ref.getAndUpdate(state, (s) => ({ ...s, running: false })).pipe(
      Effect.flatMap((s) => (s.running ? Effect.sync(() => bar.stop()) : Effect.void)),
    )
    yield* Effect.addFinalizer(() => stop)
    return Progress.of({
      start: (label, total) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) => Ref.set(state, { startedAt: now, running: true, done: 0 })),
          Effect.zipRight(Effect.sync(() => bar.start(total, 0, { label, rate: 0 }))),
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
      stop,
    })
  }),
)
