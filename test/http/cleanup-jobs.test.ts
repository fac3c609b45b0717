import { afterAll, describe, expect, test } from "bun:test"
import { closeDatabases, count, expectedMatches, matching, seededDatabase } from "../support/pg-fixtures.ts"
import { post, type Serve, startServe, waitForRun } from "./serve-harness.ts"

const servers: Array<Serve> = []
afterAll(async () => {
  for (const s of servers) await s.close()
  await closeDatabases()
})

const metric = async (s: Serve, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await (await s.request("/metrics")).text())?.[1] ?? 0)

describe("POST /jobs/cleanup against a real PostgreSQL", () => {
  test("a dry run counts, a run deletes every match, and /metrics moves by the summary's deleted", async () => {
    const size = { users: 300, pending: 400 }
    const { url, sql } = await seededDatabase(size, "h")
    const s = await startServe({ pg: url })
    servers.push(s)
    const dry = await post(s, "/jobs/cleanup", { dryRun: true, batchSize: 25 })
    expect(dry.status).toBe(202)
    const dryEnd = await waitForRun(s, ((await dry.json()) as { id: string }).id)
    expect(dryEnd.state).toBe("succeeded")
    expect(dryEnd.summary.matched).toBe(expectedMatches(size))
    expect(await count(sql, matching)).toBe(expectedMatches(size))

    const before = await metric(s, "dbsweep_cleanup_rows_deleted_total")
    const real = await post(s, "/jobs/cleanup", { batchSize: 25 })
    const end = await waitForRun(s, ((await real.json()) as { id: string }).id)
    expect(end.state).toBe("succeeded")
    expect(end.summary.deleted).toBe(expectedMatches(size))
    expect(await count(sql, matching)).toBe(0)
    expect((await metric(s, "dbsweep_cleanup_rows_deleted_total")) - before).toBe(
      end.summary.deleted as number,
    )
    expect(((await (await s.request("/readyz")).json()) as { ready: boolean }).ready).toBe(true)
  })

  test("the page's cleanup section: its tables, the rows matching now (a dry run's count), its runs and chart", async () => {
    const size = { users: 200, pending: 300 }
    const { url, sql } = await seededDatabase(size, "h")
    const s = await startServe({ pg: url })
    servers.push(s)
    const glance = await (await s.request("/page/cleanup")).text()
    expect(glance).toContain("<dd>public.users (email)</dd>")
    expect(glance).toContain("<dd>public.pending_users (email)</dd>")
    const pending = /id="cleanup-pending"><strong class="big">([\d,]+)<\/strong>/.exec(glance)?.[1]
    expect(Number(pending?.replace(/,/g, ""))).toBe(expectedMatches(size))
    expect(glance).toContain("No cleanup run yet.")
    expect(glance).toContain("none scheduled")

    const real = await post(s, "/jobs/cleanup", { batchSize: 50 })
    const end = await waitForRun(s, ((await real.json()) as { id: string }).id)
    expect(end.summary.deleted).toBe(expectedMatches(size))
    expect(await count(sql, matching)).toBe(0)
    // The count is read again after a run, not served from the cache.
    const after = await (await s.request("/page/cleanup")).text()
    expect(/id="cleanup-pending"><strong class="big">([\d,]+)<\/strong>/.exec(after)?.[1]).toBe("0")
    expect(after).toContain(`<dt>deleted</dt><dd>${expectedMatches(size).toLocaleString("en-US")}`)
    const history = await (await s.request("/page/history")).text()
    expect(history.match(/<g class="point ok"/g)).toHaveLength(1)
    expect(history).toContain('id="cleanup-chart"')
  })

  test("with a cleanup history table: every run records there, and the page charts and lists the recorded runs (another host's too) beside its own, each once", async () => {
    const size = { users: 100, pending: 150 }
    const { url, sql } = await seededDatabase(size, "h")
    const s = await startServe({ pg: url, cleanupHistoryTable: "page_cleanup_runs" })
    servers.push(s)
    // The page paints first and reads the table after (its script loads the section).
    const first = await (await s.request("/")).text()
    expect(first).toContain(
      '<div id="history-box" aria-busy="true"><p class="muted">Reading the cleanup history…</p>',
    )
    // Nothing recorded yet (the table does not exist until the first run): no error, no point.
    const empty = await (await s.request("/page/history")).text()
    expect(empty).toContain("recorded in public.page_cleanup_runs")
    expect(empty).not.toContain("Cannot read")
    expect(empty).not.toContain('<g class="point')

    // A run without historyTable in its body records to the table serve was given.
    const real = await post(s, "/jobs/cleanup", { batchSize: 50 })
    const id = ((await real.json()) as { id: string }).id
    const end = await waitForRun(s, id)
    expect(end.state).toBe("succeeded")
    const rows = await sql`select host, deleted::int as deleted from page_cleanup_runs`
    expect(rows.map((r) => r.deleted)).toEqual([expectedMatches(size)])
    // Another replica's run, an hour earlier, and a failed one of the CLI.
    await sql`insert into page_cleanup_runs (started_at, ended_at, host, target, dry_run, skipped, deleted, batches, failed_batches, error)
      values (now() - interval '1 hour', now() - interval '1 hour' + interval '2 seconds', 'replica-b', 'public.pending_users', false, false, 7, 1, 0, null),
             (now() - interval '2 hours', now() - interval '2 hours' + interval '1 second', 'cron-box', 'public.pending_users', false, false, 0, 0, 0, 'lock timeout: run again')`

    const history = await (await s.request("/page/history")).text()
    const chart =
      /<figure[^>]*>(?:(?!<\/figure>)[\s\S])*id="cleanup-chart"[\s\S]*?<\/figure>/.exec(history)?.[0] ?? ""
    expect(chart.match(/<g class="point /g)).toHaveLength(3)
    expect(chart.match(/<g class="point failed"/g)).toHaveLength(1)
    // Oldest first: the failed run, the replica's 7 rows, this server's run (its runner id, not the table's).
    expect([...chart.matchAll(/data-run="([^"]+)"/g)].map((m) => m[1])).toEqual([
      expect.stringMatching(/^page_cleanup_runs#\d+$/),
      expect.stringMatching(/^page_cleanup_runs#\d+$/),
      id,
    ])
    expect(history).toContain("<dt>host</dt><dd>replica-b</dd>")
    expect(history).toContain("lock timeout: run again")
    const glance = await (await s.request("/page/cleanup")).text()
    expect(glance.match(/<dt>deleted<\/dt>/g)).toHaveLength(3)
    expect(glance).toContain("<dt>host</dt><dd>cron-box</dd>")

    // A table that is not a run history: the page says why in one line, and shows the server's own runs.
    const other = await startServe({ pg: url, cleanupHistoryTable: "users" })
    servers.push(other)
    const refused = await (await other.request("/page/history")).text()
    expect(refused).toMatch(
      /<p class="error" id="recorded-note">Cannot read the cleanup history public\.users: [^<\n]+<\/p>/,
    )
    expect(refused).toContain('id="cleanup-chart-empty"')
  })

  test("a bad cleanup body is 400 naming the field", async () => {
    const { url } = await seededDatabase({ users: 1, pending: 1 }, "h")
    const s = await startServe({ pg: url })
    servers.push(s)
    const r = await post(s, "/jobs/cleanup", { batchSize: 0 })
    expect(r.status).toBe(400)
    expect(((await r.json()) as { message: string }).message).toContain("batchSize")
    const nested = await post(s, "/jobs/cleanup", { target: { pendingTable: "a.b" } })
    expect(nested.status).toBe(400)
    expect(((await nested.json()) as { message: string }).message).toContain("target.pendingTable")
  })
})
