import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBinary } from "../support/binary.ts"
import {
  allChanges,
  type CouchTarget,
  checkPurged,
  couch,
  createDb,
  dbInfo,
  seed,
  startCouchTarget,
  throwawayUser,
} from "../support/couch-target.ts"
import { startSilentServer } from "../support/silent-server.ts"

let t: CouchTarget
const cwd = mkdtempSync(join(tmpdir(), "dbsweep-bin-"))

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
  rmSync(cwd, { recursive: true, force: true })
})

const env = (extra: Record<string, string> = {}) => ({
  COUCHDB_URL: t.url,
  COUCHDB_USER: t.user,
  COUCHDB_PASSWORD: t.password,
  ...extra,
})

const ndjsonSet = (text: string) =>
  new Set(
    text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .flatMap((l) => {
        const { id, revs } = JSON.parse(l) as { id: string; revs: Array<string> }
        return revs.map((r) => `${id} ${r}`)
      }),
  )

describe("dbsweep purge (compiled binary)", () => {
  test("a full purge: summary as JSON, exit 0, tombstones gone, live docs kept", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, {
      live: 100,
      tombstones: 900,
      conflictedTombstones: 40,
      liveConflicts: 10,
    })
    const r = await runBinary(["purge", "--db", db, "--json"], { env: env(), cwd })
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.stdout) as { tombstones: number; purgedRevs: number }
    expect(summary.tombstones).toBe(940)
    expect(summary.purgedRevs).toBe(980)
    expect(await checkPurged(t, db, seeded)).toBe("")
  })

  test("--dry-run --list selects exactly the revisions the real run then purges", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 40, tombstones: 300, conflictedTombstones: 30, liveConflicts: 5 })
    const dry = await runBinary(["purge", "--db", db, "--dry-run", "--list"], { env: env(), cwd })
    expect(dry.code).toBe(0)
    const real = await runBinary(["purge", "--db", db, "--list"], { env: env(), cwd })
    expect(real.code).toBe(0)
    const selected = ndjsonSet(dry.stdout)
    expect(selected.size).toBe(360)
    expect(ndjsonSet(real.stdout)).toEqual(selected)
  })

  test("settings come from a .env file in the working directory, and the environment wins over it", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 5 })
    const dir = mkdtempSync(join(cwd, "envfile-"))
    writeFileSync(
      join(dir, ".env"),
      `COUCHDB_URL=${t.url}\nCOUCHDB_USER=${t.user}\nCOUCHDB_PASSWORD=${t.password}\nCOUCHDB_DB_NAME=not-this-one\n`,
    )
    const r = await runBinary(["purge", "--json"], { env: { COUCHDB_DB_NAME: db }, cwd: dir })
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as { tombstones: number }).tombstones).toBe(5)
    // The password can come from a file (COUCHDB_PASSWORD_FILE), e.g. a mounted secret.
    writeFileSync(join(dir, "pw"), `${t.password}\n`)
    const fromFile = await runBinary(["purge", "--no-env-file", "--db", db, "--json"], {
      env: { COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD_FILE: join(dir, "pw") },
      cwd: dir,
    })
    expect(fromFile.code).toBe(0)
    const ignored = await runBinary(["purge", "--no-env-file"], { env: { COUCHDB_DB_NAME: db }, cwd: dir })
    expect(ignored.code).toBe(2)
    expect(ignored.stderr).toContain("COUCHDB_URL")
  })

  test("SIGINT mid-run exits 130 with the checkpoint saved; a second run finishes with no tombstone skipped", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 50, tombstones: 2000 })
    t.faults?.({ latencyMs: 10 })
    const args = ["purge", "--db", db, "--batch", "5", "--concurrency", "2", "--log-format", "json"]
    try {
      const first = await runBinary(args, {
        env: env(),
        cwd,
        // Interrupt once the purge is under way (some tombstones gone), however slow the start.
        onStart: (p) => {
          const poll = async () => {
            for (let i = 0; i < 600 && (await dbInfo(t, db)).doc_del_count >= 1990; i++) await Bun.sleep(20)
            p.kill("SIGINT")
          }
          void poll()
        },
      })
      expect(first.code).toBe(130)
      expect(first.stderr).not.toContain("    at ")
      const left = (await allChanges(t, db)).filter((r) => r.deleted === true).length
      expect(left).toBeGreaterThan(0)
      expect(left).toBeLessThan(2000)
      const checkpoint = await couch(t, "GET", `/${db}/_local/dbsweep-purge`)
      expect(checkpoint.status).toBe(200)
    } finally {
      t.faults?.({})
    }
    const second = await runBinary(["purge", "--db", db, "--json"], { env: env(), cwd })
    expect(second.code).toBe(0)
    expect(await checkPurged(t, db, seeded)).toBe("")
  })

  test("a wrong password exits 3 with one line, and the password appears nowhere", async () => {
    const db = await createDb(t)
    // Throwaway users: wrong passwords must never lock the admin out (COUCHDB-FACTS §11).
    const [first, second] = [await throwawayUser(t), await throwawayUser(t)]
    try {
      const secret = "Wr0ng-Pa55-xyz"
      const r = await runBinary(["purge", "--db", db], {
        env: env({ COUCHDB_USER: first.user, COUCHDB_PASSWORD: secret }),
        cwd,
      })
      expect(r.code).toBe(3)
      expect(r.stdout + r.stderr).not.toContain(secret)
      const lines = r.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("401")
      // Credentials inside the URL are never printed either.
      const inUrl = new URL(t.url)
      inUrl.username = second.user
      inUrl.password = secret
      const r2 = await runBinary(["purge", "--db", db], { env: { COUCHDB_URL: inUrl.toString() }, cwd })
      expect(r2.code).toBe(3)
      expect(r2.stdout + r2.stderr).not.toContain(secret)
    } finally {
      await first.drop()
      await second.drop()
    }
  })

  test("a user who is not a server admin is told that _purge needs one (exit 3)", async () => {
    const db = await createDb(t)
    await seed(t, db, { live: 3, tombstones: 3 })
    const clerk = await throwawayUser(t, { memberOf: [db] })
    try {
      const r = await runBinary(["purge", "--db", db], {
        env: { COUCHDB_URL: t.url, COUCHDB_USER: clerk.user, COUCHDB_PASSWORD: clerk.password },
        cwd,
      })
      expect(r.code).toBe(3)
      expect(r.stderr).toContain("server admin")
      expect(r.stdout + r.stderr).not.toContain(clerk.password)
      expect((await dbInfo(t, db)).doc_del_count).toBe(3)
    } finally {
      await clerk.drop()
    }
  })

  test("a database that does not exist is named in a one-line message, exit 2", async () => {
    const r = await runBinary(["purge", "--db", "no-such-db-here"], { env: env(), cwd })
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain('database "no-such-db-here" does not exist')
  })

  test("a malformed URL, an unknown flag or a bad value exit 2", async () => {
    const bad = await runBinary(["purge", "--db", "x"], { env: env({ COUCHDB_URL: "http//oops:5984" }), cwd })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("COUCHDB_URL")
    expect(bad.stderr.trim().split("\n")).toHaveLength(1)
    const flag = await runBinary(["purge", "--db", "x", "--no-such-flag"], { env: env(), cwd })
    expect(flag.code).toBe(2)
    const batch = await runBinary(["purge", "--db", "x", "--batch", "lots"], { env: env(), cwd })
    expect(batch.code).toBe(2)
    expect(batch.stderr).toContain("--batch")
  })

  test("a seq the database refuses (--since, or a checkpoint file from elsewhere) exits 2 and says what to do", async () => {
    const db = await createDb(t)
    await seed(t, db, { tombstones: 3 })
    const since = await runBinary(["purge", "--db", db, "--since", "not-a-seq"], { env: env(), cwd })
    expect(since.code).toBe(2)
    expect(since.stderr).toContain("--since not-a-seq")
    const file = join(cwd, `${db}.seq`)
    writeFileSync(file, "garbage-from-elsewhere\n")
    const stale = await runBinary(["purge", "--db", db, "--checkpoint-file", file], { env: env(), cwd })
    expect(stale.code).toBe(2)
    expect(stale.stderr).toContain(file)
    expect(stale.stderr).toContain("--since 0")
    expect((await dbInfo(t, db)).doc_del_count).toBe(3)
  })

  test("SIGINT while a server that never answers holds the first look-ups exits 130 at once, in one line", async () => {
    // Each look-up would wait for its timeout and retries, and the stop used to wait for all of them.
    const silent = startSilentServer()
    try {
      // One database, a dry run, and a run of many (whose look-ups differ).
      for (const args of [["--db", "x"], ["--db", "x", "--dry-run"], ["--all-dbs"]]) {
        await silent.expectInterruptedAtOnce(["purge", ...args], {
          env: env({ COUCHDB_URL: silent.url }),
          cwd,
        })
      }
    } finally {
      silent.stop()
    }
  }, 45_000)

  test("a server that is not there exits 3 and says which URL to check", async () => {
    const r = await runBinary(["purge", "--db", "x", "--retries", "1", "--retry-base", "10ms"], {
      env: env({ COUCHDB_URL: "http://127.0.0.1:9" }),
      cwd,
    })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain("http://127.0.0.1:9")
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
  })
})
