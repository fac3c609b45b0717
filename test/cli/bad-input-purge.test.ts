/**
 * Bad input for `dbsweep purge` and the global flags, run against the compiled binary: wrong flags
 * and variables, files that cannot be used, and servers that are down, hostile or not CouchDB.
 * Every case: the exit code, one `dbsweep:` line naming what is at fault, no internal noise, no
 * secret in any form, and the data untouched (nothing is purged by a refused run).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expectCleanFailure } from "../support/bad-input.ts"
import { runBinary } from "../support/binary.ts"
import { type CouchTarget, createDb, dbInfo, seed, startCouchTarget } from "../support/couch-target.ts"
import {
  echoAuthServer,
  garbageServer,
  type Hostile,
  htmlServer,
  httpServer,
  hugeBodyServer,
  invalidJsonServer,
  silentServer,
  wrongShapeServer,
} from "../support/hostile.ts"
import { unusedPort } from "../support/pg-server.ts"

let t: CouchTarget
let db: string
let before: { doc_count: number; doc_del_count: number }
const dir = mkdtempSync(join(tmpdir(), "dbsweep-bad-purge-"))
const servers: Record<string, Hostile> = {}
let huge: ReturnType<typeof hugeBodyServer>
let downPort: number

/** A password with every character that needs encoding somewhere. */
const hostilePassword = "Ap:p@ss/w%rd#1 ?&="
const hostileUser = "dbsweep-nobody"

beforeAll(async () => {
  t = await startCouchTarget()
  db = await createDb(t, "bad-input")
  await seed(t, db, { live: 20, tombstones: 30, conflictedTombstones: 3, liveConflicts: 2 })
  before = await dbInfo(t, db)
  servers.html = htmlServer()
  servers.invalidJson = invalidJsonServer()
  servers.wrongShape = wrongShapeServer()
  servers.garbage = await garbageServer()
  servers.silent = await silentServer()
  servers.echo = echoAuthServer()
  servers.locked = httpServer(
    () =>
      new Response(
        JSON.stringify({
          error: "forbidden",
          reason: "Account is temporarily locked due to multiple authentication failures",
        }),
        { status: 403, headers: { "content-type": "application/json" } },
      ),
  )
  huge = hugeBodyServer(2 * 1024 * 1024 * 1024)
  downPort = await unusedPort()
  mkdirSync(join(dir, "a-directory"))
  writeFileSync(join(dir, "a-file"), "not a directory\n")
  writeFileSync(join(dir, "password"), "s3cret-from-file\n")
})

