/**
 * `dbsweep couch …` run as the compiled binary against the CouchDB target (the test server, or a
 * real CouchDB with COUCHDB_URL): info, compact, replicate, views ensure, and their bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expectCleanFailure, secretForms } from "../support/bad-input.ts"
import { type RunResult, runBinary } from "../support/binary.ts"
import {
  bulk,
  type CouchTarget,
  couch,
  createDb,
  deleteDb,
  seed,
  startCouchTarget,
  throwawayUser,
} from "../support/couch-target.ts"

let t: CouchTarget
const dir = mkdtempSync(join(tmpdir(), "dbsweep-couch-admin-"))
const replications: Array<string> = []

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  // A real CouchDB keeps continuous replications running: remove the documents written here.
  for (const id of replications) {
    const doc = await couch(t, "GET", `/_replicator/${id}`)
    if (doc.status === 200)
      await couch(t, "DELETE", `/_replicator/${id}?rev=${(doc.body as { _rev: string })._rev}`)
  }
  await t.stop()
  rmSync(dir, { recursive: true, force: true })
})

const env = (extra: Record<string, string> = {}) => ({
  COUCHDB_URL: t.url,
  COUCHDB_USER: t.user,
  COUCHDB_PASSWORD: t.password,
  ...extra,
})
const run = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
  runBinary(["couch", ...args], { env: env(extra), cwd: dir })

/** The URL of `db` with the admin's credentials inside, as an operator would pass it. */
const urlWithCredentials = (db: string) => {
  const url = new URL(t.url)
  url.username = encodeURIComponent(t.user)
  url.password = encodeURIComponent(t.password)
  return `${url.origin.replace("//", `//${url.username}:${url.password}@`)}/${db}`
}

const expectNoSecret = (r: RunResult) => {
  for (const form of secretForms(t.password, t.user)) expect(r.stdout + r.stderr).not.toContain(form)
}

/** Documents whose old revisions compaction can drop: each written `times` times with a payload. */
const churn = async (db: string, docs: number, times: number) => {
  let revs = new Map<string, string>()
  for (let round = 0; round < times; round++) {
    const written = await bulk(
      t,
      db,
      Array.from({ length: docs }, (_, i) => ({
        _id: `doc-${i}`,
        ...(revs.has(`doc-${i}`) ? { _rev: revs.get(`doc-${i}`) } : {}),
        payload: `${round}-${"x".repeat(2000)}`,
      })),
    )
    revs = new Map(written.map((w) => [w.id, w.rev!]))
  }
}

describe("dbsweep couch info", () => {
  test("counts, sizes, fragmentation and seqs of a seeded database; a purge is worth running", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 30, tombstones: 10 })
    const r = await run(["info", db, "--json"])
    expect(r.code, r.stderr).toBe(0)
    const info = JSON.parse(r.stdout)
    expect(info).toMatchObject({
      db,
      docCount: 30,
      tombstones: 10,
      compactRunning: false,
      purgeWorthIt: true,
    })
    expect(info.sizes.file).toBeGreaterThan(0)
    expect(info.sizes.active).toBeGreaterThan(0)
    expect(info.fragmentation).toBeCloseTo(1 - info.sizes.active / info.sizes.file, 6)
    expect(typeof info.updateSeq).toBe("string")
    expect(typeof info.purgeSeq).toBe("string")
    expect(info.purgeReason).toContain("33.3%")
    const human = await run(["info", db])
    expect(human.stdout).toContain("tombstones     10")
    expect(human.stdout).toContain("worth running")
  })

  test("few tombstones: not worth a purge, and the reason says why", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 100, tombstones: 5 })
    const info = JSON.parse((await run(["info", db, "--json"])).stdout)
    expect(info.purgeWorthIt).toBe(false)
    expect(info.purgeReason).toContain("below 10%")
  })
})

