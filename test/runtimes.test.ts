/**
 * The core on Deno and Node: the library API (scripts/library-example.ts: a purge and a cleanup
 * dry run) and the HTTP mode (src/deno.ts on Deno.serve, src/node.ts on @hono/node-server, a
 * purge started through the API until its summary). Deno is the npm package `deno`; Node runs a
 * bundle from `bun build --target=node`, since Node 20 does not run TypeScript.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { listeningUrl } from "./support/binary.ts"
import {
  type CouchTarget,
  checkPurged,
  createDb,
  deleteDb,
  type Seeded,
  seed,
  startCouchTarget,
} from "./support/couch-target.ts"
import { closeDatabases, expectedMatches, seededDatabase } from "./support/pg-fixtures.ts"

const root = join(import.meta.dir, "..")
const deno = join(root, "node_modules", ".bin", "deno")
const out = mkdtempSync(join(tmpdir(), "dbsweep-runtimes-"))
let t: CouchTarget
const dbs: Array<string> = []

/** Bundles an entry for Node into `out`. */
const forNode = async (entry: string, name: string) => {
  const built = await Bun.build({
    entrypoints: [join(root, entry)],
    target: "node",
    outdir: out,
    naming: name,
  })
  if (!built.success) throw new Error(built.logs.join("\n"))
  return join(out, name)
}

let nodeLibrary = ""
let nodeCli = ""

beforeAll(async () => {
  t = await startCouchTarget()
  nodeLibrary = await forNode("scripts/library-example.ts", "library-example.mjs")
  nodeCli = await forNode("src/node.ts", "dbsweep.mjs")
}, 120_000)

afterAll(async () => {
  for (const db of dbs) await deleteDb(t, db)
  await closeDatabases()
  await t.stop()
  rmSync(out, { recursive: true, force: true })
})

const seeded = async (): Promise<{ db: string; seededDocs: Seeded }> => {
  const db = await createDb(t, "dbsweep-runtimes")
  dbs.push(db)
  return { db, seededDocs: await seed(t, db, { live: 20, tombstones: 60, conflictedTombstones: 5 }) }
}

const couchEnv = () => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  COUCHDB_URL: t.url,
  COUCHDB_USER: t.user,
  COUCHDB_PASSWORD: t.password,
  // Deno keeps its cache out of the home directory.
  DENO_DIR: join(out, "deno-cache"),
})

const runTo = async (cmd: ReadonlyArray<string>, env: Record<string, string>) => {
  const proc = Bun.spawn([...cmd], { cwd: root, env, stdout: "pipe", stderr: "pipe" })
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000)
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  clearTimeout(timer)
  return { stdout, stderr, code }
}

const runtimes = [
  {
    name: "Deno",
    library: () => [deno, "run", "--allow-all", "scripts/library-example.ts"],
    cli: () => [deno, "run", "--allow-all", "src/deno.ts"],
    says: "deno",
  },
  {
    name: "Node",
    library: () => ["node", nodeLibrary],
    cli: () => ["node", nodeCli],
    says: "node ",
  },
] as const

for (const runtime of runtimes) {
  describe(`on ${runtime.name}`, () => {
    test("the library API purges every tombstone and counts a cleanup's matches in a dry run", async () => {
      const { db, seededDocs } = await seeded()
      const pg = await seededDatabase({ users: 30, pending: 30 }, "runtimes")
      const r = await runTo([...runtime.library(), db], { ...couchEnv(), DATABASE_URL: pg.url })
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      const result = JSON.parse(r.stdout) as {
        runtime: string
        purge: { db: string; tombstones: number; failedDocs: number }
        cleanup: { dryRun: boolean; matched: number; deleted: number }
      }
      expect(result.runtime).toStartWith(runtime.says)
      expect(result.purge.tombstones).toBe(65)
      expect(result.purge.failedDocs).toBe(0)
      expect(await checkPurged(t, db, seededDocs)).toBe("")
      expect(result.cleanup.dryRun).toBe(true)
      expect(result.cleanup.matched).toBe(expectedMatches({ users: 30, pending: 30 }))
      expect(result.cleanup.deleted).toBe(0)
    }, 90_000)

    test("serve: a purge started through the HTTP API runs to its summary; SIGTERM exits 0", async () => {
      const { db, seededDocs } = await seeded()
      const proc = Bun.spawn([...runtime.cli(), "serve", "--port", "0", "--no-env-file"], {
        cwd: root,
        env: { ...couchEnv(), LOG_FORMAT: "json" },
        stdout: "pipe",
        stderr: "pipe",
      })
      try {
        const { url } = await listeningUrl(proc.stderr)
        expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true })
        const started = await fetch(`${url}/jobs/purge`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ db }),
        })
        expect(started.status).toBe(202)
        const { id } = (await started.json()) as { id: string }
        let run: { state: string; summary?: { tombstones: number; failedDocs: number } } = {
          state: "running",
        }
        for (let i = 0; i < 300 && run.state === "running"; i++) {
          await Bun.sleep(100)
          run = (await (await fetch(`${url}/jobs/${id}`)).json()) as typeof run
        }
        expect(run.state).toBe("succeeded")
        expect(run.summary?.tombstones).toBe(65)
        expect(run.summary?.failedDocs).toBe(0)
        expect(await checkPurged(t, db, seededDocs)).toBe("")
        proc.kill("SIGTERM")
        expect(await proc.exited).toBe(0)
      } finally {
        proc.kill("SIGKILL")
      }
    }, 90_000)
  })
}
