import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Option } from "effect"
import { scheduleJobs } from "../../src/http/schedules.ts"
import { every } from "../../src/jobs/schedule.ts"
import { checkpointDocId } from "../../src/purge/checkpoint-local.ts"
import { post, type Serve, startServe, waitForRun } from "../http/serve-harness.ts"
import { runBinary } from "../support/binary.ts"
import {
  type CouchTarget,
  couch,
  createDb,
  dbUrlWithCredentials,
  deleteDb,
  deleteDocs,
  deletedIds,
  range,
  removeReplicatorDocs,
  startCouchTarget,
  waitForReplication,
} from "../support/couch-target.ts"

/**
 * The safety caps from the compiled binary and from the HTTP mode, against the test server or a
 * real CouchDB (COUCHDB_URL). Time is injected for the binary the only way a separate process
 * allows: the test dates the observations in the `_local` checkpoint document back.
 */

let t: CouchTarget
let s: Serve
const cwd = mkdtempSync(join(tmpdir(), "dbsweep-caps-"))
const created: Array<string> = []
const replicatorDocs: Array<string> = []
const day = 86_400_000

beforeAll(async () => {
  t = await startCouchTarget()
  await couch(t, "PUT", "/_replicator")
  s = await startServe({ couch: t })
})
afterAll(async () => {
  await s.close()
  await removeReplicatorDocs(t, replicatorDocs)
  for (const db of created) await deleteDb(t, db)
  await t.stop()
  rmSync(cwd, { recursive: true, force: true })
})

const run = (...args: Array<string>) =>
  runBinary(["purge", "--no-env-file", "--log-format", "json", ...args], {
    env: { COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD: t.password },
    cwd,
  })

const newDb = async (prefix: string) => {
  const db = await createDb(t, `capsbin-${prefix}`)
  created.push(db)
  return db
}

/** Moves every observation in the checkpoint document `ms` into the past: time passing, for a separate process. */
const ageObservations = async (db: string, ms: number) => {
  const path = `/${db}/_local/${checkpointDocId}`
  const doc = (await couch(t, "GET", path)).body as { observations: Array<{ at: string; seq: string }> }
  doc.observations = doc.observations.map((o) => ({
    ...o,
    at: new Date(Date.parse(o.at) - ms).toISOString(),
  }))
  expect((await couch(t, "PUT", path, doc)).status).toBe(201)
}

interface Listed {
  db?: string
  id: string
  revs: Array<string>
  held?: string
}
/** The ids of the listed lines held for `held` (not held: undefined), sorted. */
const idsListed = (lines: ReadonlyArray<Listed>, held: string | undefined) =>
  lines
    .filter((l) => l.held === held)
    .map((l) => l.id)
    .sort()
const listed = (stdout: string): Array<Listed> =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Listed)

interface Summary {
  purgedRevs: number
  revs: number
  tombstones: number
  heldBack: { grace: number; replication: number; "replication-error": number }
  caps?: { grace?: { waitUntil?: string; since?: string }; replications?: { broken: Array<string> } }
  databases?: Array<Summary & { db: string; state: string }>
}

describe("purge --grace from the binary", () => {
  test("first run purges nothing and says when; once the observation is old enough, only what changed within the grace waits; dry run and real run agree", async () => {
    const db = await newDb("grace")
    await deleteDocs(t, db, range("old", 4))
    const first = await run("--db", db, "--grace", "7d")
    expect(first.code).toBe(0)
    expect(first.stderr).toContain("no observation")
    // The summary (on stderr, as every human summary) says what waits and until when.
    expect(first.stderr).toMatch(/held back 4 \(grace 4\) tombstones/)
    expect(first.stderr).toMatch(/nothing is purged before \d{4}-\d\d-\d\dT/)
    expect(await deletedIds(t, db)).toEqual(range("old", 4).sort())

    await ageObservations(db, 8 * day)
    await deleteDocs(t, db, range("new", 3))
    const dry = await run("--db", db, "--grace", "7d", "--dry-run", "--list")
    expect(dry.code).toBe(0)
    const lines = listed(dry.stdout)
    expect(idsListed(lines, undefined)).toEqual(range("old", 4).sort())
    expect(idsListed(lines, "grace")).toEqual(range("new", 3).sort())
    const dryJson = JSON.parse(
      (await run("--db", db, "--grace", "7d", "--dry-run", "--json")).stdout,
    ) as Summary
    expect(dryJson.heldBack).toEqual({ grace: 3, replication: 0, "replication-error": 0 })

    const real = await run("--db", db, "--grace", "7d", "--list")
    expect(real.code).toBe(0)
    // The real run purged exactly what the dry run selected; a real --list lists no held ids.
    expect(
      listed(real.stdout)
        .map((l) => l.id)
        .sort(),
    ).toEqual(range("old", 4).sort())
    expect(listed(real.stdout).some((l) => l.held !== undefined)).toBe(false)
    expect(await deletedIds(t, db)).toEqual(range("new", 3).sort())
    expect(real.stderr).toMatch(/"held_grace":3/)
  })

  test("--grace with --checkpoint-file, a bad duration, or --ignore-replication alone: one line, exit 2", async () => {
    const file = await run("--db", "x", "--grace", "7d", "--checkpoint-file", join(cwd, "seq.txt"))
    expect(file.code).toBe(2)
    expect(file.stderr.trim().split("\n")).toHaveLength(1)
    expect(file.stderr).toContain("--grace")
    const bad = await run("--db", "x", "--grace", "soon")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--grace")
    const ignore = await run("--db", "x", "--ignore-replication", "r1")
    expect(ignore.code).toBe(2)
    expect(ignore.stderr).toContain("--respect-replications")
  })
})

