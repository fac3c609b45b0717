import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Chunk, Effect, Option, Stream } from "effect"
import { DocConflict } from "../../src/docs/errors.ts"
import { type MigrateOptions, runMigrate } from "../../src/docs/migrate.ts"
import type { StoreFactoryShape } from "../../src/docs/stores.ts"
import type { RunContext } from "../../src/jobs/job.ts"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { couchStore, factory, fileStore, freshCollection, run, tempDir } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

const context: RunContext = {
  stopping: Effect.succeed(false),
  progress: { start: () => Effect.void, advance: () => Effect.void, stop: Effect.void },
}
const migrate = (f: StoreFactoryShape, o: Partial<MigrateOptions> & { from: string; to: string }) =>
  run(runMigrate(f, { collections: Option.none(), dryRun: false, batch: 100, concurrency: 4, ...o }, context))

/** An app's export: `_id` and no `_rev`, ids in no particular order (as `jq -c '.[]'` gives them). */
const plainLines = (n: number) =>
  Array.from({ length: n }, (_, k) => {
    const i = (k * 7919) % n
    return JSON.stringify({ _id: `ticket-${String(i).padStart(5, "0")}`, title: `Ticket ${i}`, n: i })
  })

const writePlain = (dir: string, collection: string, n: number) =>
  writeFileSync(join(dir, `${collection}.ndjson`), `${plainLines(n).join("\n")}\n`)

