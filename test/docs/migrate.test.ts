import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, Option } from "effect"
import { defaultCouchStoreSettings } from "../../src/docs/couchdb.ts"
import { type MigrateOptions, runMigrate } from "../../src/docs/migrate.ts"
import type { StoreFactoryShape } from "../../src/docs/stores.ts"
import type { RunContext } from "../../src/jobs/job.ts"
import { type CouchTarget, startCouchTarget } from "../support/couch-target.ts"
import { couchStore, factory, fileStore, freshCollection, memoryStore, run, tempDir } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

const quiet = { start: () => Effect.void, advance: () => Effect.void, stop: Effect.void }
const context = (stopAfterBatches = Number.POSITIVE_INFINITY): RunContext => {
  let batches = 0
  return {
    stopping: Effect.sync(() => batches >= stopAfterBatches),
    progress: {
      ...quiet,
      advance: () =>
        Effect.sync(() => {
          batches += 1
        }),
    },
  }
}

const migrate = (
  f: StoreFactoryShape,
  o: Partial<MigrateOptions> & { from: string; to: string },
  ctx = context(),
) => run(runMigrate(f, { collections: Option.none(), dryRun: false, batch: 100, concurrency: 4, ...o }, ctx))

const appDoc = (i: number) => ({
  _id: `user-${String(i).padStart(6, "0")}`,
  name: `User ${i}`,
  email: `user${i}@example.com`,
  tags: ["a", "b", String(i % 7)],
  profile: { age: 20 + (i % 50), city: "Zürich", bio: "x".repeat(i % 40) },
})

const seedFile = async (dir: string, collections: Record<string, number>) => {
  const store = await fileStore(dir)
  for (const [c, n] of Object.entries(collections)) {
    for (let i = 0; i < n; i += 500) {
      const docs = Array.from({ length: Math.min(500, n - i) }, (_, k) => appDoc(i + k))
      await run(store.saveMany(c, docs))
    }
  }
}

const filesOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
  )

describe("docs migrate", () => {
  test("file → couchdb → memory → file is byte-identical; a second run writes nothing", async () => {
    const a = tempDir()
    const b = tempDir()
    const c1 = freshCollection("users")
    const c2 = freshCollection("orders")
    await seedFile(a, { [c1]: 1234, [c2]: 7 })
    const f = await factory(await couchStore(t))
    const collections = Option.some([c1, c2])
    const first = await migrate(f, { from: `file:${a}`, to: "couchdb", collections })
    expect([first.read, first.written, first.skipped, first.failed]).toEqual([1241, 1241, 0, 0])
    expect(first.collections.map((c) => [c.collection, c.written])).toEqual([
      [c1, 1234],
      [c2, 7],
    ])
    const again = await migrate(f, { from: `file:${a}`, to: "couchdb", collections })
    expect([again.read, again.written, again.skipped]).toEqual([1241, 0, 1241])
    await migrate(f, { from: "couchdb", to: "memory", collections })
    const last = await migrate(f, { from: "memory", to: `file:${b}` })
    expect(last.written).toBe(1241)
    expect(filesOf(b)).toEqual(filesOf(a))
    const dry = await migrate(f, { from: "memory", to: `file:${b}`, dryRun: true })
    expect([dry.written, dry.skipped]).toEqual([0, 1241])
  })

  test("an interrupted run stops taking batches; the next run copies only what is missing", async () => {
    const a = tempDir()
    const c = freshCollection("resume")
    await seedFile(a, { [c]: 1000 })
    const f = await factory(await couchStore(t))
    const collections = Option.some([c])
    const cut = await migrate(
      f,
      { from: `file:${a}`, to: "couchdb", collections, concurrency: 1 },
      context(3),
    )
    expect(cut.interrupted).toBe(true)
    expect(cut.written).toBeGreaterThanOrEqual(300)
    expect(cut.written).toBeLessThan(1000)
    const rest = await migrate(f, { from: `file:${a}`, to: "couchdb", collections })
    expect(rest.interrupted).toBe(false)
    expect(rest.written).toBe(1000 - cut.written)
    expect(rest.skipped).toBe(cut.written)
  })

  test("20% injected faults during a 10,000-doc migration into CouchDB: complete and exact", async () => {
    if (t.faults === undefined) return // fault injection exists on the test server only
    const a = tempDir()
    const c = freshCollection("faults")
    await seedFile(a, { [c]: 10_000 })
    const couch = await couchStore(t, {
      ...defaultCouchStoreSettings,
      retry: { retries: 10, base: Duration.millis(5), factor: 2, cap: Duration.millis(200) },
    })
    const f = await factory(couch)
    t.faults({ errorRate: 0.2 })
    const summary = await migrate(f, {
      from: `file:${a}`,
      to: "couchdb",
      collections: Option.some([c]),
      batch: 500,
    }).finally(() => t.faults?.({}))
    expect(summary.failed).toBe(0)
    expect(summary.written + summary.skipped).toBe(10_000)
    const back = await memoryStore()
    const f2: StoreFactoryShape = { open: (s) => Effect.succeed(s.kind === "memory" ? back : couch) }
    await migrate(f2, { from: "couchdb", to: "memory", collections: Option.some([c]) })
    const source = await fileStore(a)
    for (const i of [0, 1, 4999, 9999]) {
      const { _rev: _a, ...want } = await run(source.get(c, appDoc(i)._id))
      const { _rev: _b, ...got } = await run(back.get(c, appDoc(i)._id))
      expect(got).toEqual(want)
    }
    const count = await run(
      Effect.map(
        back.getMany(
          c,
          Array.from({ length: 10_000 }, (_, i) => appDoc(i)._id),
        ),
        (m) => m.size,
      ),
    )
    expect(count).toBe(10_000)
  }, 120_000)
})
