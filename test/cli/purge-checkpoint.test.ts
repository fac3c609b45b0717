/**
 * A purge is irreversible, so its checkpoint is part of its safety: a run whose checkpoint cannot
 * be kept must say so and exit non-zero, and the next run must continue without skipping anything.
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBinary } from "../support/binary.ts"
import { type CouchTarget, checkPurged, createDb, seed, startCouchTarget } from "../support/couch-target.ts"

let t: CouchTarget
const dir = mkdtempSync(join(tmpdir(), "dbsweep-cp-"))

beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
  rmSync(dir, { recursive: true, force: true })
})

const env = () => ({
  COUCHDB_URL: t.url,
  COUCHDB_USER: t.user,
  COUCHDB_PASSWORD: t.password,
  LOG_FORMAT: "json",
})

// Needs the test server's latency, to remove the directory while the run is under way.
test.skipIf(process.env.COUCHDB_URL !== undefined)(
  "a checkpoint that cannot be saved mid-run: exit 1, the summary says so, and the next run finishes the job",
  async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 20, tombstones: 400 })
    const cpDir = join(dir, "run")
    mkdirSync(cpDir)
    const file = join(cpDir, "cp.txt")
    t.faults?.({ latencyMs: 15 })
    try {
      const first = await runBinary(
        [
          "purge",
          "--no-env-file",
          "--db",
          db,
          "--batch",
          "2",
          "--concurrency",
          "1",
          "--checkpoint-file",
          file,
          "--json",
        ],
        {
          env: env(),
          cwd: dir,
          // The first periodic save (after 2 s) shows the run is under way; then the directory goes.
          onStart: () => {
            const poll = async () => {
              for (let i = 0; i < 1000 && !existsSync(file); i++) await Bun.sleep(10)
              rmSync(cpDir, { recursive: true, force: true })
            }
            void poll()
          },
        },
      )
      expect(first.code).toBe(1)
      const summary = JSON.parse(first.stdout) as { checkpointSaved: boolean; checkpointError?: string }
      expect(summary.checkpointSaved).toBe(false)
      expect(summary.checkpointError).toContain("--checkpoint-file")
      const line = first.stderr.split("\n").filter((l) => l.startsWith("dbsweep: "))
      expect(line).toHaveLength(1)
      expect(line[0]).toContain("checkpoint could not be saved")
    } finally {
      t.faults?.({})
    }
    mkdirSync(cpDir)
    const second = await runBinary(
      ["purge", "--no-env-file", "--db", db, "--checkpoint-file", file, "--json"],
      {
        env: env(),
        cwd: dir,
      },
    )
    expect(second.code).toBe(0)
    expect(await checkPurged(t, db, seeded)).toBe("")
  },
)