afterAll(async () => {
  await Promise.all([...Object.values(servers), huge].map((s) => s.stop()))
  await t.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The admin's settings for the suite's CouchDB. */
const admin = () => ({ COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD: t.password })
/** Credentials of someone who does not exist (never the admin: a real CouchDB locks out after 5 misses). */
const stranger = (url: string) => ({
  COUCHDB_URL: url,
  COUCHDB_USER: hostileUser,
  COUCHDB_PASSWORD: hostilePassword,
})
/** The same, inside the URL, percent-encoded as a user would paste it. */
const inUrl = (url: string) => {
  const u = new URL(url)
  u.username = hostileUser
  u.password = encodeURIComponent(hostilePassword)
  return { COUCHDB_URL: u.toString() }
}

interface Case {
  readonly name: string
  readonly args: () => ReadonlyArray<string>
  readonly env: () => Record<string, string>
  readonly code: number
  /** Each must appear in the error line. */
  readonly names: () => ReadonlyArray<string>
  readonly timeoutMs?: number
}

const purge =
  (...args: ReadonlyArray<string>) =>
  () => ["purge", "--no-env-file", ...args]
const onDb =
  (...args: ReadonlyArray<string>) =>
  () => ["purge", "--no-env-file", "--db", db, ...args]

const cases: ReadonlyArray<Case> = [
  // Settings: exit 2, naming the flag or variable.
  {
    name: "no server given",
    args: purge("--db", "x"),
    env: () => ({}),
    code: 2,
    names: () => ["COUCHDB_URL"],
  },
  {
    name: "COUCHDB_URL is not a URL",
    args: purge("--db", "x"),
    env: () => ({ COUCHDB_URL: "not a url" }),
    code: 2,
    names: () => ["COUCHDB_URL"],
  },
  {
    name: "COUCHDB_URL with another scheme",
    args: purge("--db", "x"),
    env: () => ({ COUCHDB_URL: "ftp://127.0.0.1/" }),
    code: 2,
    names: () => ["COUCHDB_URL", "http"],
  },
  { name: "no database", args: purge(), env: admin, code: 2, names: () => ["--db", "COUCHDB_DB_NAME"] },
  { name: "--db empty", args: purge("--db", ""), env: admin, code: 2, names: () => ["--db", "empty"] },
  {
    name: "COUCHDB_DB_NAME empty",
    args: purge(),
    env: () => ({ ...admin(), COUCHDB_DB_NAME: "" }),
    code: 2,
    names: () => ["COUCHDB_DB_NAME", "empty"],
  },
  {
    name: "--db with capitals",
    args: purge("--db", "Orders"),
    env: admin,
    code: 2,
    names: () => ["--db", '"Orders"', "lowercase letter"],
  },
  {
    name: "--db with a newline",
    args: purge("--db", "orders\nx"),
    env: admin,
    code: 2,
    names: () => ["--db", "\\n", "lowercase letter"],
  },
  {
    // --db may be given again (several databases), so the repeated flag is another one.
    name: "--concurrency given twice",
    args: onDb("--concurrency", "2", "--concurrency", "3"),
    env: admin,
    code: 2,
    names: () => ["--concurrency", "once"],
  },
  {
    name: "--db without a value",
    args: purge("--json", "--db"),
    env: admin,
    code: 2,
    names: () => ["--db", "value"],
  },
  {
    name: "--retries abc",
    args: onDb("--retries", "abc"),
    env: admin,
    code: 2,
    names: () => ["--retries", "abc"],
  },
  {
    name: "--retries -1",
    args: onDb("--retries", "-1"),
    env: admin,
    code: 2,
    names: () => ["--retries", "0 to 100"],
  },
  {
    name: "--concurrency 0",
    args: onDb("--concurrency", "0"),
    env: admin,
    code: 2,
    names: () => ["--concurrency"],
  },
  {
    name: "--batch abc",
    args: onDb("--batch", "abc"),
    env: admin,
    code: 2,
    names: () => ["--batch", "auto"],
  },
  {
    name: "--page-size -5",
    args: onDb("--page-size", "-5"),
    env: admin,
    code: 2,
    names: () => ["--page-size"],
  },
  {
    name: "--retry-base 5y",
    args: onDb("--retry-base", "5y"),
    env: admin,
    code: 2,
    names: () => ["--retry-base"],
  },
  { name: "--timeout 0s", args: onDb("--timeout", "0s"), env: admin, code: 2, names: () => ["--timeout"] },
  {
    name: "COUCHDB_TIMEOUT=abc",
    args: onDb(),
    env: () => ({ ...admin(), COUCHDB_TIMEOUT: "abc" }),
    code: 2,
    names: () => ["COUCHDB_TIMEOUT"],
  },
  {
    name: "--log-format bogus",
    args: onDb("--log-format", "bogus"),
    env: admin,
    code: 2,
    names: () => ["--log-format"],
  },
  {
    name: "LOG_FORMAT=bogus",
    args: onDb(),
    env: () => ({ ...admin(), LOG_FORMAT: "bogus" }),
    code: 2,
    names: () => ["LOG_FORMAT", "pretty"],
  },
  {
    name: "--log-level bogus",
    args: onDb("--log-level", "bogus"),
    env: admin,
    code: 2,
    names: () => ["--log-level", "warning"],
  },
  {
    name: "LOG_LEVEL=bogus",
    args: onDb(),
    env: () => ({ ...admin(), LOG_LEVEL: "bogus" }),
    code: 2,
    names: () => ["LOG_LEVEL"],
  },
  {
    name: "--wizard without a terminal",
    args: onDb("--wizard"),
    env: admin,
    code: 2,
    names: () => ["--wizard"],
  },
  {
    name: "--env-file with --no-env-file",
    args: () => ["purge", "--db", db, "--env-file", join(dir, "x.env"), "--no-env-file"],
    env: admin,
    code: 2,
    names: () => ["--env-file", "--no-env-file"],
  },
  {
    name: "--env-file that does not exist",
    args: () => ["purge", "--db", db, "--env-file", join(dir, "missing.env")],
    env: admin,
    code: 2,
    names: () => ["--env-file"],
  },
  {
    name: "COUCHDB_PASSWORD and COUCHDB_PASSWORD_FILE both set",
    args: onDb(),
    env: () => ({ ...admin(), COUCHDB_PASSWORD_FILE: join(dir, "password") }),
    code: 2,
    names: () => ["COUCHDB_PASSWORD", "COUCHDB_PASSWORD_FILE"],
  },
  {
    name: "COUCHDB_PASSWORD_FILE that does not exist",
    args: onDb(),
    env: () => ({ COUCHDB_URL: t.url, COUCHDB_USER: t.user, COUCHDB_PASSWORD_FILE: join(dir, "nope") }),
    code: 2,
    names: () => ["COUCHDB_PASSWORD_FILE"],
  },
  {
    name: "a user without a password",
    args: onDb(),
    env: () => ({ COUCHDB_URL: t.url, COUCHDB_USER: t.user }),
    code: 2,
    names: () => ["COUCHDB_PASSWORD"],
  },
  {
    name: "--list with --json",
    args: onDb("--list", "--json"),
    env: admin,
    code: 2,
    names: () => ["--list", "--json"],
  },
  {
    name: "--checkpoint-file in a missing directory",
    args: () => ["purge", "--no-env-file", "--db", db, "--checkpoint-file", join(dir, "missing", "cp.txt")],
    env: admin,
    code: 2,
    names: () => ["--checkpoint-file", "does not exist"],
  },
  {
    name: "--checkpoint-file under a regular file",
    args: () => ["purge", "--no-env-file", "--db", db, "--checkpoint-file", join(dir, "a-file", "cp.txt")],
    env: admin,
    code: 2,
    names: () => ["--checkpoint-file", "not a directory"],
  },
  {
    name: "--checkpoint-file that is a directory",
    args: () => ["purge", "--no-env-file", "--db", db, "--checkpoint-file", join(dir, "a-directory")],
    env: admin,
    code: 2,
    names: () => ["--checkpoint-file", "directory"],
  },
  {
    name: "--dry-run also refuses an unwritable checkpoint",
    args: () => [
      "purge",
      "--no-env-file",
      "--dry-run",
      "--db",
      db,
      "--checkpoint-file",
      join(dir, "missing", "cp"),
    ],
    env: admin,
    code: 2,
    names: () => ["--checkpoint-file"],
  },
  {
    name: "--since garbage",
    args: onDb("--since", "garbage"),
    env: admin,
    code: 2,
    names: () => ["--since"],
  },
  {
    name: "a database that does not exist",
    args: purge("--db", "no-such-db"),
    env: admin,
    code: 2,
    names: () => ['"no-such-db"', "does not exist"],
  },
  { name: "an unknown subcommand", args: () => ["purgee"], env: admin, code: 2, names: () => ["purge"] },
  // Servers: exit 3, naming the server (never the credentials).
  {
    name: "a wrong password (a user who does not exist)",
    args: onDb(),
    env: () => stranger(t.url),
    code: 3,
    names: () => [t.url, "COUCHDB_USER"],
  },
  {
    name: "nothing listening",
    args: purge("--db", "x"),
    env: () => stranger(`http://127.0.0.1:${downPort}`),
    code: 3,
    names: () => [`127.0.0.1:${downPort}`, "connection refused"],
  },
  {
    name: "an HTML page instead of CouchDB",
    args: purge("--db", "x"),
    env: () => stranger(servers.html!.url),
    code: 3,
    names: () => [servers.html!.url, "not JSON", "text/html"],
  },
  {
    name: "invalid JSON",
    args: purge("--db", "x"),
    env: () => stranger(servers.invalidJson!.url),
    code: 3,
    names: () => [servers.invalidJson!.url, "not JSON"],
  },
  {
    name: "JSON of the wrong shape",
    args: purge("--db", "x"),
    env: () => stranger(servers.wrongShape!.url),
    code: 3,
    names: () => [servers.wrongShape!.url, "couchdb"],
  },
  {
    name: "a TCP port that speaks garbage",
    args: purge("--db", "x", "--retries", "0"),
    env: () => stranger(servers.garbage!.url),
    code: 3,
    names: () => [servers.garbage!.url],
  },
  {
    name: "a server that never answers",
    args: purge("--db", "x", "--retries", "0", "--timeout", "500ms"),
    env: () => stranger(servers.silent!.url),
    code: 3,
    names: () => [servers.silent!.url, "--timeout"],
  },
  {
    name: "a 401 that echoes the Authorization header (credentials in the URL)",
    args: purge("--db", "x"),
    env: () => inUrl(servers.echo!.url),
    code: 3,
    names: () => [servers.echo!.url, "[redacted]"],
  },
  {
    name: "a 401 that echoes the Authorization header (credentials in variables)",
    args: purge("--db", "x"),
    env: () => stranger(servers.echo!.url),
    code: 3,
    names: () => [servers.echo!.url, "COUCHDB_USER"],
  },
  {
    name: "the login lockout",
    args: purge("--db", "x"),
    env: () => stranger(servers.locked!.url),
    code: 3,
    names: () => ["locked", "wait"],
  },
]

describe("dbsweep purge: bad input (compiled binary)", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const r = await runBinary(c.args(), { env: c.env(), cwd: dir, timeoutMs: c.timeoutMs ?? 20_000 })
      expectCleanFailure(r, {
        code: c.code,
        names: c.names(),
        secrets: [hostilePassword, t.password],
        user: hostileUser,
      })
    })
  }

  test("a 2 GB answer is read no further than the bound (64 MiB), then refused", async () => {
    const r = await runBinary(["purge", "--no-env-file", "--db", "x", "--retries", "0"], {
      env: stranger(huge.url),
      cwd: dir,
      timeoutMs: 30_000,
    })
    expectCleanFailure(r, {
      code: 3,
      names: [huge.url, "MiB"],
      secrets: [hostilePassword],
      user: hostileUser,
    })
    // What the client pulled: the bound plus what was in flight, far from the 2 GB offered.
    expect(huge.sent()).toBeLessThan(256 * 1024 * 1024)
  })

  test("no refused run touched the data", async () => {
    const after = await dbInfo(t, db)
    expect(after.doc_count).toBe(before.doc_count)
    expect(after.doc_del_count).toBe(before.doc_del_count)
  })
})

