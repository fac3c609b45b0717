import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium } from "playwright-core"
import {
  type CouchTarget,
  checkPurged,
  createDb,
  dbInfo,
  seed,
  startCouchTarget,
} from "../support/couch-target.ts"
import { type Serve, startServe, TOKEN } from "./serve-harness.ts"

const artifacts = join(import.meta.dir, "..", "artifacts")
const profile = mkdtempSync(join(tmpdir(), "dbsweep-chromium-"))
let t: CouchTarget
let s: Serve
let browser: BrowserContext

beforeAll(async () => {
  t = await startCouchTarget()
  s = await startServe({ couch: t })
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
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
})
afterAll(async () => {
  await browser?.close()
  await s.close()
  await t.stop()
  rmSync(profile, { recursive: true, force: true })
})

describe("the status page in a real browser", () => {
  test("a dry run then a run of purge, started from the page with the token, show their summaries live", async () => {
    const db = await createDb(t)
    const seeded = await seed(t, db, { live: 10, tombstones: 120 })
    const url = s.listen()
    const page = await browser.newPage()
    const prompts: Array<string> = []
    page.on("dialog", (d) => {
      prompts.push(d.message())
      void d.accept(TOKEN)
    })
    await page.goto(`${url}/`)
    expect(await page.locator("h1").textContent()).toBe("dbsweep")
    // No cleanup backend here: the page says so instead of failing.
    expect(await page.locator(".unavailable").textContent()).toContain("cleanup is unavailable")
    await page.fill("#db", db)

    await page.click("#dry-run")
    const dryRow = page.locator("#runs tbody tr").first()
    await dryRow.locator(".state", { hasText: "succeeded" }).waitFor({ timeout: 20_000 })
    expect(await dryRow.locator(".summary").textContent()).toContain('"dryRun":true')
    expect(await dryRow.locator(".summary").textContent()).toContain('"tombstones":120')
    expect(prompts).toEqual(["dbsweep token"])
    expect((await dbInfo(t, db)).doc_del_count).toBe(120)

    await page.click("#run")
    await page.locator("#message", { hasText: "run purge-" }).waitFor()
    const runRow = page.locator("#runs tbody tr").first()
    await runRow.locator(".state", { hasText: "succeeded" }).waitFor({ timeout: 20_000 })
    expect(await runRow.locator(".summary").textContent()).toContain('"purgedRevs":120')
    expect(await runRow.locator(".progress").textContent()).toContain("120 / ")
    // The token was asked once (kept for the tab) and is nowhere in the page.
    expect(prompts.length).toBe(1)
    expect(await page.content()).not.toContain(TOKEN)
    expect(await checkPurged(t, db, seeded)).toBe("")

    // Reloaded, the server renders both runs itself.
    await page.reload()
    expect(await page.locator("#runs tbody tr").count()).toBeGreaterThanOrEqual(2)
    mkdirSync(artifacts, { recursive: true })
    await page.screenshot({ path: join(artifacts, "status-page.png"), fullPage: true })
  })
})