describe("dbsweep couch compact", () => {
  test("--wait: compacts, reports the file size before and after, progress as log lines", async () => {
    const db = await createDb(t)
    await churn(db, 20, 4)
    const before = (await couch(t, "GET", `/${db}`)).body as { sizes: { file: number } }
    const r = await run(["compact", db, "--wait", "--json", "--poll", "100ms"])
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.waited).toBe(true)
    expect(report.fileBefore).toBe(before.sizes.file)
    expect(report.fileAfter).toBeLessThan(report.fileBefore)
    expect(report.reclaimed).toBe(report.fileBefore - report.fileAfter)
    const after = (await couch(t, "GET", `/${db}`)).body as {
      compact_running: boolean
      sizes: { file: number }
    }
    expect(after.compact_running).toBe(false)
    expect(after.sizes.file).toBe(report.fileAfter)
    // Not a terminal: progress is logged, ending at 100 of 100.
    const lines = r.stderr.split("\n").filter((l) => l.includes(`compact ${db} progress`))
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.at(-1)).toContain('"done":100')
  })

  test("--views also compacts each design doc's views; without --wait it only starts", async () => {
    const db = await createDb(t)
    await couch(t, "PUT", `/${db}/_design/app`, { views: { all: { map: "function(d){emit(d._id,1)}" } } })
    const r = await run(["compact", db, "--views", "--json"])
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.views).toEqual(["app"])
    expect(report.waited).toBe(false)
    expect(report.fileAfter).toBeUndefined()
    const human = await run(["compact", db])
    expect(human.stdout).toContain("compaction started")
    // With --wait, the views' compaction is waited for too: none of its tasks is left.
    const waited = await run(["compact", db, "--views", "--wait", "--json", "--poll", "100ms"])
    expect(waited.code, waited.stderr).toBe(0)
    const tasks = (await couch(t, "GET", "/_active_tasks")).body as Array<{ database?: string }>
    expect(tasks.filter((task) => task.database?.includes(`/${db}.`))).toEqual([])
  })
})

describe("dbsweep couch replicate", () => {
  test("one-off --wait: writes a _replicator doc (credentials in auth.basic), completes, target has the docs", async () => {
    const source = await createDb(t)
    const target = `${source}-copy`
    await seed(t, source, { live: 25, tombstones: 3 })
    const id = `dbsweep-test-${Date.now().toString(36)}`
    replications.push(id)
    const r = await run([
      "replicate",
      "--source",
      urlWithCredentials(source),
      "--target",
      urlWithCredentials(target),
      "--create-target",
      "--id",
      id,
      "--wait",
      "--poll",
      "200ms",
      "--json",
    ])
    expect(r.code, r.stderr).toBe(0)
    expectNoSecret(r)
    const report = JSON.parse(r.stdout)
    expect(report).toMatchObject({ id, state: "completed", continuous: false })
    expect(report.source).toContain(`/${source}`)
    const doc = (await couch(t, "GET", `/_replicator/${id}`)).body as {
      source: { url: string; auth: { basic: { username: string; password: string } } }
    }
    expect(doc.source.url).not.toContain(t.password)
    expect(doc.source.auth.basic).toEqual({ username: t.user, password: t.password })
    const copied = (await couch(t, "GET", `/${target}/_all_docs`)).body as { rows: Array<{ id: string }> }
    expect(copied.rows.length).toBe(25)
    await deleteDb(t, target)
  })

  test("continuous: the state is running and the human report names it, without credentials", async () => {
    const source = await createDb(t)
    const target = await createDb(t)
    await seed(t, source, { live: 5 })
    const id = `dbsweep-cont-${Date.now().toString(36)}`
    replications.push(id)
    const r = await run([
      "replicate",
      "--source",
      urlWithCredentials(source),
      "--target",
      urlWithCredentials(target),
      "--continuous",
      "--id",
      id,
      "--wait",
      "--poll",
      "200ms",
    ])
    expect(r.code, r.stderr).toBe(0)
    expectNoSecret(r)
    expect(r.stdout).toContain(`replication ${id} (continuous): running`)
    // The same id again is refused, not written over the running replication.
    const again = await run([
      "replicate",
      "--source",
      urlWithCredentials(source),
      "--target",
      urlWithCredentials(target),
      "--id",
      id,
    ])
    expectCleanFailure(again, { code: 2, names: ["already exists", id], secrets: [t.password], user: t.user })
  })

  test("a missing source: crashing, exit 1, the error shown without the password", async () => {
    const target = await createDb(t)
    const id = `dbsweep-crash-${Date.now().toString(36)}`
    replications.push(id)
    const r = await run([
      "replicate",
      "--source",
      urlWithCredentials("dbsweep-no-such-db"),
      "--target",
      urlWithCredentials(target),
      "--id",
      id,
      "--wait",
      "--poll",
      "200ms",
    ])
    const line = expectCleanFailure(r, {
      code: 1,
      names: ["crashing", "db_not_found"],
      secrets: [t.password],
      user: t.user,
    })
    expect(line).toContain(id)
  })
})