describe("purge --respect-replications from the binary, many databases", () => {
  test("ids changed after a replication's checkpoint survive, the rest go: marked in a dry run's --list, counted in --json", async () => {
    const src = await newDb("rep")
    const copy = `${src}-copy`
    created.push(copy)
    await deleteDocs(t, src, range("before", 5))
    const id = `dbsweep-capsbin-rep-${src}`
    replicatorDocs.push(id)
    await couch(t, "PUT", `/_replicator/${id}`, {
      source: dbUrlWithCredentials(t, src),
      target: dbUrlWithCredentials(t, copy),
      create_target: true,
    })
    await waitForReplication(t, id, ["completed"])
    await deleteDocs(t, src, range("after", 2))

    const dry = await run("--db", src, "--respect-replications", "--dry-run", "--list")
    expect(dry.code).toBe(0)
    const lines = listed(dry.stdout)
    expect(idsListed(lines, "replication")).toEqual(range("after", 2).sort())
    expect(idsListed(lines, undefined)).toEqual(range("before", 5).sort())

    const r = await run("--db", src, "--respect-replications", "--json")
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.stdout) as Summary & { caps: { replications: { watched: Array<string> } } }
    expect(summary.purgedRevs).toBe(5)
    expect(summary.heldBack).toEqual({ grace: 0, replication: 2, "replication-error": 0 })
    expect(summary.caps.replications.watched).toEqual([id])
    expect(await deletedIds(t, src)).toEqual(range("after", 2).sort())
  })

  test("a crashing replication holds its database back with a warning naming it; the other database is purged; --ignore-replication lets it go", async () => {
    const held = await newDb("crash")
    const free = await newDb("free")
    await deleteDocs(t, held, range("h", 3))
    await deleteDocs(t, free, range("f", 2))
    const id = `dbsweep-capsbin-${held}`
    replicatorDocs.push(id)
    await couch(t, "PUT", `/_replicator/${id}`, {
      source: dbUrlWithCredentials(t, held),
      target: dbUrlWithCredentials(t, `${held}-nosuch`),
    })
    await waitForReplication(t, id, ["crashing", "error", "failed"])

    const dry = await run("--db", held, "--db", free, "--respect-replications", "--dry-run", "--list")
    expect(dry.code).toBe(0)
    const lines = listed(dry.stdout)
    expect(lines.filter((l) => l.db === held).every((l) => l.held === "replication-error")).toBe(true)
    expect(lines.filter((l) => l.db === held)).toHaveLength(3)
    expect(lines.filter((l) => l.db === free && l.held === undefined)).toHaveLength(2)

    const r = await run("--db", held, "--db", free, "--respect-replications", "--json")
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`replication ${id} reads ${held}`)
    const summary = JSON.parse(r.stdout) as Summary
    expect(summary.heldBack["replication-error"]).toBe(3)
    const byDb = new Map(summary.databases?.map((d) => [d.db, d]))
    expect(byDb.get(held)?.heldBack["replication-error"]).toBe(3)
    expect(byDb.get(held)?.caps?.replications?.broken).toEqual([id])
    expect(byDb.get(held)?.purgedRevs).toBe(0)
    expect(byDb.get(free)?.purgedRevs).toBe(2)
    expect(await deletedIds(t, held)).toEqual(range("h", 3).sort())

    const ignored = await run("--db", held, "--respect-replications", "--ignore-replication", id, "--json")
    expect(ignored.code).toBe(0)
    expect((JSON.parse(ignored.stdout) as Summary).purgedRevs).toBe(3)
    expect(await deletedIds(t, held)).toEqual([])
  })
})

describe("the caps in the HTTP mode", () => {
  test("POST /jobs/purge takes grace, respectReplications and ignoreReplications; the held-back counts are in /jobs", async () => {
    const db = await newDb("http")
    await deleteDocs(t, db, range("x", 3))
    const r = await post(s, "/jobs/purge", { db, grace: "7d", respectReplications: true })
    expect(r.status).toBe(202)
    const end = (await waitForRun(s, ((await r.json()) as { id: string }).id)) as unknown as {
      state: string
      summary: Summary
      progress: { held?: Record<string, number> }
    }
    expect(end.state).toBe("succeeded")
    expect(end.summary.heldBack.grace).toBe(3)
    expect(end.summary.caps?.grace?.waitUntil).toBeDefined()
    expect(end.progress.held?.grace).toBe(3)
    const bad = await post(s, "/jobs/purge", { db, grace: "whenever" })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toContain("grace")
  })

  test("a schedule carries the caps to each run", async () => {
    const own = await startServe({ couch: t })
    try {
      const db = await newDb("sched")
      await deleteDocs(t, db, range("y", 2))
      await own.runtime.runPromise(
        scheduleJobs({
          purge: Option.some(every(Duration.hours(1))),
          purgeDb: Option.some(db),
          purgeCaps: { grace: "2d", respectReplications: false, ignoreReplications: [] },
          cleanup: Option.none(),
        }),
      )
      let runs: Array<{ state: string; trigger: string; summary: Summary }> = []
      for (let i = 0; i < 400; i++) {
        runs = (await (await own.request("/jobs")).json()) as typeof runs
        if (runs.some((x) => x.state !== "running")) break
        await Bun.sleep(25)
      }
      const done = runs.find((x) => x.trigger === "schedule")!
      expect(done.state).toBe("succeeded")
      expect(done.summary.heldBack.grace).toBe(2)
      expect(await deletedIds(t, db)).toEqual(range("y", 2).sort())
    } finally {
      await own.close()
    }
  })
})
