/**
 * Makes docs/status-page.png, README's picture of the status page: the CouchDB-API test server
 * seeded with a few databases, a throwaway PostgreSQL with pending sign-ups, the serve app with
 * schedules, some finished runs (one stopped), and a purge running while chromium takes the shot.
 * Run: node_modules/.bin/bun scripts/page-screenshot.ts [--out PATH]
 */
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Either, Option } from "effect"
import { chromium } from "playwright-core"
import { scheduleJobs } from "../src/http/schedules.ts"
import { cron, every } from "../src/jobs/schedule.ts"
import { post, startServe, waitForRun } from "../test/http/serve-harness.ts"
import { startCouchServer } from "../test/support/couch-server.ts"
import type { CouchTarget } from "../test/support/couch-target.ts"
import { seed } from "../test/support/couch-target.ts"
import { closeDatabases, seededDatabase } from "../test/support/pg-fixtures.ts"

const at = process.argv.indexOf("--out")
const out = at >= 0 ? process.argv[at + 1]! : join(import.meta.dir, "..", "docs", "status-page.png")
const user = "admin"
const password = "screenshot-Passw0rd"
const server = await startCouchServer({ admin: { user, password } })
const t: CouchTarget = {
  url: server.url,
  user,
  password,
  faults: (f) => server.setFaults(f),
  stop: () => server.stop(),
}
const databases: Record<string, { live: number; tombstones: number }> = {
  "audit-log": { live: 900, tombstones: 40 },
  invoices: { live: 1200, tombstones: 80 },
  orders: { live: 300, tombstones: 2400 },
  sessions: { live: 150, tombstones: 6200 },
  "users-eu": { live: 800, tombstones: 950 },
  "users-us": { live: 1100, tombstones: 60 },
}
for (const [db, counts] of Object.entries(databases)) {
  await fetch(`${server.url}/${db}`, {
    method: "PUT",
    headers: { authorization: `Basic ${btoa(`${user}:${password}`)}` },
  })
  await seed(t, db, counts)
}
const pg = await seededDatabase({ users: 400, pending: 600 }, "shot")
const s = await startServe({ couch: t, pg: pg.url })
const url = s.listen()
const profile = mkdtempSync(join(tmpdir(), "dbsweep-shot-"))
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
})
try {
  const run = async (body: Record<string, unknown>, path = "/jobs/purge") =>
    waitForRun(s, ((await (await post(s, path, body)).json()) as { id: string }).id, 120_000)
  await run({ db: "audit-log" })
  await run({ db: "invoices", dryRun: true, list: true })
  await run({ db: "invoices" })
  await run({ dryRun: true }, "/jobs/cleanup")
  await run({ batchSize: 40 }, "/jobs/cleanup")
  // A stopped run: slow answers, stopped soon after it starts.
  server.setFaults({ latencyMs: 400 })
  const stopped = (
    (await (await post(s, "/jobs/purge", { db: "users-eu", concurrency: 2 })).json()) as { id: string }
  ).id
  await Bun.sleep(1500)
  await s.request(`/jobs/${stopped}`, {
    method: "DELETE",
    headers: { authorization: "Bearer test-token-0123456789abcdef" },
  })
  await s.runtime.runPromise(
    scheduleJobs({
      purge: Option.some(every(Duration.hours(6))),
      purgeDb: Option.some("orders"),
      cleanup: Option.none(),
    }),
  )
  await s.runtime.runPromise(
    scheduleJobs({
      purge: Option.none(),
      purgeDb: Option.none(),
      cleanup: Option.some(Either.getOrThrow(cron("0 * * * *"))),
    }),
  )
  // New sign-ups since the cleanup, some of them already users.
  await pg.sql`insert into users (email) select 'late' || i || '@example.com' from generate_series(1, 37) i`
  await pg.sql`insert into pending_users (email) select 'LATE' || i || '@example.com' from generate_series(1, 52) i`
  // The scheduled purge of orders runs now; sessions is purged by hand while the shot is taken.
  server.setFaults({ latencyMs: 250 })
  await post(s, "/jobs/purge", { db: "sessions" })
  const page = await browser.newPage()
  await page.goto(`${url}/`)
  await page.locator("#db-table").waitFor()
  await page.locator("#cleanup-pending").waitFor()
  await page.waitForFunction(() => {
    const p = document.querySelector<HTMLProgressElement>("#running-list li.run progress")
    return (
      p !== null &&
      p.value > p.max * 0.3 &&
      p.value < p.max * 0.8 &&
      document.querySelector('[aria-busy="true"]') === null
    )
  })
  // The top of the page (README's picture stays small): running, databases, cleanup, schedules, charts.
  await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1780 } })
  console.log(`${out}: ${statSync(out).size} bytes`)
} finally {
  server.setFaults({})
  await browser.close()
  rmSync(profile, { recursive: true, force: true })
  await s.close()
  await closeDatabases()
  await server.stop()
}
