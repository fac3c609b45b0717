/**
 * Bad input to `dbsweep cleanup`, table-driven, against the compiled binary: every mistake a user
 * can make with the flags, the CLEANUP_* and PG* variables or DATABASE_URL ends with the right exit
 * code (2 usage/config, 3 cannot connect) and one `dbsweep: …` line naming what to fix, with no
 * secret in any form. One seeded database is shared (every case here must leave it as it was, which
 * is checked after each case that reaches it), and small hostile servers stand in for a wrong port.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { tmpdir } from "node:os"
import { type HostileServer, startHostileServer } from "../cleanup/hostile-servers.ts"
import { expectCleanFailure } from "../support/bad-input.ts"
import { checksum, closeDatabases, runBinary, seededDatabase } from "../support/pg-fixtures.ts"
import { pgPassword, unusedPort } from "../support/pg-server.ts"

interface World {
  /** The seeded database, with the test password in it. */
  readonly url: string
  readonly port: number
  readonly http: HostileServer
  readonly garbage: HostileServer
  readonly silent: HostileServer
  readonly downPort: number
}

interface Case {
  readonly name: string
  readonly args: ReadonlyArray<string>
  /** The environment; DATABASE_URL is the seeded database unless given. */
  readonly env?: (w: World) => Record<string, string>
  readonly code: 2 | 3
  /** Must appear in the error line. */
  readonly names: (w: World) => ReadonlyArray<string>
  /** Secrets besides the database password, which is checked in every case. */
  readonly secrets?: ReadonlyArray<string>
  readonly user?: string
  /** The run reaches the database: its tables must be byte-identical afterwards. */
  readonly touches?: boolean
  /** A hostile server the case points at: it must see at most this many connections. */
  readonly server?: (w: World) => HostileServer
  /**
   * Upper bound on the run's duration: the connect timeout plus a wide margin for a loaded
   * machine. It tells "gives up after the timeout" from "hangs" (the bug: minutes), not speed.
   */
  readonly maxMs?: number
}

const local = (w: World, path = "app") => `postgres://postgres:${pgPassword}@127.0.0.1:${w.port}/${path}`
const at = (port: number) => `postgres://app:${pgPassword}@127.0.0.1:${port}/appdb`
const wrongPassword = "Wr0ng-Secret-Passw0rd"
const percentPassword = "Ap:p@ss/w%rd#1"

