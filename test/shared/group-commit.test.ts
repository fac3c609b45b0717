import { describe, expect, test } from "bun:test"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { makeGroupCommit } from "../../src/shared/group-commit.ts"

/** A group commit whose requests are recorded, and whose first request waits until `gate` opens. */
const setup = (options: { max?: number; failMany?: boolean } = {}) =>
  Effect.gen(function* () {
    const gate = yield* Deferred.make<void>()
    const requests: Array<ReadonlyArray<string>> = []
    const commit = makeGroupCommit<string, string, string>({
      max: options.max ?? 100,
      key: (w) => w.split(":")[0]!,
      one: (w) =>
        Effect.gen(function* () {
          requests.push([w])
          if (requests.length === 1) yield* Deferred.await(gate)
          return w.endsWith("!") ? yield* Effect.fail(`refused ${w}`) : `done ${w}`
        }),
      many: (ws) =>
        Effect.sync(() => {
          requests.push(ws)
          return ws.map((w) =>
            options.failMany === true
              ? Exit.fail("the request failed")
              : w.endsWith("!")
                ? Exit.fail(`refused ${w}`)
                : Exit.succeed(`done ${w}`),
          )
        }),
    })
    return { gate, requests, commit }
  })

/** Runs `writes` at once (the first alone, held at the gate while the others queue), then opens it. */
const runAll = (writes: ReadonlyArray<string>, options: { max?: number; failMany?: boolean } = {}) =>
  Effect.gen(function* () {
    const { gate, requests, commit } = yield* setup(options)
    const fibers: Array<Fiber.RuntimeFiber<string, string>> = []
    for (const w of writes) {
      fibers.push(yield* Effect.fork(commit.write(w)))
      yield* Effect.yieldNow()
    }
    yield* Deferred.succeed(gate, undefined)
    const answers = yield* Effect.forEach(fibers, (f) => Effect.either(Fiber.join(f)))
    return { requests, answers: answers.map((a) => (a._tag === "Right" ? a.right : `failed: ${a.left}`)) }
  }).pipe(Effect.runPromise)

describe("group commit", () => {
  test("a lone write goes alone, at once", async () => {
    const r = await Effect.gen(function* () {
      const { gate, requests, commit } = yield* setup()
      yield* Deferred.succeed(gate, undefined)
      const a = yield* commit.write("a:1")
      const b = yield* commit.write("b:1")
      return { a, b, requests }
    }).pipe(Effect.runPromise)
    expect(r).toEqual({ a: "done a:1", b: "done b:1", requests: [["a:1"], ["b:1"]] })
  })

  test("writes asked for while one is on its way go next, together, each with its own answer", async () => {
    const r = await runAll(["a:1", "b:1", "c:1!", "d:1"])
    expect(r.requests).toEqual([["a:1"], ["b:1", "c:1!", "d:1"]])
    expect(r.answers).toEqual(["done a:1", "done b:1", "failed: refused c:1!", "done d:1"])
  })

  test("two writes of one key never share a request, and their order is kept", async () => {
    const r = await runAll(["a:1", "b:1", "b:2", "c:1", "b:3"])
    expect(r.requests).toEqual([["a:1"], ["b:1", "c:1"], ["b:2"], ["b:3"]])
    expect(r.answers).toEqual(["done a:1", "done b:1", "done b:2", "done c:1", "done b:3"])
  })

  test("at most `max` writes a request", async () => {
    const r = await runAll(["a:1", "b:1", "c:1", "d:1", "e:1", "f:1"], { max: 2 })
    expect(r.requests).toEqual([["a:1"], ["b:1", "c:1"], ["d:1", "e:1"], ["f:1"]])
    expect(r.answers).toEqual(["done a:1", "done b:1", "done c:1", "done d:1", "done e:1", "done f:1"])
  })

  test("a grouped request that fails is the failure of each of its writes; the next request goes", async () => {
    const r = await runAll(["a:1", "b:1", "c:1"], { failMany: true })
    expect(r.answers).toEqual(["done a:1", "failed: the request failed", "failed: the request failed"])
    const after = await runAll(["a:1", "b:1"])
    expect(after.answers).toEqual(["done a:1", "done b:1"])
  })

  test("a writer that stops waiting does not stop the others' writes", async () => {
    const r = await Effect.gen(function* () {
      const { gate, requests, commit } = yield* setup()
      const first = yield* Effect.fork(commit.write("a:1"))
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(commit.write("b:1"))
      yield* Effect.yieldNow()
      const third = yield* Effect.fork(commit.write("c:1"))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(first)
      yield* Fiber.interrupt(second)
      yield* Deferred.succeed(gate, undefined)
      return { third: yield* Fiber.join(third), requests }
    }).pipe(Effect.runPromise)
    expect(r.third).toBe("done c:1")
    // The interrupted writers' writes still went: the server may already have acted on them.
    expect(r.requests).toEqual([["a:1"], ["b:1", "c:1"]])
  })
})
