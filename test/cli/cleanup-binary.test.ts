import { afterEach, describe, expect, test } from "bun:test"
import { startHostileServer } from "../cleanup/hostile-servers.ts"
import { ensureBinary, runBinary as runWithin, spawnBinary as spawnRaw } from "../support/binary.ts"
import {
  checksum,
  closeDatabases,
  count,
  matching,
  runBinary,
  seededDatabase,
  spawnBinary,
} from "../support/pg-fixtures.ts"
import { pgPassword, unusedPort } from "../support/pg-server.ts"

interface Summary {
  readonly skipped: boolean
  readonly deleted: number
  readonly batches: number
}
const summaries = (stdout: string): Array<Summary> =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Summary)

afterEach(closeDatabases)
const database = (size: { users: number; pending: number }) => {
  ensureBinary()
  return seededDatabase(size, "bin")
}

describe("dbsweep cleanup (compiled binary)", () => {
  test("two processes started at once: one skips on the advisory lock, and deletions are exact", async () => {
    const { url, sql } = await database({ users: 6000, pending: 6000 })
    const users = await checksum(sql, "users")
    const args = ["cleanup", "--json", "--batch", "5", "--concurrency", "1"]
    const a = spawnBinary(args, { DATABASE_URL: url })
    const b = spawnBinary(args, { DATABASE_URL: url })
    const outs = await Promise.all(
      [a, b].map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text() })),
    )
    expect(outs.map((o) => o.code)).toEqual([0, 0])
    const runs = outs.flatMap((o) => summaries(o.out))
    expect(runs).toHaveLength(2)
    expect(runs.filter((r) => r.skipped)).toHaveLength(1)
    expect(runs.reduce((n, r) => n + r.deleted, 0)).toBe(3000)
    // A real run reports what it deleted; it does not count matches up front, so no "matched": 0.
    expect(runs.every((r) => !("matched" in r))).toBe(true)
    expect(await count(sql, matching)).toBe(0)
    expect(await count(sql, "select 1 from pending_users")).toBe(3000)
    expect(await checksum(sql, "users")).toBe(users)
  })

  test("the daemon runs at a short interval, picks up new matches, and stops on SIGTERM with exit 0", async () => {
    const { url, sql } = await database({ users: 200, pending: 200 })
    const daemon = spawnBinary(["cleanup", "--every", "300ms", "--json"], { DATABASE_URL: url })
    const stdout = new Response(daemon.stdout).text()
    for (let i = 0; i < 100 && (await count(sql, matching)) > 0; i++) await Bun.sleep(50)
    expect(await count(sql, matching)).toBe(0)
    // A sign-up whose email later turns out to be a user's: the next run removes it.
    await sql`insert into pending_users (email) values ('Late@Example.com')`
    await sql`insert into users (email) values ('late@example.com')`
    for (let i = 0; i < 100 && (await count(sql, matching)) > 0; i++) await Bun.sleep(50)
    expect(await count(sql, matching)).toBe(0)
    // Let the run that deleted it end and print its summary (the next starts 300 ms later).
    await Bun.sleep(600)
    daemon.kill("SIGTERM")
    expect(await daemon.exited).toBe(0)
    const runs = summaries(await stdout)
    expect(runs.length).toBeGreaterThanOrEqual(2)
    expect(runs.reduce((n, r) => n + r.deleted, 0)).toBe(101)
  })

  test("SIGINT during a single run: in-flight batches finish, a summary, exit 130; the next run completes", async () => {
    const { url, sql } = await database({ users: 20000, pending: 20000 })
    const run = spawnBinary(["cleanup", "--json", "--batch", "10", "--concurrency", "1"], {
      DATABASE_URL: url,
    })
    const stdout = new Response(run.stdout).text()
    for (let i = 0; i < 500 && (await count(sql, "select 1 from pending_users")) >= 20000; i++)
      await Bun.sleep(10)
    run.kill("SIGINT")
    expect(await run.exited).toBe(130)
    const [first] = summaries(await stdout) as Array<Summary & { interrupted: boolean }>
    expect(first?.interrupted).toBe(true)
    expect(first?.deleted).toBe(20000 - (await count(sql, "select 1 from pending_users")))
    const rest = await runBinary(["cleanup", "--json"], { DATABASE_URL: url })
    expect(rest.code).toBe(0)
    expect((first?.deleted ?? 0) + (summaries(rest.stdout)[0]?.deleted ?? 0)).toBe(10000)
    expect(await count(sql, matching)).toBe(0)
  })

  test("--history-table keeps one row per run, dry runs included", async () => {
    const { url, sql } = await database({ users: 30, pending: 30 })
    const dry = await runBinary(["cleanup", "--dry-run", "--history-table", "cleanup_runs"], {
      DATABASE_URL: url,
    })
    expect(dry.code).toBe(0)
    const real = await runBinary(["cleanup", "--history-table", "cleanup_runs"], { DATABASE_URL: url })
    expect(real.code).toBe(0)
    const rows = await sql<
      Array<{ dry_run: boolean; deleted: string; skipped: boolean; error: string | null }>
    >`
      select dry_run, deleted::text as deleted, skipped, error from cleanup_runs order by id`
    expect(rows.map((r) => [r.dry_run, Number(r.deleted), r.skipped, r.error])).toEqual([
      [true, 0, false, null],
      [false, 15, false, null],
    ])
  })

  test("a wrong password exits 3 with one line, and the password appears nowhere", async () => {
    const { url } = await database({ users: 1, pending: 1 })
    const wrong = new URL(url)
    const secret = "N0t-The-Passw0rd"
    wrong.password = secret
    const r = await runBinary(["cleanup", "--retries", "1", "--retry-base", "10ms"], {
      DATABASE_URL: wrong.toString(),
    })
    expect(r.code).toBe(3)
    expect(r.stdout + r.stderr).not.toContain(secret)
    expect(r.stdout + r.stderr).not.toContain(pgPassword)
    expect(
      r.stderr
        .trim()
        .split("\n")
        .filter((l) => !l.startsWith("{")),
    ).toHaveLength(1)
  })

  test("a server that is down: retried, then exit 3 naming the server", async () => {
    const port = await unusedPort()
    const r = await runBinary(["cleanup", "--retries", "2", "--retry-base", "10ms"], {
      DATABASE_URL: `postgres://app:${pgPassword}@127.0.0.1:${port}/app`,
    })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`127.0.0.1:${port}`)
    expect(r.stdout + r.stderr).not.toContain(pgPassword)
  })

  test("a missing table or column, or a malicious identifier, exits 2 and executes nothing", async () => {
    const { url, sql } = await database({ users: 50, pending: 50 })
    await sql`create table x (id int)`
    const before = await count(sql, "select 1 from pending_users")
    for (const flags of [
      ["--users-table", "users; drop table x"],
      ["--pending-table", 'pending_users"; drop table x; --'],
      ["--users-table", "no_such_table"],
      ["--pending-email-column", "no_such_column"],
    ]) {
      const r = await runBinary(["cleanup", ...flags], { DATABASE_URL: url })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(flags[1]!.split(";")[0]!.replaceAll('"', ""))
    }
    expect(await count(sql, "select 1 from x")).toBe(0)
    expect(await count(sql, "select 1 from pending_users")).toBe(before)
  })

  test("--archive-table or --history-table naming the users, pending or an unrelated table: exit 2 before anything is written", async () => {
    const { url, sql } = await database({ users: 40, pending: 40 })
    await sql`create table pending2 (like pending_users including all)`
    await sql`insert into pending2 select * from pending_users`
    await sql`create table audit (id int primary key, note text)`
    await sql`insert into audit values (1, 'keep me')`
    const tables = ["users", "pending_users", "pending2", "audit"]
    const sums = async () => Promise.all(tables.map((t) => checksum(sql, t)))
    const before = await sums()
    for (const flags of [
      ["--pending-table", "pending2", "--archive-table", "users"],
      ["--pending-table", "pending2", "--archive-table", "pending2"],
      ["--archive-table", "audit"],
      ["--archive-table", "audit", "--dry-run"],
      ["--history-table", "users"],
      ["--history-table", "audit"],
    ]) {
      const r = await runBinary(["cleanup", ...flags], { DATABASE_URL: url })
      expect(r.code, `${flags.join(" ")}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toContain(flags.includes("--history-table") ? "--history-table" : "--archive-table")
    }
    expect(await sums()).toEqual(before)
    expect(
      await count(sql, "select 1 from information_schema.columns where column_name = 'archived_at'"),
    ).toBe(0)
  })

  test("a DATABASE_URL at a server that is not PostgreSQL: exit 3 within the connect timeout, one connection per attempt", async () => {
    await Promise.all(
      (["http", "garbage", "silent"] as const).map(async (kind) => {
        const server = await startHostileServer(kind)
        try {
          const started = Date.now()
          const r = await runWithin(
            ["cleanup", "--dry-run", "--retries", "1", "--retry-base", "10ms", "--no-env-file"],
            {
              env: {
                DATABASE_URL: `postgres://app:${pgPassword}@127.0.0.1:${server.port}/appdb`,
                PGCONNECT_TIMEOUT: "1",
                LOG_FORMAT: "json",
              },
              timeoutMs: 20_000,
            },
          )
          const seconds = (Date.now() - started) / 1000
          expect(r.code, `${kind}: ${r.stderr}`).toBe(3)
          expect(r.stderr).toContain(`127.0.0.1:${server.port}`)
          expect(r.stderr).toContain("did not answer as PostgreSQL")
          // Two attempts at most (--retries 1), each within PGCONNECT_TIMEOUT, plus start-up.
          expect(seconds, kind).toBeLessThan(2 * 1 + 3)
          expect(server.connections(), kind).toBeGreaterThanOrEqual(1)
          expect(server.connections(), kind).toBeLessThanOrEqual(2)
          expect(r.stdout + r.stderr).not.toContain(pgPassword)
        } finally {
          await server.close()
        }
      }),
    )
  })

  test("SIGTERM while a silent server is being tried stops the run at once", async () => {
    const server = await startHostileServer("silent")
    try {
      const run = spawnRaw(["cleanup", "--no-env-file"], {
        env: {
          DATABASE_URL: `postgres://app:x@127.0.0.1:${server.port}/appdb`,
          PGCONNECT_TIMEOUT: "30",
          LOG_FORMAT: "json",
        },
      })
      await Bun.sleep(500)
      const signalled = Date.now()
      run.kill("SIGTERM")
      const code = await Promise.race([run.exited, Bun.sleep(5000).then(() => "still running")])
      if (code === "still running") run.kill("SIGKILL")
      expect(code).toBe(130)
      expect(Date.now() - signalled).toBeLessThan(3000)
      expect(server.connections()).toBe(1)
    } finally {
      await server.close()
    }
  })

  test("--statement-timeout below the minimum is refused naming it; at the minimum a run deletes cleanly", async () => {
    const { url, sql } = await database({ users: 200, pending: 200 })
    const tiny = await runBinary(["cleanup", "--statement-timeout", "1ms"], { DATABASE_URL: url })
    expect(tiny.code).toBe(2)
    expect(tiny.stderr).toContain("--statement-timeout")
    expect(tiny.stderr).toContain("100ms")
    expect(await count(sql, matching)).toBe(100)
    const r = await runBinary(["cleanup", "--statement-timeout", "100ms", "--json"], { DATABASE_URL: url })
    expect(r.code, r.stderr).toBe(0)
    expect(summaries(r.stdout)[0]?.deleted).toBe(100)
    expect(r.stderr).not.toMatch(/Bun v|^\s+at /m)
  })
})