const cases: ReadonlyArray<Case> = [
  // Tables the cleanup must never write to, and tables that are not what a setting needs.
  {
    name: "the same table as users and pending table",
    args: ["--users-table", "pending_users", "--pending-table", "pending_users", "--dry-run"],
    code: 2,
    names: () => ["--users-table", "--pending-table"],
  },
  {
    name: "--archive-table naming the users table",
    args: ["--archive-table", "users"],
    code: 2,
    names: () => ["--archive-table", "users table"],
  },
  {
    name: "--archive-table naming the pending table",
    args: ["--archive-table", "pending_users"],
    code: 2,
    names: () => ["--archive-table", "pending table"],
  },
  {
    name: "--archive-table naming an unrelated existing table",
    args: ["--archive-table", "audit"],
    code: 2,
    names: () => ["--archive-table", '"audit"', "archived_at"],
    touches: true,
  },
  {
    name: "--archive-table naming an unrelated table, in a dry run",
    args: ["--archive-table", "audit", "--dry-run"],
    code: 2,
    names: () => ["--archive-table", '"audit"'],
    touches: true,
  },
  {
    name: "--archive-table naming a view",
    args: ["--archive-table", "audit_view"],
    code: 2,
    names: () => ["--archive-table", "a view"],
    touches: true,
  },
  {
    name: "--history-table naming the users table",
    args: ["--history-table", "users", "--dry-run"],
    code: 2,
    names: () => ["--history-table", "users table"],
  },
  {
    name: "--history-table naming a table of another shape",
    args: ["--history-table", "audit"],
    code: 2,
    names: () => ["--history-table", '"audit"'],
    touches: true,
  },
  {
    name: "--history-table naming the archive table",
    args: ["--archive-table", "deleted_rows", "--history-table", "deleted_rows"],
    code: 2,
    names: () => ["--history-table", "archive table"],
  },
  {
    name: "--archive-table and --archive-file together",
    args: ["--archive-table", "deleted_rows", "--archive-file", "deleted.ndjson"],
    code: 2,
    names: () => ["--archive-table", "--archive-file"],
  },
  {
    name: "--archive-table with a schema in it",
    args: ["--archive-table", "other.deleted_rows"],
    code: 2,
    names: () => ["--archive-table", "--schema"],
  },
  {
    name: "a pending email column of type integer",
    args: ["--pending-table", "pending_numbers"],
    code: 2,
    names: () => ['"pending_numbers"."email"', "integer", "--pending-email-column"],
    touches: true,
  },
  {
    name: "a users email column of type integer",
    args: ["--users-table", "users_numbers", "--dry-run"],
    code: 2,
    names: () => ['"users_numbers"."email"', "integer", "--users-email-column"],
    touches: true,
  },
  {
    name: "a view as the pending table",
    args: ["--pending-table", "audit_view"],
    code: 2,
    names: () => ["--pending-table", "view"],
    touches: true,
  },
  {
    name: "a schema that does not exist",
    args: ["--schema", "no_such_schema"],
    code: 2,
    names: () => ["--schema", "no_such_schema"],
    touches: true,
  },
  {
    name: "a pending table that does not exist",
    args: ["--pending-table", "no_such_table"],
    code: 2,
    names: () => ["--pending-table", "no_such_table"],
    touches: true,
  },
  {
    name: "an email column that does not exist",
    args: ["--pending-email-column", "mail"],
    code: 2,
    names: () => ["--pending-email-column", '"mail"'],
    touches: true,
  },
  {
    name: "--archive-file in a directory that does not exist",
    args: ["--archive-file", "/nonexistent-dbsweep-dir/deleted.ndjson"],
    code: 2,
    names: () => ["--archive-file", "/nonexistent-dbsweep-dir"],
    touches: true,
  },
  {
    name: "--archive-file naming a directory",
    args: ["--archive-file", tmpdir(), "--dry-run"],
    code: 2,
    names: () => ["--archive-file", "directory"],
    touches: true,
  },
  // Limits that would crash, hang or never let a batch finish.
  {
    name: "--statement-timeout 1ms",
    args: ["--statement-timeout", "1ms"],
    code: 2,
    names: () => ["--statement-timeout", "100ms"],
  },
  {
    name: "--lock-timeout 0 (PostgreSQL would wait forever)",
    args: ["--lock-timeout", "0"],
    code: 2,
    names: () => ["--lock-timeout", "CLEANUP_LOCK_TIMEOUT"],
  },
  {
    name: "--lock-timeout of a day",
    args: ["--lock-timeout", "1d"],
    code: 2,
    names: () => ["--lock-timeout", "10m"],
  },
  // Numbers and durations.
  {
    name: "CLEANUP_BATCH=abc",
    args: [],
    env: (w) => ({ DATABASE_URL: w.url, CLEANUP_BATCH: "abc" }),
    code: 2,
    names: () => ["--batch", "CLEANUP_BATCH", "whole number"],
  },
  { name: "--batch abc", args: ["--batch", "abc"], code: 2, names: () => ["--batch", "CLEANUP_BATCH"] },
  { name: "--batch 0", args: ["--batch", "0"], code: 2, names: () => ["--batch", "from 1"] },
  { name: "--batch -5", args: ["--batch", "-5"], code: 2, names: () => ["--batch", "from 1"] },
  {
    name: "--batch of 10^20",
    args: ["--batch", "100000000000000000000"],
    code: 2,
    names: () => ["--batch", "1000000"],
  },
  {
    name: "--retries abc",
    args: ["--retries", "abc"],
    code: 2,
    names: () => ["--retries", "CLEANUP_RETRIES"],
  },
  {
    name: "--retry-base abc",
    args: ["--retry-base", "abc"],
    code: 2,
    names: () => ["--retry-base", "CLEANUP_RETRY_BASE"],
  },
  {
    name: "--concurrency 0",
    args: ["--concurrency", "0"],
    code: 2,
    names: () => ["--concurrency", "CLEANUP_CONCURRENCY"],
  },
  { name: "--sample -1", args: ["--sample", "-1"], code: 2, names: () => ["--sample", "CLEANUP_SAMPLE"] },
  {
    name: "CLEANUP_CASE_SENSITIVE=maybe",
    args: ["--dry-run"],
    env: (w) => ({ DATABASE_URL: w.url, CLEANUP_CASE_SENSITIVE: "maybe" }),
    code: 2,
    names: () => ["CLEANUP_CASE_SENSITIVE", "true or false"],
  },
  // Schedules.
  { name: "--every abc", args: ["--every", "abc"], code: 2, names: () => ["--every", "duration"] },
  { name: "--every 0", args: ["--every", "0"], code: 2, names: () => ["--every", "100ms"] },
  {
    name: "--every 30d (longer than a timer can wait)",
    args: ["--every", "30d"],
    code: 2,
    names: () => ["--every", "24d"],
  },
  {
    name: "--every with --cron",
    args: ["--every", "1h", "--cron", "0 * * * *"],
    code: 2,
    names: () => ["--every", "--cron"],
  },
  { name: "--interval abc", args: ["--interval", "abc"], code: 2, names: () => ["--interval", "hours"] },
  {
    name: "--cron on February 30 (never fires)",
    args: ["--cron", "0 0 30 2 *"],
    code: 2,
    names: () => ["--cron", "never fires"],
  },
  {
    name: "--cron with six fields",
    args: ["--cron", "0 0 0 * * *"],
    code: 2,
    names: () => ["--cron", "five fields"],
  },
  {
    name: "--cron that is not cron",
    args: ["--cron", "0 25 * * *"],
    code: 2,
    names: () => ["--cron", "five fields"],
  },
  // DATABASE_URL and the PG* variables.
  {
    name: "an unencoded % and # in the DATABASE_URL password",
    args: ["--dry-run"],
    env: (w) => ({ DATABASE_URL: `postgres://app:${percentPassword}@127.0.0.1:${w.port}/db` }),
    code: 2,
    names: () => ["DATABASE_URL", "percent-encoded"],
    secrets: [percentPassword, "w%rd#1"],
    user: "app",
  },
  {
    name: "an unencoded % in the DATABASE_URL password",
    args: ["--dry-run"],
    env: (w) => ({ DATABASE_URL: `postgres://app:50%off-Secret@127.0.0.1:${w.port}/db` }),
    code: 2,
    names: () => ["DATABASE_URL", "% that is not followed by two hex digits"],
    secrets: ["50%off-Secret"],
    user: "app",
  },
  {
    name: "a DATABASE_URL that is not a PostgreSQL URL",
    args: ["--dry-run"],
    env: () => ({ DATABASE_URL: `http://app:${pgPassword}@127.0.0.1/db` }),
    code: 2,
    names: () => ["DATABASE_URL", "postgres://"],
  },
  {
    name: "?sslmode=bogus in DATABASE_URL",
    args: ["--dry-run", "--retries", "0"],
    env: (w) => ({ DATABASE_URL: `${w.url}?sslmode=bogus` }),
    code: 2,
    names: () => ["DATABASE_URL", "sslmode=bogus", "verify-full"],
  },
  {
    name: "PGSSLMODE=bogus",
    args: ["--dry-run"],
    env: (w) => ({ DATABASE_URL: w.url, PGSSLMODE: "bogus" }),
    code: 2,
    names: () => ["PGSSLMODE", "verify-full"],
  },
  {
    name: "PGCONNECT_TIMEOUT=abc",
    args: ["--dry-run"],
    env: (w) => ({ DATABASE_URL: w.url, PGCONNECT_TIMEOUT: "abc" }),
    code: 2,
    names: () => ["PGCONNECT_TIMEOUT", "whole number"],
  },
  {
    name: "PGCONNECT_TIMEOUT=0 (libpq: wait forever)",
    args: ["--dry-run"],
    env: (w) => ({ DATABASE_URL: w.url, PGCONNECT_TIMEOUT: "0" }),
    code: 2,
    names: () => ["PGCONNECT_TIMEOUT", "from 1"],
  },
  {
    name: "PGPORT=abc",
    args: ["--dry-run"],
    env: () => ({ PGHOST: "127.0.0.1", PGPORT: "abc", PGPASSWORD: pgPassword }),
    code: 2,
    names: () => ["PGPORT", "65535"],
  },
  {
    name: "a database that does not exist",
    args: ["--dry-run", "--retries", "0"],
    env: (w) => ({ DATABASE_URL: local(w, "no_such_database") }),
    code: 2,
    names: () => ["no_such_database", "DATABASE_URL"],
  },
  // Servers that cannot be used.
  {
    name: "a wrong password (absent from the output in every form)",
    args: ["--dry-run", "--retries", "0"],
    env: (w) => ({ DATABASE_URL: local(w, "postgres").replace(pgPassword, wrongPassword) }),
    code: 3,
    names: (w) => [`127.0.0.1:${w.port}`, "password"],
    secrets: [wrongPassword],
    user: "postgres",
  },
  {
    name: "a server that is down",
    args: ["--dry-run", "--retries", "0"],
    env: (w) => ({ DATABASE_URL: at(w.downPort) }),
    code: 3,
    names: (w) => [`127.0.0.1:${w.downPort}`, "is the server running"],
  },
  {
    name: "PGHOST naming a unix socket directory that does not exist",
    args: ["--dry-run", "--retries", "0"],
    env: () => ({ PGHOST: "/nonexistent/dir", PGUSER: "app", PGPASSWORD: pgPassword }),
    code: 3,
    names: () => ["/nonexistent/dir/.s.PGSQL.5432", "PGHOST"],
  },
  {
    name: "a DATABASE_URL naming a unix socket that does not exist",
    args: ["--dry-run", "--retries", "0"],
    env: () => ({ DATABASE_URL: `postgres://app:${pgPassword}@%2Fnonexistent/db` }),
    code: 3,
    names: () => ["/nonexistent/.s.PGSQL.5432", "DATABASE_URL"],
  },
  {
    name: "an HTTP server at the PostgreSQL port",
    args: ["--dry-run", "--retries", "0"],
    env: (w) => ({ DATABASE_URL: at(w.http.port), PGCONNECT_TIMEOUT: "2" }),
    code: 3,
    names: (w) => [`127.0.0.1:${w.http.port}`, "did not answer as PostgreSQL", "HTTP"],
    server: (w) => w.http,
    maxMs: 2000 + 12_000,
  },
  {
    name: "a server that sends garbage",
    args: ["--dry-run", "--retries", "3", "--retry-base", "10ms"],
    env: (w) => ({ DATABASE_URL: at(w.garbage.port), PGCONNECT_TIMEOUT: "2" }),
    code: 3,
    names: (w) => [`127.0.0.1:${w.garbage.port}`, "did not answer as PostgreSQL"],
    server: (w) => w.garbage,
    maxMs: 2000 + 12_000,
  },
  {
    name: "a server that accepts and says nothing",
    args: ["--dry-run", "--retries", "0"],
    env: (w) => ({ DATABASE_URL: at(w.silent.port), PGCONNECT_TIMEOUT: "1" }),
    code: 3,
    names: (w) => [`127.0.0.1:${w.silent.port}`, "PGCONNECT_TIMEOUT"],
    server: (w) => w.silent,
    maxMs: 1000 + 12_000,
  },
]