describe("dbsweep couch views ensure", () => {
  test("created, then unchanged (no new rev), then updated", async () => {
    const db = await createDb(t)
    const file = join(dir, `${db}.json`)
    const ddoc = { _id: "_design/app", views: { by_kind: { map: "function(d){emit(d.kind,1)}" } } }
    writeFileSync(file, JSON.stringify(ddoc))
    const first = JSON.parse((await run(["views", "ensure", db, "--file", file, "--json"])).stdout)
    expect(first).toMatchObject({ db, id: "_design/app", outcome: "created" })
    expect(first.rev).toStartWith("1-")
    // Same content, keys in another order: unchanged, and CouchDB keeps the same rev.
    writeFileSync(file, JSON.stringify({ views: ddoc.views, _id: ddoc._id }))
    const second = await run(["views", "ensure", db, "--file", file])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toContain("unchanged")
    expect(((await couch(t, "GET", `/${db}/_design/app`)).body as { _rev: string })._rev).toBe(first.rev)
    writeFileSync(
      file,
      JSON.stringify({ ...ddoc, views: { by_kind: { map: "function(d){emit(d.kind,2)}" } } }),
    )
    const third = JSON.parse((await run(["views", "ensure", db, "--file", file, "--json"])).stdout)
    expect(third.outcome).toBe("updated")
    expect(third.rev).toStartWith("2-")
  })
})

