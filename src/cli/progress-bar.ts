import cliProgress from "cli-progress"
import { Effect, Layer } from "effect"
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
    let startedAt = Date.now()
    let running = false
    let done = 0
    const stop = Effect.sync(() => {
      if (running) bar.stop()
      running = false
    })
    yield* Effect.addFinalizer(() => stop)
    return Progress.of({
      start: (label, total) =>
        Effect.sync(() => {
          startedAt = Date.now()
          running = true
          done = 0
          bar.start(total, 0, { label, rate: 0 })
        }),
      advance: (n) =>
        Effect.sync(() => {
          done += n
          if (done > bar.getTotal()) bar.setTotal(done)
          const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001)
          bar.increment(n, { rate: Math.round(done / seconds) })
        }),
      stop,
    })
  }),
)
