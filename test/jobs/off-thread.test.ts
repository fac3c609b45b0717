/**
 * The job worker's side of a run off the main thread (runForMain): its progress advances are
 * summed and posted at most every 100 ms, each message being work on the thread that answers
 * HTTP; nothing is lost, and every other message comes after the sums posted before it.
 */
import { describe, expect, test } from "bun:test"
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type { Job } from "../../src/jobs/job.ts"
import { type FromWorker, runForMain } from "../../src/jobs/off-thread.ts"

class CountingJob extends Context.Tag("test/CountingJob")<CountingJob, Job<number, string, number>>() {}

/** Advances 1,000 times at once, then a little after a pause, and on a part of its own. */
const job = Layer.succeed(
  CountingJob,
  CountingJob.of({
    name: "counting",
    options: Schema.Number,
    target: () => "here",
    problems: () => Option.none(),
    run: (n, context) =>
      Effect.gen(function* () {
        yield* context.progress.start("counting", n + 10)
        for (let i = 0; i < n; i++) yield* context.progress.advance(1)
        yield* Effect.sleep(Duration.millis(250))
        yield* context.progress.advance(4)
        yield* context.progress.advance(6)
        const part = yield* context.progress.part!("a part")
        yield* part.advance(3)
        yield* part.stop
        yield* context.progress.stop
        return "counted"
      }),
  }),
)

describe("a job run for the main thread", () => {
  test("advances are summed into few messages, none lost, each before the message that follows it", async () => {
    const posted: Array<FromWorker> = []
    await Effect.runPromise(
      runForMain(CountingJob, job, 1000, () => false, {
        post: (m) => posted.push(m),
        encodeError: () => Option.none(),
      }),
    )
    const seen = posted.filter((m) => m.type !== "counters")
    const advances = seen.filter((m) => m.type === "advance")
    // 1,000 advances at once are one message (a few on a very slow machine), not 1,000.
    expect(advances.length).toBeLessThanOrEqual(10)
    const sum = (part?: number) =>
      advances.filter((m) => m.part === part).reduce((n, m) => n + (m.type === "advance" ? m.done : 0), 0)
    expect(sum(undefined)).toBe(1010)
    expect(sum(1)).toBe(3)
    // In order: the sums come before the stops and the end that follow them.
    const kinds = seen.map((m) => `${m.type}${"part" in m && m.part !== undefined ? `:${m.part}` : ""}`)
    expect(kinds[0]).toBe("start")
    expect(kinds.at(-1)).toBe("done")
    expect(kinds.lastIndexOf("advance:1")).toBeLessThan(kinds.indexOf("stop:1"))
    expect(kinds.lastIndexOf("advance")).toBeLessThan(kinds.indexOf("stop"))
    expect(kinds.indexOf("part:1")).toBeLessThan(kinds.indexOf("advance:1"))
  })
})