const tables = ["users", "pending_users", "audit", "pending_numbers", "users_numbers"]
let world: World
let sql: Awaited<ReturnType<typeof seededDatabase>>["sql"]
let before: Array<string>
const sums = () => Promise.all(tables.map((t) => checksum(sql, t)))

beforeAll(async () => {
  const db = await seededDatabase({ users: 200, pending: 200 }, "bad")
  sql = db.sql
  await sql`create table audit (id int primary key, note text)`
  await sql`insert into audit values (1, 'keep me'), (2, 'me too')`
  await sql`create view audit_view as select * from audit`
  await sql`create table pending_numbers (id int primary key, email int)`
  await sql`insert into pending_numbers values (1, 1), (2, 2)`
  await sql`create table users_numbers (id int primary key, email int)`
  await sql`insert into users_numbers values (1, 1)`
  const [http, garbage, silent, downPort] = await Promise.all([
    startHostileServer("http"),
    startHostileServer("garbage"),
    startHostileServer("silent"),
    unusedPort(),
  ])
  world = { url: db.url, port: Number(new URL(db.url).port), http, garbage, silent, downPort }
  before = await sums()
})

afterAll(async () => {
  await Promise.all([world?.http.close(), world?.garbage.close(), world?.silent.close()])
  await closeDatabases()
})

describe("dbsweep cleanup: bad input", () => {
  test("the table has enough cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(22)
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })

  for (const c of cases) {
    test.concurrent(c.name, async () => {
      const env = c.env?.(world) ?? { DATABASE_URL: world.url }
      const started = Date.now()
      const r = await runBinary(["cleanup", ...c.args], env)
      const ms = Date.now() - started
      expectCleanFailure(r, {
        code: c.code,
        names: c.names(world),
        secrets: [pgPassword, ...(c.secrets ?? [])],
        user: c.user ?? "postgres",
      })
      if (c.maxMs !== undefined) expect(ms).toBeLessThan(c.maxMs)
      if (c.server !== undefined) {
        // One connection per attempt, never a reconnect loop; a wrong server is not retried.
        expect(c.server(world).connections()).toBe(1)
      }
      if (c.touches === true) expect(await sums()).toEqual(before)
    })
  }

  test("afterwards every table is as it was, and none gained archived_at", async () => {
    // Runs after the concurrent cases above (bun runs a file's tests in order).
    expect(await sums()).toEqual(before)
    const [row] = await sql`select count(*)::int as n from information_schema.columns
      where table_schema = 'public' and column_name = 'archived_at'`
    expect(row?.n).toBe(0)
  })
})
