/** The purge's steps over a fake CouchDB client (Layer.succeed): no server, only the logic. */
import { describe, expect, test } from "bun:test"
import { Duration, Effect, Layer, Logger, LogLevel, Option, Ref } from "effect"
import { CouchClient, type CouchClientShape } from "../../src/couch/client.ts"
import { CouchBadRequest } from "../../src/couch/errors.ts"
import type { CheckpointStoreShape } from "../../src/purge/checkpoint.ts"
import { makeCheckpointer } from "../../src/purge/checkpointer.ts"
import { makeCounter } from "../../src/purge/counts.ts"
import { makeSender } from "../../src/purge/sender.ts"
import { ConfigError } from "../../src/shared/errors.ts"

const quickRetry = { retries: 2, base: Duration.millis(1), factor: 2, cap: Duration.millis(5) }

const unused = Effect.die("not used by this test")

/** A fake CouchDB whose `_purge` takes at most `maxIds` ids and knows only the leaves in `leaves`. */
const fakeCouch = (maxIds: number, leaves: ReadonlySet<string>, bodies: Array<number>) =>
  Layer.succeed(
    CouchClient,
    CouchClient.of({
      server: "http://fake",
      request: () => unused,
      serverInfo: unused,
      dbInfo: () => unused,
      allDbs: unused,
      changes: () => unused,
      getLocal: () => unused,
      putLocal: () => unused,
      purge: (_db, revs) =>
        Effect.suspend(() => {
          const ids = Object.keys(revs)
          bodies.push(ids.length)
          if (ids.length > maxIds) {
            return Effect.fail(
              new CouchBadRequest({
                server: "http://fake",
                operation: "POST /db/_purge",
                reason: "Exceeded maximum number of documents.",
              }),
            )
          }
          const purged = Object.fromEntries(
            Object.entries(revs).map(([id, rs]) => [id, rs.filter((r) => leaves.has(`${id} ${r}`))]),
          )
          return Effect.succeed({ status: 201, answer: { purge_seq: null, purged } })
        }),
    }),
  )

const withCouch = <A, E>(
  layer: Layer.Layer<CouchClient>,
  body: (couch: CouchClientShape) => Effect.Effect<A, E>,
) => Effect.runPromise(CouchClient.pipe(Effect.flatMap(body), Effect.provide(layer)))

describe("purge sender", () => {
  test("shrinks the batch when the server refuses its size, and purges everything in pieces", async () => {
    const tombstones = Array.from({ length: 10 }, (_, i) => ({ id: `d${i}`, revs: [`2-${i}`] }))
    const leaves = new Set(tombstones.map((t) => `${t.id} ${t.revs[0]}`))
    const bodies: Array<number> = []
    const result = await withCouch(fakeCouch(3, leaves, bodies), (couch) =>
      Effect.gen(function* () {
        const counter = yield* makeCounter(quickRetry)
        const sender = yield* makeSender(
          couch,
          counter,
          { maxIds: 10, maxRevs: 1000 },
          { db: "db", list: false },
        )
        const ok = yield* sender.sendAll(tombstones)
        return { ok, counts: yield* counter.get, limits: yield* sender.limits }
      }),
    )
    expect(result.ok).toBe(true)
    expect(result.counts.purgedRevs).toBe(10)
    expect(result.counts.failedDocs).toBe(0)
    // 10 refused, then halves of 5 refused, then pieces of at most 2 (the limit halved twice).
    expect(bodies[0]).toBe(10)
    expect(Math.max(...bodies.slice(1).filter((n) => n <= 3))).toBeLessThanOrEqual(3)
    expect(result.limits.maxIds).toBeLessThanOrEqual(3)
  })

  test("revs the server no longer has as leaves count as already gone, not as failures", async () => {
    const tombstones = [
      { id: "a", revs: ["3-x", "3-y"] },
      { id: "b", revs: ["2-z"] },
    ]
    const leaves = new Set(["a 3-x"])
    const result = await withCouch(fakeCouch(100, leaves, []), (couch) =>
      Effect.gen(function* () {
        const counter = yield* makeCounter(quickRetry)
        const sender = yield* makeSender(
          couch,
          counter,
          { maxIds: 100, maxRevs: 1000 },
          { db: "db", list: false },
        )
        const ok = yield* sender.sendAll(tombstones)
        return { ok, counts: yield* counter.get }
      }),
    )
    expect(result.ok).toBe(true)
    expect(result.counts.purgedRevs).toBe(1)
    expect(result.counts.alreadyGone).toBe(2)
    expect(result.counts.failedDocs).toBe(0)
  })
})

describe("purge checkpointer", () => {
  const memoryStore = (saved: Ref.Ref<ReadonlyArray<string>>): CheckpointStoreShape => ({
    describe: () => "memory",
    check: () => Effect.void,
    load: () => Effect.succeedNone,
    save: (_db, seq) => Ref.update(saved, (all) => [...all, seq]),
  })

  test("never moves past a unit that is not done, whatever order units finish in", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const saved = yield* Ref.make<ReadonlyArray<string>>([])
        const counter = yield* makeCounter(quickRetry)
        const checkpointer = yield* makeCheckpointer(memoryStore(saved), counter, {
          db: "db",
          dryRun: false,
          everyMs: 0,
          stored: Option.none(),
        })
        // Units 0..4 end at seqs s0..s4; unit 2 never finishes (it failed).
        yield* checkpointer.complete({ n: 1, seq: "s1" })
        const afterOutOfOrder = (yield* checkpointer.end).checkpoint
        yield* checkpointer.complete({ n: 0, seq: "s0" })
        yield* checkpointer.complete({ n: 4, seq: "s4" })
        yield* checkpointer.complete({ n: 3, seq: "s3" })
        yield* checkpointer.finish
        return { afterOutOfOrder, end: yield* checkpointer.end, saved: yield* Ref.get(saved) }
      }),
    )
    expect(result.afterOutOfOrder).toBeUndefined()
    expect(result.end.checkpoint).toBe("s1")
    expect(result.end.error).toBeUndefined()
    expect(result.saved.every((s) => s === "s0" || s === "s1")).toBe(true)
  })

  test("a dry run never writes; a store that fails is reported in the end, not raised", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const counter = yield* makeCounter({ ...quickRetry, retries: 0 })
        // A dry run never calls save: this one would end the test with a defect.
        const untouchable: CheckpointStoreShape = {
          describe: () => "untouchable",
          check: () => Effect.void,
          load: () => Effect.succeedNone,
          save: () => Effect.die("a dry run saved the checkpoint"),
        }
        const dry = yield* makeCheckpointer(untouchable, counter, {
          db: "db",
          dryRun: true,
          everyMs: 0,
          stored: Option.some("s-old"),
        })
        yield* dry.complete({ n: 0, seq: "s0" })
        yield* dry.finish
        const broken: CheckpointStoreShape = {
          describe: () => "broken",
          check: () => Effect.void,
          load: () => Effect.succeedNone,
          save: () => Effect.fail(new ConfigError({ message: "disk full" })),
        }
        const real = yield* makeCheckpointer(broken, counter, {
          db: "db",
          dryRun: false,
          everyMs: 0,
          stored: Option.some("s-old"),
        })
        yield* real.complete({ n: 0, seq: "s0" })
        yield* real.finish
        return { dry: yield* dry.end, real: yield* real.end }
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    )
    expect(result.dry).toEqual({ checkpoint: "s-old", error: undefined })
    // The store still holds the old seq, and why the new one is not there is kept.
    expect(result.real).toEqual({ checkpoint: "s-old", error: "disk full" })
  })
})