describe("plain NDJSON documents (no _rev)", () => {
  for (const target of ["memory", "couchdb", "file"] as const) {
    test(`file:DIR and ndjson:FILE of plain documents migrate into ${target}; a second run writes nothing`, async () => {
      const dir = tempDir()
      const c = freshCollection("tickets")
      writePlain(dir, c, 1234)
      const f = await factory(await couchStore(t))
      const to = target === "file" ? `file:${tempDir()}` : target
      const first = await migrate(f, { from: `file:${dir}`, to, collections: Option.some([c]) })
      expect([first.read, first.written, first.skipped, first.failed]).toEqual([1234, 1234, 0, 0])
      const again = await migrate(f, { from: `file:${dir}`, to, collections: Option.some([c]) })
      expect([again.read, again.written, again.skipped, again.failed]).toEqual([1234, 0, 1234, 0])
      // The same file as a one-collection source, its collection named by the file.
      const single = await migrate(f, { from: `ndjson:${join(dir, `${c}.ndjson`)}`, to })
      expect(single.collections.map((x) => x.collection)).toEqual([c])
      expect([single.read, single.written, single.skipped]).toEqual([1234, 0, 1234])
      // The target gave each document its first revision.
      const spec = target === "file" ? { kind: "file" as const, dir: to.slice(5) } : { kind: target }
      const stored = await run(f.open(spec).pipe(Effect.flatMap((store) => store.get(c, "ticket-00042"))))
      expect(stored).toMatchObject({ _id: "ticket-00042", title: "Ticket 42", n: 42 })
      expect(stored._rev).toMatch(/^1-/)
    })
  }

  test("ndjson:FILE into a collection named by --collections", async () => {
    const dir = tempDir()
    writePlain(dir, "Export_2024", 10)
    const f = await factory(await couchStore(t))
    const file = `ndjson:${join(dir, "Export_2024.ndjson")}`
    // The file's name is no collection name: the run asks for one.
    const refused = await Effect.runPromise(
      Effect.flip(
        runMigrate(
          f,
          { from: file, to: "memory", collections: Option.none(), dryRun: false, batch: 100, concurrency: 1 },
          context,
        ),
      ),
    )
    expect(refused.message).toContain("--collections")
    const named = await migrate(f, { from: file, to: "memory", collections: Option.some(["tickets"]) })
    expect([named.read, named.written]).toEqual([10, 10])
    const refusedTarget = await Effect.runPromise(
      Effect.flip(
        runMigrate(
          f,
          { from: "memory", to: file, collections: Option.none(), dryRun: false, batch: 100, concurrency: 1 },
          context,
        ),
      ),
    )
    expect(refusedTarget.message).toContain("file:DIR")
  })

  test("the file store keeps a plain line without a revision until it is saved; saving gives 1-…", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "notes.ndjson"), '{"_id":"b","v":2}\n{"_id":"a","v":1}\n')
    const store = await fileStore(dir)
    const listed = Chunk.toArray(await run(Stream.runCollect(store.list("notes"))))
    expect(listed).toEqual([
      { _id: "a", v: 1 },
      { _id: "b", v: 2 },
    ])
    expect(await run(store.get("notes", "a"))).toEqual({ _id: "a", v: 1 })
    expect((await run(store.save("notes", "a", { v: 10 }))).rev).toMatch(/^1-/)
    // A bulk save without _rev over a document with no revision is no conflict.
    const [bulk] = await run(store.saveMany("notes", [{ _id: "b", v: 20 }]))
    expect(bulk).toMatchObject({ id: "b", ok: true })
    const lines = readFileSync(join(dir, "notes.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
    expect(lines.map((l) => [l._id, l._rev?.slice(0, 2), l.v])).toEqual([
      ["a", "1-", 10],
      ["b", "1-", 20],
    ])
  })

  test("a bad line or a repeated id fails naming the file and line, before anything is written", async () => {
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
      ['{"_id":"a"}\n{"title":"no id"}\n{"_id":"c"}\n', ["line 2", '"_id"']],
      ['{"_id":"a"}\n{"_id":"b"}\n{"_id":"a"}\n', ["line 3", "repeats", '"a"']],
      ['{"_id":"b"}\n{"_id":"a"}\n{"_id":"b"}\n', ["line 3", "repeats", '"b"']],
      ['{"_id":"a"}\nnot json\n', ["line 2", "not valid JSON"]],
      ['{"_id":"a"}\n[1,2]\n', ["line 2", "not a JSON object"]],
      ['{"_id":"a","_rev":"nope"}\n', ["line 1", '"_rev"']],
    ]
    for (const [text, names] of cases) {
      const dir = tempDir()
      const c = freshCollection("bad")
      writeFileSync(join(dir, `${c}.ndjson`), text)
      const f = await factory(await couchStore(t))
      const e = await Effect.runPromise(
        Effect.flip(
          runMigrate(
            f,
            {
              from: `file:${dir}`,
              to: "couchdb",
              collections: Option.some([c]),
              dryRun: false,
              batch: 1,
              concurrency: 1,
            },
            context,
          ),
        ),
      )
      expect(e._tag).toBe("StoreUnavailable")
      for (const name of [`${c}.ndjson`, ...names]) expect(e.message).toContain(name)
      expect(e.message).not.toContain("\n")
      // Nothing was written: the target database was never created.
      expect((await couch(t, "GET", `/${c}`)).status).toBe(404)
    }
  })

  test("plain documents written to a couchbackup file get their first revision, as a save gives it", async () => {
    const dir = tempDir()
    writePlain(dir, "tickets", 3)
    const f = await factory(await couchStore(t))
    const backup = join(dir, "backup.txt")
    const s = await migrate(f, {
      from: `file:${dir}`,
      to: `couchbackup:${backup}`,
      collections: Option.some(["tickets"]),
    })
    expect(s.written).toBe(3)
    const docs = readFileSync(backup, "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .flatMap(
        (l) =>
          JSON.parse(l) as Array<{
            _id: string
            _rev: string
            _revisions: { start: number; ids: Array<string> }
          }>,
      )
    expect(docs.map((d) => d._id).sort()).toEqual(["ticket-00000", "ticket-00001", "ticket-00002"])
    const memory = await run(f.open({ kind: "memory" }))
    for (const d of docs) {
      expect(d._rev).toMatch(/^1-[0-9a-f]{32}$/)
      expect(d._revisions).toEqual({ start: 1, ids: [d._rev.slice(2)] })
      const { _id, _rev, _revisions, ...body } = d
      expect((await run(memory.save("same-body", _id, body))).rev).toBe(_rev)
    }
  })

  test("a conflict that outlasts its retries names the attempts and the time they took", () => {
    const e = new DocConflict({
      store: "CouchDB at x",
      collection: "c",
      id: "doc",
      attempts: 51,
      seconds: 9.94,
    })
    expect(e.message).toContain("51 attempts over 9.9 s")
  })
})
