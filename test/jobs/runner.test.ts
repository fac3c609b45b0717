/** The job runner over fake jobs, with TestClock driving time: no server. */
import { describe, expect, test } from "bun:test"
import {
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Option,
  Ref,
  Schema,
  TestClock,
  TestContext,
} from "effect"
import { CouchUnauthorized, CouchUnavailable } from "../../src/couch/errors.ts"
import { type AppError, stopsSchedule } from "../../src/errors.ts"
import type { Job } from "../../src/jobs/job.ts"
import { JobRunner } from "../../src/jobs/runner.ts"
import { cron, every } from "../../src/jobs/schedule.ts"
import type { CheckpointStoreShape } from "../../src/purge/checkpoint.ts"
import { makeCheckpointer } from "../../src/purge/checkpointer.ts"
import { makeCounter } from "../../src/purge/counts.ts"
import { silentProgress } from "../../src/shared/progress.ts"

const Options = Schema.Struct({ target: Schema.String, seconds: Schema.Number })
type Options = typeof Options.Type

/** A job that takes `seconds` of (test) time, and records how many of its runs overlap. */
const slowJob = (live: Ref.Ref<number>, maxLive: Ref.Ref<number>, starts: Ref.Ref<ReadonlyArray<number>>) =>
  ({
    name: "slow",
    options: Options,
    target: (o) => o.target,
    problems: () => Option.none(),
    run: (o) =>
      Effect.gen(function* () {
        const now = yield* TestClock.currentTimeMillis
        yield* Ref.update(starts, (s) => [...s, now])
        const n = yield* Ref.updateAndGet(live, (x) => x + 1)
        yield* Ref.update(maxLive, (m) => Math.max(m, n))
        yield* Effect.sleep(Duration.seconds(o.seconds))
        yield* Ref.update(live, (x) => x - 1)
        return { target: o.target }
      }),
  }) satisfies Job<Options, { target: string }, typeof Options.Encoded>

/** A job that fails with `error` every time. */
const failingJob = (error: AppError, runs: Ref.Ref<number>): Job<Options, never, typeof Options.Encoded> => ({
  name: "failing",
  options: Options,
  target: (o) => o.target,
  problems: () => Option.none(),
  run: () => Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Effect.fail(error))),
})

const runner = JobRunner.layer({ history: 3, stopsSchedule }).pipe(Layer.provide(silentProgress))

const inTest = <A, E>(body: Effect.Effect<A, E, JobRunner>) =>
  Effect.runPromise(
    Effect.scoped(Layer.build(runner).pipe(Effect.flatMap((ctx) => Effect.provide(body, ctx)))).pipe(
      Logger.withMinimumLogLevel(LogLevel.None),
      Effect.provide(TestContext.TestContext),
    ),
  )

const refs = Effect.all([Ref.make(0), Ref.make(0), Ref.make<ReadonlyArray<number>>([])])

