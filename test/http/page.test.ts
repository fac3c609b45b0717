import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import {
  type CouchTarget,
  createDb,
  dbInfo,
  deleteDb,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { post, type Serve, startServe, TOKEN, waitForRun } from "./serve-harness.ts"

const root = join(import.meta.dir, "..", "..")
const artifacts = join(root, "test", "artifacts")
const axePath = join(root, "node_modules", "axe-core", "axe.min.js")
const profile = mkdtempSync(join(tmpdir(), "dbsweep-chromium-"))
/** A prefix no other suite uses, so the filter shows only this suite's databases (also on a real CouchDB). */
const prefix = `pagetest${Date.now().toString(36)}`
let t: CouchTarget
let s: Serve
let url: string
let browser: BrowserContext
const dbs: Array<string> = []

/** Four databases with different documents and tombstones; the last is the one purged. */
const seeds = [
  { live: 40, tombstones: 2 },
  { live: 5, tombstones: 60 },
  { live: 120, tombstones: 25 },
  { live: 10, tombstones: 3000 },
]

beforeAll(async () => {
  t = await startCouchTarget()
  for (const counts of seeds) {
    const db = await createDb(t, prefix)
    await seed(t, db, counts)
    dbs.push(db)
  }
  s = await startServe({ couch: t })
  url = s.listen()
  mkdirSync(artifacts, { recursive: true })
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  })
}, 60_000)
afterAll(async () => {
  await browser?.close()
  t?.faults?.({})
  await s?.close()
  for (const db of dbs) await deleteDb(t, db)
  await t?.stop()
  rmSync(profile, { recursive: true, force: true })
})

/** Runs axe-core in the page; its serious and critical violations. */
const axeViolations = async (page: Page) => {
  await page.addScriptTag({ path: axePath })
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (ctx: Document) => Promise<{
            violations: Array<{ id: string; impact: string; nodes: Array<{ target: Array<string> }> }>
          }>
        }
      }
    ).axe
    const result = await axe.run(document)
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      at: v.nodes.map((n) => n.target.join(" ")).slice(0, 3),
    }))
  })
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical")
}

/** The databases table's rows as the page shows them. */
const tableRows = async (page: Page) =>
  page.locator("#db-table tbody tr[data-db]").evaluateAll((trs) =>
    trs.map((tr) => ({
      db: tr.getAttribute("data-db") ?? "",
      docs: Number((tr.querySelector(".docs")?.textContent ?? "").replace(/,/g, "")),
      tombstones: Number((tr.querySelector(".tombstones")?.textContent ?? "").replace(/,/g, "")),
    })),
  )

const openFiltered = async (page: Page, query = `q=${prefix}-*`) => {
  await page.goto(`${url}/?${query}`)
  await page.locator("#db-table").waitFor({ timeout: 20_000 })
}

const signIn = async (page: Page) => {
  await page.fill("#token", TOKEN)
  await page.click("#sign-in button[type=submit]")
  await page.locator("#signed-in").waitFor({ state: "visible" })
}

const purgeRuns = async () =>
  (
    (await (await s.request("/jobs")).json()) as Array<{
      job: string
      state: string
      summary?: { dryRun?: boolean }
    }>
  ).filter((r) => r.job === "purge" && r.state !== "running" && r.summary?.dryRun !== true)

