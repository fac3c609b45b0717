/**
 * `--max-rate`: the pacer's schedule as computed, and a purge over a fake CouchDB under the
 * TestClock: the time of every `_purge` request is virtual, so the rate is checked by counting
 * requests against the clock, never by measuring wall-clock time.
 */
import { describe, expect, test } from "bun:test"
import { Clock, Duration, Effect, Fiber, Logger, LogLevel, Option, Ref, TestClock, TestContext } from "effect"
import { CouchClient, type CouchClientShape } from "../../src/couch/client.ts"
import type { CheckpointStoreShape } from "../../src/purge/checkpoint.ts"
import { makePacer, slot } from "../../src/purge/pacer.ts"
import { runPurge } from "../../src/purge/purge.ts"
import type { PurgeSummary } from "../../src/purge/summary.ts"
import { tombstoneFeed } from "../support/fake-feed.ts"

const run = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.runPromise(effect.pipe(Effect.provide(TestContext.TestContext)))

const notStopping = Effect.succeed(false)

describe("pacer schedule", () => {
  test("each batch starts where the previous one's share of a second ends; time idle is not saved up", () => {
    // 10 tombstones at 20 a second take 500 ms of the schedule.
    expect(slot(Number.NEGATIVE_INFINITY, 0, 10, 20)).toEqual([0, 500])
    expect(slot(500, 0, 10, 20)).toEqual([500, 1000])
    expect(slot(500, 100, 10, 20)).toEqual([400, 1000])
    // After a pause the next batch goes at once, but no burst makes up for the pause.
    expect(slot(500, 2000, 10, 20)).toEqual([0, 2500])
    expect(slot(0, 0, 1, 3)[1]).toBeCloseTo(333.33, 1)
  })

  test("requests taken at once wait their turn: 4 batches of 10 at 20/s go at 0, 0.5, 1 and 1.5 s", async () => {
    const { waits, doneAt600 } = await run(
      Effect.gen(function* () {
        const pacer = yield* makePacer(20)
        const fibers = yield* Effect.forEach([1, 2, 3, 4], () => Effect.fork(pacer.take(10, notStopping)))
        yield* TestClock.adjust(Duration.millis(600))
        const doneAt600 = (yield* Effect.forEach(fibers, Fiber.poll)).filter(Option.isSome).length
        yield* TestClock.adjust(Duration.seconds(2))
        const waits = yield* Effect.forEach(fibers, Fiber.join)
        return { waits, doneAt600 }
      }),
    )
    expect([...waits].sort((a, b) => a - b)).toEqual([0, 500, 1000, 1500])
    expect(doneAt600).toBe(2)
  })

  test("a stop ends a long wait at once (Ctrl-C does not sit behind the pace)", async () => {
    const r = await run(
      Effect.gen(function* () {
        const stop = yield* Ref.make(false)
        const pacer = yield* makePacer(1)
        yield* pacer.take(100, notStopping)
        const waiting = yield* Effect.fork(pacer.take(1, Ref.get(stop)))
        yield* TestClock.adjust(Duration.seconds(1))
        const before = yield* Fiber.poll(waiting)
        yield* Ref.set(stop, true)
        yield* TestClock.adjust(Duration.seconds(1))
        return { before: Option.isSome(before), waited: yield* Fiber.join(waiting) }
      }),
    )
    expect(r.before).toBe(false)
    // It was due 100 s later; it came back after about a second, its computed wait still 100 s.
    expect(r.waited).toBe(100_000)
  })

  test("no rate: no wait", async () => {
    const waits = await run(
      Effect.gen(function* () {
        const pacer = yield* makePacer(undefined)
        return yield* Effect.forEach([1, 2, 3], () => pacer.take(1000, notStopping))
      }),
    )
    expect(waits).toEqual([0, 0, 0])
  })
})

const unused = Effect.die("not used by this test")

/** A database of `n` tombstones in one feed page; `_purge` notes the virtual time of each request. */
const fakeCouch = (n: number, sent: Array<{ at: number; ids: number }>): CouchClientShape =>
  CouchClient.of({
    server: "http://fake",
    request: () => unused,
    ...tombstoneFeed(n),
    allDbs: unused,
    getLocal: () => Effect.succeedNone,
    putLocal: () => Effect.succeed("1-x"),
    purge: (_db, revs) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        sent.push({ at, ids: Object.keys(revs).length })
        return { status: 201, answer: { purge_seq: null, purged: revs } }
      }),
  })

const memoryStore: CheckpointStoreShape = {
  describe: () => "memory",
  check: () => Effect.void,
  load: () => Effect.succeedNone,
  save: () => Effect.void,
}

/** A purge of `n` tombstones under the TestClock, the clock moved 100 ms at a time until it ends. */
const pacedPurge = (n: number, maxRate: number | undefined) => {
  const sent: Array<{ at: number; ids: number }> = []
  return run(
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(
        runPurge(
          fakeCouch(n, sent),
          memoryStore,
          {
            db: "paced",
            batch: "auto",
            concurrency: 4,
            retry: { retries: 0, base: Duration.millis(1), factor: 2, cap: Duration.millis(1) },
            since: Option.none(),
            dryRun: false,
            list: false,
            pageSize: 0,
            checkpointEveryMs: 0,
            ...(maxRate !== undefined ? { maxRate } : {}),
          },
          {
            stopping: notStopping,
            progress: { start: () => Effect.void, advance: () => Effect.void, stop: Effect.void },
          },
        ),
      )
      for (let step = 0; step < 10_000 && Option.isNone(yield* Fiber.poll(fiber)); step++) {
        yield* TestClock.adjust(Duration.millis(100))
      }
      const summary: PurgeSummary = yield* Fiber.join(fiber)
      return { summary, sent }
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)),
  )
}

describe("purge --max-rate (fake CouchDB, TestClock)", () => {
  test("100 tombstones at 10/s with 4 requests in flight: batches of 10, never ahead of 10 a second", async () => {
    const { summary, sent } = await pacedPurge(100, 10)
    expect(summary.purgedRevs).toBe(100)
    expect(summary.maxRate).toBe(10)
    expect(summary.batchLimit.maxIds).toBe(10)
    expect(sent.every((r) => r.ids <= 10)).toBe(true)
    // By virtual time t, at most the first batch plus 10 a second of t have been sent.
    let total = 0
    for (const r of [...sent].sort((a, b) => a.at - b.at)) {
      total += r.ids
      expect(total).toBeLessThanOrEqual(10 + (10 * r.at) / 1000)
    }
    // And the pace is the one asked, not slower: the last batch goes at 9 s.
    expect(Math.max(...sent.map((r) => r.at))).toBe(9000)
  })

  test("without --max-rate the same purge sends everything at once (the check above can fail)", async () => {
    const { summary, sent } = await pacedPurge(100, undefined)
    expect(summary.purgedRevs).toBe(100)
    expect(summary.maxRate).toBeUndefined()
    expect(sent.every((r) => r.at === 0)).toBe(true)
  })
})
