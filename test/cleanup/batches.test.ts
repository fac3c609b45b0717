/** The cleanup's batch loop over fakes (no server): the lock guard, stopping, failed batches. */
import { describe, expect, test } from "bun:test"
import {
  Cause,
  Duration,
  Effect,
  Exit,
  Logger,
  LogLevel,
  Option,
  Ref,
  Stream,
  TestClock,
  TestContext,
} from "effect"
import { makeBatches } from "../../src/cleanup/batches.ts"
import { makeLockGuard } from "../../src/cleanup/lock-guard.ts"
import type { BatchSpec } from "../../src/cleanup/statements.ts"
import type { AdvisoryLock } from "../../src/pg/advisory-lock.ts"
import { PgConnectError, PgQueryError } from "../../src/pg/errors.ts"

const quick = { retries: 1, base: Duration.millis(1), factor: 2, cap: Duration.millis(2) }
const specs: ReadonlyArray<BatchSpec> = Array.from({ length: 10 }, (_, i) => ({
  kind: "range",
  from: i * 10,
  to: i * 10 + 10,
  limit: 100,
}))

/** A lock whose session is cut after `alive` checks. */
const fakeLock = (alive: number, checks: Ref.Ref<number>): AdvisoryLock => ({
  name: "test",
  check: Ref.updateAndGet(checks, (n) => n + 1).pipe(
    Effect.flatMap((n) =>
      n > alive
        ? Effect.fail(new PgConnectError({ target: "fake", reason: "terminating connection" }))
        : Effect.void,
    ),
  ),
})

const quiet = <A, E>(effect: Effect.Effect<A, E>) =>
  effect.pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.provide(TestContext.TestContext))

describe("cleanup batch loop", () => {
  test("stops before the next batch once the lock is lost: no batch runs without it", async () => {
    const result = await Effect.runPromise(
      quiet(
        Effect.gen(function* () {
          const checks = yield* Ref.make(0)
          const ran = yield* Ref.make<ReadonlyArray<number>>([])
          // Every check really goes to the lock (0 ms apart in the test clock, so none is skipped).
          const guard = yield* makeLockGuard(
            fakeLock(3, checks),
            { server: "fake", table: '"public"."pending"' },
            0,
          )
          const batches = yield* makeBatches(
            (n) => Ref.update(ran, (all) => [...all, n]).pipe(Effect.as(5)),
            guard,
            quick,
            Effect.succeed(false),
          )
          const exit = yield* Stream.fromIterable(specs).pipe(
            Stream.mapEffect(batches.step),
            Stream.runDrain,
            Effect.exit,
          )
          return {
            exit,
            ran: yield* Ref.get(ran),
            counts: yield* batches.counts,
            failed: yield* batches.anyFailed,
          }
        }),
      ),
    )
    expect(Exit.isFailure(result.exit)).toBe(true)
    const error = Exit.isFailure(result.exit)
      ? Option.getOrUndefined(Cause.failureOption(result.exit.cause))
      : undefined
    expect(error?._tag).toBe("PgConnectError")
    expect(error?.message).toContain("lost the session holding the advisory lock")
    expect(result.ran).toEqual([1, 2, 3])
    expect(result.counts.deleted).toBe(15)
    expect(result.failed).toBe(true)
  })

  test("the lock is checked at most once per interval", async () => {
    const checks = await Effect.runPromise(
      quiet(
        Effect.gen(function* () {
          const count = yield* Ref.make(0)
          const guard = yield* makeLockGuard(fakeLock(1000, count), { server: "fake", table: "t" }, 500)
          yield* guard
          yield* guard
          yield* TestClock.adjust(Duration.millis(499))
          yield* guard
          yield* TestClock.adjust(Duration.millis(1))
          yield* guard
          return yield* Ref.get(count)
        }),
      ),
    )
    expect(checks).toBe(2)
  })

  test("once stopping, no new batch starts; a failing batch is counted and skipped, the rest go on", async () => {
    const result = await Effect.runPromise(
      quiet(
        Effect.gen(function* () {
          const started = yield* Ref.make(0)
          const stop = yield* Ref.make(false)
          const statement = (n: number) =>
            Ref.update(started, (s) => s + 1).pipe(
              Effect.zipRight(
                n === 2
                  ? Effect.fail(
                      new PgQueryError({ operation: `cleanup batch ${n}`, code: "22P02", reason: "bad" }),
                    )
                  : n === 4
                    ? Ref.set(stop, true).pipe(Effect.as(1))
                    : Effect.succeed(1),
              ),
            )
          const batches = yield* makeBatches(statement, Effect.void, quick, Ref.get(stop))
          const steps = yield* Effect.forEach(specs, batches.step)
          return {
            steps,
            started: yield* Ref.get(started),
            counts: yield* batches.counts,
            interrupted: yield* batches.interrupted,
          }
        }),
      ),
    )
    expect(result.started).toBe(4)
    expect(result.steps.filter(Option.isSome)).toHaveLength(4)
    expect(result.counts).toMatchObject({ deleted: 3, batches: 4, failedBatches: 1 })
    expect(result.interrupted).toBe(true)
  })
})