describe("help and colour", () => {
  test("help piped to a file has no colour codes; NO_COLOR is respected", async () => {
    const piped = await runBinary(["purge", "--help"], { env: {}, cwd: dir })
    expect(piped.code).toBe(0)
    expect(piped.stdout).toContain("--checkpoint-file")
    expect(piped.stdout.includes("\u001b[")).toBe(false)
    const forced = await runBinary(["--help"], { env: { FORCE_COLOR: "1" }, cwd: dir })
    expect(forced.stdout.includes("\u001b[")).toBe(true)
    const noColor = await runBinary(["--help"], { env: { FORCE_COLOR: "1", NO_COLOR: "1" }, cwd: dir })
    expect(noColor.stdout.includes("\u001b[")).toBe(false)
  })

  test("the global help and the --log-level error name the same levels", async () => {
    const help = await runBinary(["--help"], { env: {}, cwd: dir })
    const listed = /--log-level ([a-z |]+)/.exec(help.stdout)?.[1]?.split(" | ") ?? []
    expect(listed.length).toBeGreaterThan(3)
    const r = await runBinary(["purge", "--db", "x", "--log-level", "loud"], { env: {}, cwd: dir })
    const line = expectCleanFailure(r, { code: 2, names: ["--log-level"] })
    for (const level of listed) expect(line).toContain(level.trim())
  })
})