describe("dbsweep couch: bad input", () => {
  test("a bad database name: exit 2, the rule named, for every subcommand", async () => {
    const file = join(dir, "dd.json")
    writeFileSync(file, JSON.stringify({ _id: "_design/x" }))
    for (const args of [
      ["info", "Bad_Name"],
      ["compact", "Bad_Name"],
      ["views", "ensure", "Bad_Name", "--file", file],
    ]) {
      expectCleanFailure(await run(args), { code: 2, names: ["Bad_Name", "lowercase"] })
    }
  })

  test("a missing database: exit 2, the database named", async () => {
    for (const args of [
      ["info", "dbsweep-no-such-db"],
      ["compact", "dbsweep-no-such-db", "--wait"],
    ]) {
      expectCleanFailure(await run(args), { code: 2, names: ["dbsweep-no-such-db", "does not exist"] })
    }
  })

  test("a member that is not an admin: exit 3, one line saying an admin is needed, no password", async () => {
    const db = await createDb(t)
    const clerk = await throwawayUser(t, { memberOf: [db] })
    const file = join(dir, "member.json")
    writeFileSync(file, JSON.stringify({ _id: "_design/x", views: {} }))
    try {
      const as = { COUCHDB_USER: clerk.user, COUCHDB_PASSWORD: clerk.password }
      const secrets = { secrets: [clerk.password, t.password], user: clerk.user }
      expectCleanFailure(await run(["compact", db], as), {
        code: 3,
        names: ["_compact", "admin"],
        ...secrets,
      })
      expectCleanFailure(await run(["views", "ensure", db, "--file", file], as), {
        code: 3,
        names: ["_design/x", "admin"],
        ...secrets,
      })
      const source = urlWithCredentials(db)
      expectCleanFailure(await run(["replicate", "--source", source, "--target", `${source}-x`], as), {
        code: 3,
        names: ["_replicator"],
        ...secrets,
      })
    } finally {
      await clerk.drop()
    }
  })

  test("replicate: bad --selector JSON and bad URLs are usage errors (exit 2) that never echo the password", async () => {
    const db = await createDb(t)
    const source = urlWithCredentials(db)
    const secrets = { secrets: [t.password], user: t.user }
    expectCleanFailure(
      await run(["replicate", "--source", source, "--target", `${source}-2`, "--selector", "{bad"]),
      {
        code: 2,
        names: ["--selector"],
        ...secrets,
      },
    )
    expectCleanFailure(
      await run(["replicate", "--source", source, "--target", `${source}-2`, "--selector", "[1]"]),
      {
        code: 2,
        names: ["--selector"],
      },
    )
    const noDb = new URL(source)
    noDb.pathname = "/"
    expectCleanFailure(await run(["replicate", "--source", noDb.toString(), "--target", source]), {
      code: 2,
      names: ["--source", "database"],
      ...secrets,
    })
    expectCleanFailure(await run(["replicate", "--source", "ftp://x/db", "--target", source]), {
      code: 2,
      names: ["--source", "http"],
      ...secrets,
    })
  })

  test("views ensure: missing --file, an unreadable file, not JSON, not a design doc: exit 2", async () => {
    const db = await createDb(t)
    const r = await run(["views", "ensure", db])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--file")
    expectCleanFailure(await run(["views", "ensure", db, "--file", join(dir, "nope.json")]), {
      code: 2,
      names: ["--file", "nope.json"],
    })
    const notJson = join(dir, "not.json")
    writeFileSync(notJson, "{views:")
    expectCleanFailure(await run(["views", "ensure", db, "--file", notJson]), {
      code: 2,
      names: ["--file", "JSON"],
    })
    const plain = join(dir, "plain.json")
    writeFileSync(plain, JSON.stringify({ _id: "plain", views: {} }))
    expectCleanFailure(await run(["views", "ensure", db, "--file", plain]), {
      code: 2,
      names: ["--file", "_design/"],
    })
  })
})

describe("dbsweep purge --compact", () => {
  /** Documents written a few times with a payload, then deleted: tombstones over reclaimable space. */
  const deletedChurn = async (db: string) => {
    await churn(db, 20, 3)
    const rows = (await couch(t, "GET", `/${db}/_all_docs`)).body as {
      rows: Array<{ id: string; value: { rev: string } }>
    }
    await bulk(
      t,
      db,
      rows.rows.map((r) => ({ _id: r.id, _rev: r.value.rev, _deleted: true })),
    )
  }

  test("compacts after the purge and reports the space reclaimed (JSON and human)", async () => {
    const db = await createDb(t)
    await deletedChurn(db)
    const r = await runBinary(["purge", "--db", db, "--compact", "--json"], { env: env(), cwd: dir })
    expect(r.code, r.stderr).toBe(0)
    const summary = JSON.parse(r.stdout)
    expect(summary.tombstones).toBe(20)
    expect(summary.compaction.fileAfter).toBeLessThan(summary.compaction.fileBefore)
    expect(summary.compaction.reclaimed).toBe(summary.compaction.fileBefore - summary.compaction.fileAfter)
    const info = (await couch(t, "GET", `/${db}`)).body as { sizes: { file: number }; doc_del_count: number }
    expect(info.doc_del_count).toBe(0)
    expect(info.sizes.file).toBe(summary.compaction.fileAfter)

    const other = await createDb(t)
    await deletedChurn(other)
    const human = await runBinary(["purge", "--db", other, "--compact"], { env: env(), cwd: dir })
    expect(human.code, human.stderr).toBe(0)
    expect(human.stderr).toMatch(/compacted in [\d.]+s: file size .* -> .* \(reclaimed /)
  })

  test("a dry run does not compact", async () => {
    const db = await createDb(t)
    await deletedChurn(db)
    const r = await runBinary(["purge", "--db", db, "--compact", "--dry-run", "--json"], {
      env: env(),
      cwd: dir,
    })
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).compaction).toBeUndefined()
  })
})
