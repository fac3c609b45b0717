/**
 * `make bench` (status page part): what a server with many databases costs the page. The
 * CouchDB-API test server runs in its own process behind a counting proxy (this process); the
 * binary's `dbsweep serve` talks to the proxy; Debian's chromium loads the page. For 50 and then
 * 10,000 databases (flag --dbs N) it prints the first contentful paint, the time until the
 * databases table is shown and the requests made to CouchDB: the first load, a reload within the
 * details cache, and a sort by tombstones (which needs every database's details). Goal: the first
 * page of 10,000 databases costs what 50 do (ratio ≈ 1). With COUCHDB_URL (a server admin in
 * COUCHDB_USER / COUCHDB_PASSWORD) it runs against that CouchDB, creating and then deleting its
 * `pagebench-` databases.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium } from "playwright-core"
import { arg, bin, couchTarget, startAndRead } from "./support.ts"

const MANY = arg("dbs", 10_000)
const FEW = 50
/** The CouchDB-API test server, or a real CouchDB when COUCHDB_URL is set (its databases created and deleted here). */
const couch = await couchTarget()
const couchUser = couch.user
const couchPassword = couch.password

let requests = 0
const proxy = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: async (req) => {
    requests += 1
    const url = new URL(req.url)
    const res = await fetch(`${couch.url}${url.pathname}${url.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
    })
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers })
  },
})

let created = 0
/** Databases `pagebench-000000…` up to `n`, each with a few documents and tombstones. */
const createUpTo = async (n: number) => {
  const names = Array.from(
    { length: n - created },
    (_, i) => `pagebench-${String(created + i).padStart(6, "0")}`,
  )
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (db, j) => {
        await couch.call("PUT", `/${db}`)
        const k = (created + i + j) % 7
        if (k === 0) return
        const docs = Array.from({ length: k * 3 }, (_, d) => ({ _id: `d${d}` }))
        const saved = (await couch.call("POST", `/${db}/_bulk_docs`, { docs })) as Array<{
          id: string
          rev: string
        }>
        const gone = saved.slice(0, k * 2).map((s) => ({ _id: s.id, _rev: s.rev, _deleted: true }))
        await couch.call("POST", `/${db}/_bulk_docs`, { docs: gone })
      }),
    )
  }
  created = n
}

const profile = mkdtempSync(join(tmpdir(), "dbsweep-bench-chromium-"))
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
})

interface Measure {
  readonly fcpMs: number
  readonly tableMs: number
  readonly couchRequests: number
}

const measure = async (base: string, path: string): Promise<Measure> => {
  const page = await browser.newPage()
  const before = requests
  const started = Date.now()
  await page.goto(`${base}${path}`)
  await page.locator("#db-table").waitFor({ timeout: 600_000 })
  const tableMs = Date.now() - started
  const fcpMs = await page.evaluate(
    () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN,
  )
  await page.close()
  return { fcpMs: Math.round(fcpMs), tableMs, couchRequests: requests - before }
}

const round = async (n: number) => {
  await createUpTo(n)
  const serve = await startAndRead(
    [bin, "serve", "--port", "0", "--no-env-file"],
    {
      COUCHDB_URL: proxy.url.href.replace(/\/$/, ""),
      COUCHDB_USER: couchUser,
      COUCHDB_PASSWORD: couchPassword,
    },
    /listening on (http:\/\/[0-9.]+:\d+)/,
    "stderr",
  )
  try {
    const first = await measure(serve.match, "/?q=pagebench-*")
    const reload = await measure(serve.match, "/?q=pagebench-*")
    const sorted = await measure(serve.match, "/?q=pagebench-*&sort=tombstones&dir=desc")
    return { first, reload, sorted }
  } finally {
    serve.proc.kill("SIGTERM")
    await serve.proc.exited
  }
}

try {
  const few = await round(FEW)
  const many = await round(MANY)
  const line = (label: string, m: Measure) =>
    `  ${label.padEnd(28)} FCP ${String(m.fcpMs).padStart(6)} ms   table ${String(m.tableMs).padStart(7)} ms   CouchDB requests ${m.couchRequests}`
  for (const [n, r] of [
    [FEW, few],
    [MANY, many],
  ] as const) {
    console.log(`${n} databases:`)
    console.log(line("first load", r.first))
    console.log(line("reload (details cached)", r.reload))
    console.log(line("sort by tombstones", r.sorted))
  }
  console.log(
    `first page, ${MANY} vs ${FEW} databases: FCP ×${(many.first.fcpMs / few.first.fcpMs).toFixed(2)}, table ×${(many.first.tableMs / few.first.tableMs).toFixed(2)}, CouchDB requests ${many.first.couchRequests} vs ${few.first.couchRequests} (goal: ≈ 1×)`,
  )
} finally {
  await browser.close()
  rmSync(profile, { recursive: true, force: true })
  proxy.stop(true)
  if (couch.real) {
    for (let i = 0; i < created; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, created - i) }, (_, j) =>
          couch.call("DELETE", `/pagebench-${String(i + j).padStart(6, "0")}`).catch(() => undefined),
        ),
      )
    }
  } else await couch.stop()
}