describe("job runner", () => {
  test("a second start of a running job and target returns the running one; another target runs beside it", async () => {
    const result = await inTest(
      Effect.gen(function* () {
        const r = yield* JobRunner
        const [live, maxLive, starts] = yield* refs
        const job = slowJob(live, maxLive, starts)
        const first = yield* r.start(job, { target: "a", seconds: 10 })
        const again = yield* r.start(job, { target: "a", seconds: 10 })
        const other = yield* r.start(job, { target: "b", seconds: 10 })
        yield* TestClock.adjust(Duration.seconds(11))
        yield* r.await(first.id)
        yield* r.await(other.id)
        const after = yield* r.start(job, { target: "a", seconds: 1 })
        // (Runs end before the runner closes: it waits for them, and this test clock only moves here.)
        yield* TestClock.adjust(Duration.seconds(2))
        yield* r.await(after.id)
        return { first, again, other, after, maxLive: yield* Ref.get(maxLive) }
      }),
    )
    expect(result.again).toEqual({ id: result.first.id, existing: true })
    expect(result.other.existing).toBe(false)
    expect(result.other.id).not.toBe(result.first.id)
    expect(result.maxLive).toBe(2)
    expect(result.after.existing).toBe(false)
  })

  test("an every-schedule runs at once, then an interval after each run ends, never overlapping a slow run", async () => {
    const result = await inTest(
      Effect.gen(function* () {
        const r = yield* JobRunner
        const [live, maxLive, starts] = yield* refs
        const id = yield* r.schedule(
          slowJob(live, maxLive, starts),
          { target: "t", seconds: 25 },
          every(Duration.seconds(10)),
        )
        yield* TestClock.adjust(Duration.seconds(1))
        const during = (yield* r.schedules).find((s) => s.id === id)
        yield* TestClock.adjust(Duration.seconds(30))
        const waiting = (yield* r.schedules).find((s) => s.id === id)
        for (let i = 0; i < 10; i++) yield* TestClock.adjust(Duration.seconds(10))
        return { starts: yield* Ref.get(starts), maxLive: yield* Ref.get(maxLive), during, waiting }
      }),
    )
    // 0, then 25 + 10 = 35, then 70, 105: each run starts 10 s after the previous one ended.
    expect(result.starts.slice(0, 4)).toEqual([0, 35_000, 70_000, 105_000])
    expect(result.maxLive).toBe(1)
    expect(result.during?.state).toBe("running")
    expect(result.waiting?.state).toBe("waiting")
    expect(result.waiting?.nextRunAt).toBe(new Date(35_000).toISOString())
    expect(result.waiting?.runs).toBe(1)
  })

  test("a cron schedule waits for its times", async () => {
    const starts = await inTest(
      Effect.gen(function* () {
        const r = yield* JobRunner
        const [live, maxLive, starts] = yield* refs
        const spec = cron("*/5 * * * *")
        if (spec._tag === "Left") return yield* Effect.die(spec.left)
        yield* r.schedule(slowJob(live, maxLive, starts), { target: "t", seconds: 1 }, spec.right)
        for (let i = 0; i < 12; i++) yield* TestClock.adjust(Duration.minutes(1))
        return yield* Ref.get(starts)
      }),
    )
    // The test clock starts at 1970-01-01T00:00Z: the first time is 00:05, then 00:10.
    expect(starts).toEqual([300_000, 600_000])
  })

  test("an error no later run can fix (a refused login) stops the schedule; a passing one does not", async () => {
    const result = await inTest(
      Effect.gen(function* () {
        const r = yield* JobRunner
        const denied = yield* Ref.make(0)
        const flaky = yield* Ref.make(0)
        const refused = new CouchUnauthorized({
          server: "s",
          operation: "GET /",
          reason: "Name or password is incorrect.",
        })
        const down = new CouchUnavailable({
          server: "s",
          operation: "GET /",
          kind: "network",
          reason: "connection refused",
        })
        const a = yield* r.schedule(
          failingJob(refused, denied),
          { target: "a", seconds: 0 },
          every(Duration.seconds(10)),
        )
        const b = yield* r.schedule(
          { ...failingJob(down, flaky), name: "flaky" },
          { target: "b", seconds: 0 },
          every(Duration.seconds(10)),
        )
        for (let i = 0; i < 5; i++) yield* TestClock.adjust(Duration.seconds(10))
        const ended = yield* Effect.either(r.awaitSchedule(a))
        const stopped = Option.fromNullable((yield* r.schedules).find((s) => s.id === a))
        const going = (yield* r.schedules).find((s) => s.id === b)
        return { denied: yield* Ref.get(denied), flaky: yield* Ref.get(flaky), ended, stopped, going }
      }),
    )
    expect(result.denied).toBe(1)
    // The schedule ends with the error itself, so a daemon exits with its code (3 for a login).
    expect(result.ended._tag === "Left" && result.ended.left._tag).toBe("CouchUnauthorized")
    expect(Option.getOrUndefined(result.stopped)?.state).toBe("stopped")
    expect(Option.getOrUndefined(result.stopped)?.error).toContain("rejected the credentials")
    expect(result.flaky).toBeGreaterThanOrEqual(5)
    expect(result.going?.state).not.toBe("stopped")
  })

  test("status and a bounded history reflect each run, newest first", async () => {
    const result = await inTest(
      Effect.gen(function* () {
        const r = yield* JobRunner
        const [live, maxLive, starts] = yield* refs
        const job = slowJob(live, maxLive, starts)
        const ids: Array<string> = []
        for (const target of ["a", "b", "c", "d"]) {
          const h = yield* r.start(job, { target, seconds: 1 })
          ids.push(h.id)
          yield* TestClock.adjust(Duration.seconds(2))
          yield* r.await(h.id)
        }
        const running = yield* r.start(job, { target: "e", seconds: 100 })
        yield* TestClock.adjust(Duration.seconds(1))
        const list = yield* r.list
        const oldest = yield* r.get(ids[0]!)
        yield* TestClock.adjust(Duration.seconds(100))
        yield* r.await(running.id)
        return { ids, running, list, oldest }
      }),
    )
    expect(result.list[0]?.id).toBe(result.running.id)
    expect(result.list[0]?.state).toBe("running")
    // History keeps 3 finished runs: d, c, b (a fell out).
    expect(result.list.slice(1).map((s) => s.target)).toEqual(["d", "c", "b"])
    expect(result.list.slice(1).every((s) => s.state === "succeeded" && s.finishedAt !== undefined)).toBe(
      true,
    )
    expect(result.list[1]?.summary).toEqual({ target: "d" })
    expect(Option.isNone(result.oldest)).toBe(true)
  })

  test("stopping a run mid-way: work in flight finishes, the checkpoint stays at the low-water mark", async () => {
    const result = await inTest(
      Effect.gen(function* () {
        const r = yield* JobRunner
        const saved = yield* Ref.make<ReadonlyArray<string>>([])
        const store: CheckpointStoreShape = {
          describe: () => "memory",
          check: () => Effect.void,
          load: () => Effect.succeedNone,
          save: (_db, seq) => Ref.update(saved, (s) => [...s, seq]),
        }
        // Units of 1 s each, 3 at a time, unit 1 slow (5 s): a stop at 2.5 s finds units 0, 2 done,
        // 1 in flight (it finishes), and takes no new unit.
        const job: Job<Options, { checkpoint: string | undefined; done: number }, typeof Options.Encoded> = {
          name: "units",
          options: Options,
          target: (o) => o.target,
          problems: () => Option.none(),
          run: (_o, context) =>
            Effect.gen(function* () {
              const counter = yield* makeCounter({
                retries: 0,
                base: Duration.millis(1),
                factor: 2,
                cap: Duration.millis(1),
              })
              const checkpointer = yield* makeCheckpointer(store, counter, {
                db: "db",
                dryRun: false,
                everyMs: 0,
                stored: Option.none(),
              })
              const done = yield* Ref.make(0)
              yield* Effect.forEach(
                Array.from({ length: 20 }, (_, n) => n),
                (n) =>
                  Effect.gen(function* () {
                    if (yield* context.stopping) return
                    yield* Effect.sleep(Duration.seconds(n === 1 ? 5 : 1))
                    yield* checkpointer.complete({ n, seq: `s${n}` })
                    yield* Ref.update(done, (d) => d + 1)
                  }),
                { concurrency: 3, discard: true },
              )
              yield* checkpointer.finish
              return { checkpoint: (yield* checkpointer.end).checkpoint, done: yield* Ref.get(done) }
            }),
        }
        const h = yield* r.start(job, { target: "db", seconds: 0 })
        yield* TestClock.adjust(Duration.millis(2500))
        const stopper = yield* Effect.fork(r.stop(h.id))
        yield* TestClock.adjust(Duration.seconds(10))
        yield* Fiber.join(stopper)
        const exit = yield* r.await(h.id)
        const status = yield* r.get(h.id)
        return { exit, status, saved: yield* Ref.get(saved) }
      }),
    )
    const exit = Option.getOrUndefined(result.exit)
    expect(exit !== undefined && Exit.isSuccess(exit)).toBe(true)
    const summary =
      exit !== undefined && Exit.isSuccess(exit)
        ? (exit.value as { checkpoint: string; done: number })
        : undefined
    // Units 0 and 1 are done (1 finished in flight); units started after the stop never ran, and the
    // checkpoint never passed a unit that was not done.
    expect(summary?.checkpoint).toBeDefined()
    const upTo = Number(summary?.checkpoint?.slice(1))
    expect(summary?.done).toBeGreaterThanOrEqual(upTo + 1)
    expect(result.saved.every((s) => Number(s.slice(1)) <= upTo)).toBe(true)
    expect(upTo).toBeGreaterThanOrEqual(1)
    expect(summary?.done).toBeLessThan(20)
    expect(Option.getOrUndefined(result.status)?.state).toBe("interrupted")
  })
})
