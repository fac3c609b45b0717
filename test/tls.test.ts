/**
 * TLS as operators have it: CouchDB and PostgreSQL behind TLS with a company CA (made here by the
 * test). The compiled binary trusts a CA given in NODE_EXTRA_CA_CERTS, for https:// CouchDB URLs
 * and for PostgreSQL with sslmode=verify-full; a certificate it does not trust is one line naming
 * that variable, exit 3, not retried, and nothing is touched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { binaryPath, ensureBinary } from "./support/binary.ts"
import {
  type CouchTarget,
  checkPurged,
  createDb,
  dbInfo,
  deleteDb,
  seed,
  startCouchTarget,
} from "./support/couch-target.ts"
import { closeDatabases, count, expectedMatches, matching, seededDatabase } from "./support/pg-fixtures.ts"
import { pgServer } from "./support/pg-server.ts"
import { httpsProxy, makeCa, pgTlsProxy, type TestCa } from "./support/tls.ts"

const dir = mkdtempSync(join(tmpdir(), "dbsweep-tls-"))
let t: CouchTarget
let ca: TestCa
let otherCa: TestCa
let couchProxy: ReturnType<typeof httpsProxy>
let pgProxy: Awaited<ReturnType<typeof pgTlsProxy>>
const dbs: Array<string> = []

beforeAll(async () => {
  ensureBinary()
  ca = makeCa(dir)
  mkdirSync(join(dir, "other"))
  otherCa = makeCa(join(dir, "other"), "another CA")
  t = await startCouchTarget()
  couchProxy = httpsProxy(t.url, ca)
  const pg = await pgServer()
  pgProxy = await pgTlsProxy(pg.host, pg.port, ca)
}, 60_000)

afterAll(async () => {
  for (const db of dbs) await deleteDb(t, db)
  couchProxy.stop()
  await pgProxy.stop()
  await closeDatabases()
  await t.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The binary with only `env` (the proxies run in this process: never block it with a sync spawn). */
const run = async (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const proc = Bun.spawn([binaryPath, ...args, "--no-env-file"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LOG_FORMAT: "json", ...env },
    stdout: "pipe",
    stderr: "pipe",
  })
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000)
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  clearTimeout(timer)
  return { stdout, stderr, code }
}

const couchEnv = () => ({ COUCHDB_URL: couchProxy.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD: t.password })

/** The seeded PostgreSQL database reached through the TLS proxy by name (localhost), verify-full. */
const verifiedPgUrl = (url: string) => {
  const u = new URL(url)
  u.hostname = "localhost"
  u.port = String(pgProxy.port)
  u.searchParams.set("sslmode", "verify-full")
  return u.toString()
}

describe("CouchDB over https://", () => {
  test("with the CA in NODE_EXTRA_CA_CERTS the purge runs", async () => {
    const db = await createDb(t, "dbsweep-tls")
    dbs.push(db)
    const seeded = await seed(t, db, { live: 5, tombstones: 30 })
    const r = await run(["purge", "--db", db], { ...couchEnv(), NODE_EXTRA_CA_CERTS: ca.caFile })
    expect(r.code).toBe(0)
    expect(await checkPurged(t, db, seeded)).toBe("")
  })

  test.each([
    ["no CA given", {}],
    ["another CA given", { otherCa: true }],
  ])("%s: one line naming NODE_EXTRA_CA_CERTS, exit 3, not retried, nothing purged", async (_, how) => {
    const db = await createDb(t, "dbsweep-tls")
    dbs.push(db)
    await seed(t, db, { live: 5, tombstones: 30 })
    const env: Record<string, string> = { ...couchEnv(), COUCHDB_DB_NAME: db }
    if ("otherCa" in how) env.NODE_EXTRA_CA_CERTS = otherCa.caFile
    const r = await run(["purge", "--retries", "3"], env)
    expect(r.code).toBe(3)
    // One line: no "retrying" warning before it.
    expect(r.stderr.trim().split("\n")).toEqual([
      `dbsweep: the TLS certificate of ${couchProxy.url} is not signed by a CA this machine trusts: if it is the right server, trust the CA that signed it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`,
    ])
    expect(r.stderr).not.toContain(t.password)
    expect((await dbInfo(t, db)).doc_del_count).toBe(30)
  })
})

test("NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment is warned about on every run", async () => {
  const db = await createDb(t, "dbsweep-tls")
  dbs.push(db)
  await seed(t, db, { tombstones: 3 })
  const r = await run(["purge", "--db", db, "--dry-run"], {
    ...couchEnv(),
    NODE_TLS_REJECT_UNAUTHORIZED: "0",
  })
  expect(r.stderr).toContain("NODE_TLS_REJECT_UNAUTHORIZED=0 is set: TLS certificates are NOT checked")
  expect(r.code).toBe(0)
})

describe("PostgreSQL with sslmode=verify-full", () => {
  test("with the CA in NODE_EXTRA_CA_CERTS the cleanup runs over TLS", async () => {
    const size = { users: 40, pending: 40 }
    const { url, sql } = await seededDatabase(size, "tls")
    const dry = await run(["cleanup", "--dry-run", "--json"], {
      DATABASE_URL: verifiedPgUrl(url),
      NODE_EXTRA_CA_CERTS: ca.caFile,
    })
    expect(dry.code).toBe(0)
    expect(JSON.parse(dry.stdout).matched).toBe(expectedMatches(size))
    const real = await run(["cleanup"], { DATABASE_URL: verifiedPgUrl(url), NODE_EXTRA_CA_CERTS: ca.caFile })
    expect(real.code).toBe(0)
    expect(await count(sql, matching)).toBe(0)
  })

  test("an untrusted certificate: one line naming NODE_EXTRA_CA_CERTS, exit 3, nothing deleted", async () => {
    const size = { users: 20, pending: 20 }
    const { url, sql } = await seededDatabase(size, "tls")
    const r = await run(["cleanup", "--retries", "3"], { DATABASE_URL: verifiedPgUrl(url) })
    expect(r.code).toBe(3)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toStartWith("dbsweep: the TLS certificate of postgres@localhost:")
    expect(lines[0]).toContain("NODE_EXTRA_CA_CERTS=")
    expect(await count(sql, matching)).toBe(expectedMatches(size))
  })
})
