/**
 * The run's progress reporter: advances are summed and published to the status (and the display)
 * at most every `publishEvery` ms, the first at once, and every start and stop publishes what is
 * summed, so a run ends with exact counts. TestClock drives time: no server.
 */
import { describe, expect, test } from "bun:test"
import { Effect, SubscriptionRef, TestClock, TestContext } from "effect"
import { progressOf, publishEvery } from "../../src/jobs/run-progress.ts"
import { noProgress, type RunStatus } from "../../src/jobs/status.ts"
import type { ProgressShape } from "../../src/shared/progress.ts"

const initial: RunStatus = {
  id: "purge-1",
  job: "purge",
  target: "orders",
  trigger: "manual",
  state: "running",
  progress: noProgress,
  startedAt: new Date(0).toISOString(),
  finishedAt: undefined,
  summary: undefined,
  error: undefined,
}

/** A display that records what it was shown: the whole's advances and each part's. */
const recordingDisplay = () => {
  const shown: Array<string> = []
  const shape = (name: string): ProgressShape => ({
    start: (label, total) => Effect.sync(() => shown.push(`${name} start ${label} ${total}`)),
    advance: (n) => Effect.sync(() => shown.push(`${name} +${n}`)),
    stop: Effect.sync(() => shown.push(`${name} stop`)),
  })
  return { shown, display: { ...shape("whole"), part: (label: string) => Effect.succeed(shape(label)) } }
}

const run = <A>(f: (tools: ReturnType<typeof setUp>) => Effect.Effect<A>) =>
  Effect.runPromise(Effect.flatMap(Effect.sync(setUp), f).pipe(Effect.provide(TestContext.TestContext)))

const setUp = () => {
  const { shown, display } = recordingDisplay()
  const status = Effect.runSync(SubscriptionRef.make(initial))
  return { shown, status, progress: progressOf(display, status, 0) }
}

const done = (status: SubscriptionRef.SubscriptionRef<RunStatus>) =>
  Effect.map(SubscriptionRef.get(status), (s) => s.progress.done)

describe("progressOf", () => {
  test("the first advance is published at once, later ones within the interval are summed", () =>
    run(({ shown, status, progress }) =>
      Effect.gen(function* () {
        yield* progress.start("orders", 1000)
        yield* progress.advance(100)
        expect(yield* done(status)).toBe(100)
        yield* progress.advance(100)
        yield* progress.advance(100)
        // Within the interval: summed, not yet published.
        expect(yield* done(status)).toBe(100)
        yield* TestClock.adjust(publishEvery)
        yield* progress.advance(100)
        expect(yield* done(status)).toBe(400)
        const s = yield* SubscriptionRef.get(status)
        expect(s.progress.total).toBe(1000)
        // 400 done in 0.1 s of (test) time.
        expect(s.progress.ratePerSecond).toBe(4000)
        expect(shown).toEqual(["whole start orders 1000", "whole +100", "whole +300"])
      }),
    ))

  test("stop publishes what is summed: the run ends with the exact count", () =>
    run(({ shown, status, progress }) =>
      Effect.gen(function* () {
        yield* progress.start("orders", 1000)
        for (let i = 0; i < 7; i++) yield* progress.advance(3)
        expect(yield* done(status)).toBe(3)
        yield* progress.stop
        expect(yield* done(status)).toBe(21)
        expect(shown).toEqual(["whole start orders 1000", "whole +3", "whole +18", "whole stop"])
      }),
    ))

  test("flush publishes what is summed (the runner's end of a run that did not stop its progress)", () =>
    run(({ status, progress }) =>
      Effect.gen(function* () {
        yield* progress.advance(5)
        yield* progress.advance(6)
        expect(yield* done(status)).toBe(5)
        yield* progress.flush
        expect(yield* done(status)).toBe(11)
        // Nothing summed: a flush changes nothing.
        yield* progress.flush
        expect(yield* done(status)).toBe(11)
      }),
    ))

  test("a part's advances count into its own line and the whole; its stop publishes them first", () =>
    run(({ shown, status, progress }) =>
      Effect.gen(function* () {
        yield* progress.start("2 databases", 0)
        const a = yield* progress.part!("a")
        const b = yield* progress.part!("b")
        yield* a.start("a", 10)
        yield* b.start("b", 20)
        yield* a.advance(1)
        yield* b.advance(2)
        yield* a.advance(3)
        const parts = () => Effect.map(SubscriptionRef.get(status), (s) => s.progress.parts)
        expect(yield* parts()).toEqual([
          { name: "a", done: 1, total: 10 },
          { name: "b", done: 0, total: 20 },
        ])
        expect(yield* done(status)).toBe(1)
        yield* a.stop
        // a's stop published b's advance too, and took a's line away.
        expect(yield* parts()).toEqual([{ name: "b", done: 2, total: 20 }])
        expect(yield* done(status)).toBe(6)
        yield* b.advance(4)
        yield* TestClock.adjust(publishEvery)
        yield* b.advance(1)
        expect(yield* parts()).toEqual([{ name: "b", done: 7, total: 20 }])
        expect(yield* done(status)).toBe(11)
        expect((yield* SubscriptionRef.get(status)).progress.total).toBe(30)
        // Each part's display line saw its own advances, summed the same way; the whole saw none
        // directly (a display's part counts into its whole itself).
        expect(shown.filter((l) => l.includes("+"))).toEqual(["a +1", "a +3", "b +2", "b +5"])
      }),
    ))
})
