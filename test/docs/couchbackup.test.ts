// The couchbackup format against the real @cloudant/couchbackup 2.11.12 (its CLI, run on the
// test target), in both directions.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Option } from "effect"
import { runMigrate } from "../../src/docs/migrate.ts"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { couchStore, factory, freshCollection, run, tempDir } from "./stores.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

const bin = (name: string) => join(import.meta.dir, "..", "..", "node_modules", ".bin", name)
const authUrl = () => {
  const u = new URL(t.url)
  u.username = t.user
  u.password = t.password
  return u.toString().replace(/\/$/, "")
}
// couchbackup and couchrestore make a temp dir at start (for a default log) and leave it: theirs is
// one of ours, removed after the run.
const toolTmp = tempDir("dbsweep-couchbackup-")
// Async: the test server runs in this process, a sync spawn would block it.
const tool = async (args: ReadonlyArray<string>, stdin?: string) => {
  const proc = Bun.spawn([...args], {
    env: { ...process.env, TMPDIR: toolTmp },
    stdin: stdin === undefined ? "ignore" : Bun.file(stdin),
    stdout: "pipe",
    stderr: "pipe",
  })
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  expect(code, err.slice(-2000)).toBe(0)
  return out
}

const quiet = { start: () => Effect.void, advance: () => Effect.void, stop: Effect.void }
const migrate = async (from: string, to: string, collection: string) => {
  const f = await factory(await couchStore(t))
  return run(
    runMigrate(
      f,
      { from, to, collections: Option.some([collection]), dryRun: false, batch: 500, concurrency: 4 },
      { stopping: Effect.succeed(false), progress: quiet },
    ),
  )
}

/** A database with history: 1,100 docs, one at rev 3, one deleted. */
const seedDb = async () => {
  const db = freshCollection("cb")
  await couch(t, "PUT", `/${db}`)
  await couch(t, "POST", `/${db}/_bulk_docs`, {
    docs: Array.from({ length: 1100 }, (_, i) => ({
      _id: `d${String(i).padStart(4, "0")}`,
      v: i,
      name: `doc ${i}`,
    })),
  })
  for (const v of [2, 3]) {
    const cur = (await couch(t, "GET", `/${db}/d0001`)).body as { _rev: string }
    await couch(t, "PUT", `/${db}/d0001`, { _rev: cur._rev, v, name: "edited" })
  }
  const gone = (await couch(t, "GET", `/${db}/d0002`)).body as { _rev: string }
  await couch(t, "DELETE", `/${db}/d0002?rev=${gone._rev}`)
  return db
}

/** Every doc of a database with its rev and full history (`?revs=true`), tombstones included. */
const snapshot = async (db: string) => {
  const ids = ((await couch(t, "GET", `/${db}/_changes`)).body as { results: Array<{ id: string }> }).results
    .map((r) => r.id)
    .sort()
  const docs = await Promise.all(
    ids.map(async (id) => (await couch(t, "GET", `/${db}/${id}?revs=true&deleted=true`)).body),
  )
  return docs
}

describe("couchbackup format", () => {
  test("a backup written by the real couchbackup restores through migrate with every revision kept", async () => {
    const db = await seedDb()
    const file = join(tempDir(), "backup.txt")
    await tool([bin("couchbackup"), "--url", authUrl(), "--db", db, "--log", `${file}.log`, "-o", file])
    const target = freshCollection("restored")
    const summary = await migrate(`couchbackup:${file}`, "couchdb", target)
    expect(summary.failed).toBe(0)
    expect(summary.read).toBe(1100)
    expect(await snapshot(target)).toEqual(await snapshot(db))
    // A second run finds everything there.
    expect((await migrate(`couchbackup:${file}`, "couchdb", target)).written).toBe(0)
  }, 60_000)

  test("a backup written by migrate has couchbackup's format and the real couchrestore restores it", async () => {
    const db = await seedDb()
    const file = join(tempDir(), "ours.txt")
    const summary = await migrate("couchdb", `couchbackup:${file}`, db)
    expect([summary.read, summary.failed]).toEqual([1099, 0])
    const lines = readFileSync(file, "utf8").trimEnd().split("\n")
    expect(JSON.parse(lines[0] ?? "")).toEqual({
      name: "@cloudant/couchbackup",
      version: "2.11.12",
      mode: "full",
      attachments: false,
    })
    const batches = lines.slice(1).map((l) => JSON.parse(l) as Array<Record<string, unknown>>)
    expect(batches.every((b) => Array.isArray(b) && b.length <= 500)).toBe(true)
    expect(
      batches
        .flat()
        .every((d) => typeof d._id === "string" && typeof d._rev === "string" && d._revisions !== undefined),
    ).toBe(true)
    const target = freshCollection("fromours")
    await couch(t, "PUT", `/${target}`)
    await tool([bin("couchrestore"), "--url", authUrl(), "--db", target], file)
    const want = (await snapshot(db)).filter((d) => (d as { _deleted?: boolean })._deleted !== true)
    const got = await snapshot(target)
    expect(got.map((d) => (d as { _id: string })._id)).toEqual(want.map((d) => (d as { _id: string })._id))
    // The current rev of every doc is kept exactly; the body is the same.
    for (const [i, d] of got.entries()) {
      const { _revisions: _a, ...g } = d as Record<string, unknown>
      const { _revisions: _b, ...w } = want[i] as Record<string, unknown>
      expect(g).toEqual(w)
    }
  }, 60_000)
})