describe("the status page in a real browser", () => {
  test("the databases table: names, documents and tombstones as GET /{db} says; sorting by each column; the name filter", async () => {
    const page = await browser.newPage()
    await openFiltered(page)
    await page.screenshot({ path: join(artifacts, "status-page-idle.png"), fullPage: true })
    const rows = await tableRows(page)
    expect(rows.map((r) => r.db)).toEqual([...dbs].sort())
    for (const r of rows) {
      const info = await dbInfo(t, r.db)
      expect({ db: r.db, docs: r.docs, tombstones: r.tombstones }).toEqual({
        db: r.db,
        docs: info.doc_count,
        tombstones: info.doc_del_count,
      })
    }
    // Tombstones: the first click sorts the largest first, the second the smallest first.
    await page.click('a.sort[data-sort="tombstones"]')
    await page.locator('th[aria-sort="descending"] a[data-sort="tombstones"]').waitFor()
    await page.locator("#db-table").waitFor()
    const byTombstones = (await tableRows(page)).map((r) => r.tombstones)
    expect(byTombstones).toEqual([...byTombstones].sort((a, b) => b - a))
    expect(byTombstones[0]).toBe(3000)
    await page.click('a.sort[data-sort="tombstones"]')
    await page.locator('th[aria-sort="ascending"] a[data-sort="tombstones"]').waitFor()
    await page.locator("#db-table").waitFor()
    expect((await tableRows(page)).map((r) => r.tombstones)).toEqual([...byTombstones].reverse())
    // Every other column sorts, and says so to assistive technology.
    for (const key of ["docs", "share", "file", "reclaimable", "lastPurge", "verdict", "name"]) {
      await page.click(`a.sort[data-sort="${key}"]`)
      await page.locator(`th[aria-sort]:not([aria-sort="none"]) a[data-sort="${key}"]`).waitFor()
      await page.locator("#db-table").waitFor()
      expect((await tableRows(page)).length).toBe(dbs.length)
    }
    await page.click('a.sort[data-sort="docs"]')
    await page.locator('th[aria-sort="descending"] a[data-sort="docs"]').waitFor()
    await page.locator("#db-table").waitFor()
    const byDocs = (await tableRows(page)).map((r) => r.docs)
    expect(byDocs).toEqual([...byDocs].sort((a, b) => b - a))
    // Name descending, from _all_dbs read backwards.
    await page.click('a.sort[data-sort="name"]')
    await page.click('a.sort[data-sort="name"]')
    await page.locator('th[aria-sort="descending"] a[data-sort="name"]').waitFor()
    await page.locator("#db-table").waitFor()
    expect((await tableRows(page)).map((r) => r.db)).toEqual([...dbs].sort().reverse())
    // The filter: a glob, then plain text (matched anywhere in the name).
    const one = dbs[1]!
    await page.fill("#db-filter", `${prefix}-*${one.slice(-4)}`)
    await page.click("form.filter button[type=submit]")
    await page.waitForURL(/q=/)
    await page.locator("#db-table").waitFor()
    expect((await tableRows(page)).map((r) => r.db)).toEqual([one])
    await page.fill("#db-filter", one.slice(prefix.length + 1))
    await page.click("form.filter button[type=submit]")
    await page.locator("#db-table").waitFor()
    expect((await tableRows(page)).map((r) => r.db)).toEqual([one])
    await page.fill("#db-filter", `${prefix}-nothing-*`)
    await page.click("form.filter button[type=submit]")
    await page.locator("#db-table").waitFor()
    expect(await page.locator("#db-table .empty").textContent()).toContain("No database matches")
    await page.close()
  }, 60_000)

  test("the token form: actions ask for it, it is kept for the tab only and never shown in the page", async () => {
    const page = await browser.newPage()
    await openFiltered(page)
    expect(await page.locator("label[for=token]").textContent()).toBe("Token")
    // Without the token a dry run is refused, and the page says to sign in.
    await page.click(`button.dry-run[data-db="${dbs[0]}"]`)
    await page.locator("#message", { hasText: "This action needs the token: sign in" }).waitFor()
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("token")
    await signIn(page)
    expect(await page.evaluate(() => sessionStorage.getItem("dbsweep-token"))).toBe(TOKEN)
    expect(await page.content()).not.toContain(TOKEN)
    // A wrong token is dropped when refused.
    await page.click("#sign-out")
    await page.fill("#token", "not-the-token-at-all-0000")
    await page.click("#sign-in button[type=submit]")
    await page.click(`button.dry-run[data-db="${dbs[0]}"]`)
    await page.locator("#message", { hasText: "The token was refused" }).waitFor()
    expect(await page.evaluate(() => sessionStorage.getItem("dbsweep-token"))).toBeNull()
    expect(await page.locator("#sign-in-fields").isVisible()).toBe(true)
    await page.close()
  }, 60_000)

  test("a dry run from a row shows its count and first ids; a purge moves its bar, then the row's tombstones are 0 and the chart has one point per finished run", async () => {
    const db = dbs[3]!
    const page = await browser.newPage()
    await openFiltered(page)
    await signIn(page)
    const row = page.locator(`tr[data-db="${db}"]`)
    await row.locator("button.dry-run").click()
    await row.locator(".result", { hasText: "would purge 3,000 tombstones" }).waitFor({ timeout: 30_000 })
    expect(await row.locator(".result").textContent()).toMatch(/first ids: tomb-\d{6}(, tomb-\d{6}){9}$/)
    expect((await dbInfo(t, db)).doc_del_count).toBe(3000)

    // Slow answers (on the test server) so the bar is seen between empty and full.
    t.faults?.({ latencyMs: 60 })
    await row.locator("button.purge").click()
    const bar = page.locator("#running-list li.run progress")
    await bar.waitFor({ timeout: 20_000 })
    if (t.faults !== undefined) {
      await page.waitForFunction(
        () => {
          const p = document.querySelector<HTMLProgressElement>("#running-list li.run progress")
          return p !== null && p.value > 0 && p.value < p.max
        },
        undefined,
        { timeout: 20_000, polling: 10 },
      )
      expect(await page.locator("#running-list li.run .words").textContent()).toContain("/s")
      await page.screenshot({ path: join(artifacts, "status-page-purging.png"), fullPage: true })
    }
    await row.locator(".result", { hasText: "purged 3,000 revisions" }).waitFor({ timeout: 60_000 })
    t.faults?.({})
    await page.locator("#nothing-running").waitFor({ timeout: 20_000 })
    expect((await dbInfo(t, db)).doc_del_count).toBe(0)
    await page.locator(`tr[data-db="${db}"] .tombstones`, { hasText: /^0$/ }).waitFor({ timeout: 20_000 })
    expect(await page.locator(`tr[data-db="${db}"] .last-purge time`).count()).toBe(1)

    // History: one chart point per finished (non-dry) purge, labelled fields, never JSON.
    await page.locator("#purge-chart").waitFor()
    expect(await page.locator("#purge-chart g.point").count()).toBe((await purgeRuns()).length)
    const summary = page.locator("#history-table tbody tr").first().locator(".summary")
    expect(await summary.locator("dt").allTextContents()).toEqual([
      "purged",
      "already gone",
      "failed",
      "requests",
      "retries",
      "duration",
      "checkpoint saved",
    ])
    expect(await summary.textContent()).not.toContain("{")
    await page.screenshot({ path: join(artifacts, "status-page-after.png"), fullPage: true })
    await page.close()
  }, 120_000)

  test("a purge of many databases shows a bar per database at work, named and counted, from the event stream; then one history row and chart point", async () => {
    // Three databases, two purged at a time: the third one's bar can only come from the stream.
    const many: Array<string> = []
    const each = 900
    for (let i = 0; i < 3; i++) {
      const db = await createDb(t, `${prefix}-many`)
      dbs.push(db)
      many.push(db)
      await seed(t, db, { live: 3, tombstones: each })
    }
    // Paced (300 tombstones a second in each database, on a real CouchDB too): each is seen at work for about 3 s.
    const started = await post(s, "/jobs/purge", {
      dbs: [`${prefix}-many-*`],
      dbConcurrency: 2,
      batch: 50,
      concurrency: 1,
      maxRate: 300,
    })
    expect(started.status).toBe(202)
    const id = ((await started.json()) as { id: string }).id
    // The page is opened once a database is at work: its first bars come with the page, the rest from the stream.
    for (;;) {
      const status = (await (await s.request(`/jobs/${id}`)).json()) as {
        state: string
        progress: { parts?: Array<unknown> }
      }
      expect(status.state).toBe("running")
      if ((status.progress.parts ?? []).length > 0) break
      await Bun.sleep(10)
    }
    const page = await browser.newPage()
    await openFiltered(page)
    const run = page.locator(`#running-list li.run[data-run="${id}"]`)
    await run.locator("ul.parts li.part").first().waitFor({ timeout: 30_000 })
    const seen = new Map<string, { done: number; total: number; label: string | null }>()
    let most = 0
    let checked = false
    for (;;) {
      const parts = await run.locator("ul.parts li.part").evaluateAll((lis) =>
        lis.map((li) => {
          const bar = li.querySelector("progress") as HTMLProgressElement
          return {
            db: li.getAttribute("data-db") ?? "",
            name: li.querySelector(".part-name")?.textContent ?? "",
            label: bar.getAttribute("aria-label"),
            done: bar.value,
            total: bar.max,
            words: li.querySelector(".part-words")?.textContent ?? "",
          }
        }),
      )
      most = Math.max(most, parts.length)
      for (const p of parts) {
        expect(p.name).toBe(p.db)
        expect(p.words).toMatch(/^[\d,]+ \/ [\d,]+$/)
        seen.set(p.db, { done: p.done, total: p.total, label: p.label })
      }
      if (!checked && parts.some((p) => p.done > 0)) {
        // Mid-run, with the bars shown: still nothing serious for axe-core.
        checked = true
        await page.screenshot({ path: join(artifacts, "status-page-purging-many.png"), fullPage: true })
        expect(await axeViolations(page)).toEqual([])
      }
      if ((await run.count()) === 0) break
      await page.waitForTimeout(25)
    }
    expect([...seen.keys()].sort()).toEqual([...many].sort())
    expect(most).toBeGreaterThanOrEqual(1)
    expect(most).toBeLessThanOrEqual(2)
    for (const [db, p] of seen) expect(p.label).toBe(db)
    expect(checked).toBe(true)
    const done = await waitForRun(s, id, 60_000)
    expect(done.state).toBe("succeeded")
    for (const db of many) expect((await dbInfo(t, db)).doc_del_count).toBe(0)
    await page.locator("#nothing-running").waitFor({ timeout: 20_000 })
    // The history: the run is one row, its summary labelled fields with how its databases ended.
    await page.locator(`#history-table tr[data-run="${id}"]`).waitFor({ timeout: 20_000 })
    const summary = page.locator(`#history-table tr[data-run="${id}"] .summary`)
    expect(await summary.locator("dt").allTextContents()).toEqual([
      "databases",
      "purged",
      "already gone",
      "failed",
      "requests",
      "retries",
      "duration",
    ])
    expect(await summary.locator("dd").first().textContent()).toBe("3 (3 succeeded, 0 failed)")
    const all = (3 * each).toLocaleString("en-US")
    expect(await summary.textContent()).toContain(`${all} revisions of ${all} tombstones`)
    expect(await page.locator(`#purge-chart g.point[data-run="${id}"]`).count()).toBe(1)
    expect(await page.locator("#purge-chart g.point").count()).toBe((await purgeRuns()).length)
    await page.close()
  }, 180_000)

  test("a run stopped from the page shows as stopped, in the history and on the chart", async () => {
    const db = await createDb(t, prefix)
    dbs.push(db)
    // A real CouchDB has no slow-down switch: more tombstones keep the run going until Stop.
    await seed(t, db, { tombstones: t.faults === undefined ? 20_000 : 4000 })
    const page = await browser.newPage()
    await openFiltered(page)
    await signIn(page)
    t.faults?.({ latencyMs: 150 })
    await page.locator(`tr[data-db="${db}"] button.purge`).click()
    const stop = page.locator(`#running-list li.run[data-target="${db}"] button.stop`)
    await stop.waitFor({ timeout: 20_000 })
    await stop.click()
    await page.locator("#message", { hasText: "stopped" }).waitFor({ timeout: 30_000 })
    t.faults?.({})
    const runs = await purgeRuns()
    const stopped = runs.find((r) => r.state === "interrupted")
    expect(stopped).toBeDefined()
    await page.reload()
    const id = (stopped as unknown as { id: string }).id
    expect(await page.locator(`#history-table tr[data-run="${id}"] .badge`).textContent()).toBe("stopped")
    expect(await page.locator(`#purge-chart g.point.stopped[data-run="${id}"]`).count()).toBe(1)
    expect(await page.locator("#purge-chart g.point").count()).toBe(runs.length)
    await page.close()
  }, 120_000)

  test("axe-core finds no serious or critical accessibility violation", async () => {
    const page = await browser.newPage()
    await openFiltered(page)
    expect(await axeViolations(page)).toEqual([])
    // The keyboard reaches the sign-in field and the first row's actions.
    await page.keyboard.press("Tab")
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("token")
    await page.close()
  }, 60_000)
})
