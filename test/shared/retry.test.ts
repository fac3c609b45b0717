import { describe, expect, test } from "bun:test"
import { Chunk, Duration, Effect, Exit, Fiber, Ref, Schedule, TestClock, TestContext } from "effect"
import { type RetryPolicy, retrySchedule, withRetry } from "../../src/shared/retry.ts"

class Flaky {
  readonly _tag = "Flaky"
}
class Fatal {
  readonly _tag = "Fatal"
}
const retryable = (e: Flaky | Fatal) => e._tag === "Flaky"
const policy: RetryPolicy = { retries: 4, base: Duration.seconds(1), factor: 2, cap: Duration.seconds(30) }

/** Runs `failures` failing attempts (then success) under the policy, moving the test clock along. */
const attempt = (fail: (n: number) => Flaky | Fatal | undefined) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make(0)
    const retried = yield* Ref.make(0)
    const effect = Ref.updateAndGet(calls, (n) => n + 1).pipe(
      Effect.flatMap((n) => {
        const e = fail(n)
        return e === undefined ? Effect.succeed(n) : Effect.fail(e)
      }),
      withRetry(policy, retryable, () => Ref.update(retried, (n) => n + 1)),
    )
    const fiber = yield* Effect.fork(Effect.exit(effect))
    yield* TestClock.adjust(Duration.minutes(10))
    const exit = yield* Fiber.join(fiber)
    return { exit, calls: yield* Ref.get(calls), retried: yield* Ref.get(retried) }
  }).pipe(Effect.provide(TestContext.TestContext), Effect.runPromise)

describe("retry policy", () => {
  test("retries a retryable error until it succeeds", async () => {
    const r = await attempt((n) => (n < 3 ? new Flaky() : undefined))
    expect(Exit.isSuccess(r.exit)).toBe(true)
    expect(r.calls).toBe(3)
    expect(r.retried).toBe(2)
  })

  test("gives up after the configured number of retries", async () => {
    const r = await attempt(() => new Flaky())
    expect(Exit.isFailure(r.exit)).toBe(true)
    expect(r.calls).toBe(1 + policy.retries)
    // The last failure, after which it gives up, is not announced as a retry.
    expect(r.retried).toBe(policy.retries)
  })

  test("never retries an error judged not retryable", async () => {
    const r = await attempt((n) => (n === 1 ? new Fatal() : undefined))
    expect(Exit.isFailure(r.exit)).toBe(true)
    expect(r.calls).toBe(1)
    expect(r.retried).toBe(0)
  })

  test("waits exponentially: no second attempt before the base delay", async () => {
    const calls = await Effect.gen(function* () {
      const count = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Ref.update(count, (n) => n + 1).pipe(
          Effect.zipRight(Effect.fail(new Flaky())),
          withRetry(policy, retryable),
          Effect.exit,
        ),
      )
      // Jitter keeps each delay within 0.8x..1.2x of base * 2^k: 0.5 s is too early for a retry.
      yield* TestClock.adjust(Duration.millis(500))
      const early = yield* Ref.get(count)
      yield* TestClock.adjust(Duration.millis(1000))
      const afterFirst = yield* Ref.get(count)
      yield* Fiber.interrupt(fiber)
      return [early, afterFirst]
    }).pipe(Effect.provide(TestContext.TestContext), Effect.runPromise)
    expect(calls).toEqual([1, 2])
  })

  /** The delays (ms) the policy's schedule gives for `n` failures in a row. */
  const delays = (p: RetryPolicy, n: number) =>
    Effect.runPromise(
      Schedule.run(
        Schedule.delays(retrySchedule(p)),
        0,
        Array.from({ length: n }, (_, i) => i),
      ),
    ).then((d) => Chunk.toArray(d).map(Duration.toMillis))

  test("every delay is jittered, then capped: not exactly base * factor^n", async () => {
    const p: RetryPolicy = { retries: 6, base: Duration.millis(100), factor: 2, cap: Duration.millis(1000) }
    const runs = await Promise.all(Array.from({ length: 20 }, () => delays(p, 6)))
    for (const run of runs) {
      run.forEach((d, k) => {
        const plain = Math.min(100 * 2 ** k, 1000)
        expect(d).toBeGreaterThanOrEqual(Math.min(plain * 0.8, 1000) - 1e-6)
        expect(d).toBeLessThanOrEqual(Math.min(plain * 1.2, 1000) + 1e-6)
      })
    }
    // Under the cap, a delay of exactly base * factor^k every time means no jitter was applied.
    const uncapped = runs.flatMap((run) => run.slice(0, 3).map((d, k) => d - 100 * 2 ** k))
    expect(uncapped.some((offset) => Math.abs(offset) > 1e-6)).toBe(true)
  })

  test("full jitter gives a random share of each delay", async () => {
    const p: RetryPolicy = {
      retries: 4,
      base: Duration.millis(100),
      factor: 2,
      cap: Duration.seconds(10),
      jitter: [0, 1],
    }
    const all = (await Promise.all(Array.from({ length: 20 }, () => delays(p, 4)))).flat()
    expect(all.every((d) => d >= 0 && d <= 800)).toBe(true)
    // Some land below 0.8 of their plain delay, which the default jitter never gives.
    expect(all.some((d, i) => d < 0.8 * 100 * 2 ** (i % 4))).toBe(true)
  })

  test("no retry starts after the time bound", async () => {
    const calls = await Effect.gen(function* () {
      const count = yield* Ref.make(0)
      const p: RetryPolicy = { ...policy, retries: 100, within: Duration.seconds(5) }
      const fiber = yield* Effect.fork(
        Ref.update(count, (n) => n + 1).pipe(
          Effect.zipRight(Effect.fail(new Flaky())),
          withRetry(p, retryable),
          Effect.exit,
        ),
      )
      yield* TestClock.adjust(Duration.minutes(10))
      const exit = yield* Fiber.join(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      return yield* Ref.get(count)
    }).pipe(Effect.provide(TestContext.TestContext), Effect.runPromise)
    // Delays of about 1, 2, 4 s: the fourth would start after 5 s.
    expect(calls).toBeGreaterThanOrEqual(3)
    expect(calls).toBeLessThanOrEqual(4)
  })
})
