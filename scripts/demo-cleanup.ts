/**
 * The PostgreSQL half of `make demo`: starts a throwaway PostgreSQL, seeds `users` and
 * `pending_users` (a third of the pending emails belong to a user, in another letter case), runs
 * the compiled binary's cleanup as a dry run and for real, and shows that exactly the matching
 * pending rows went while the users table stayed as it was. Everything is stopped at the end,
 * also on failure or Ctrl-C.
 *
 * The server is PGlite (PostgreSQL compiled to WebAssembly, in this process) served over the wire
 * protocol by pglite-socket, so only Node/npm are needed; or, when a PostgreSQL 15 install is
 * present, a real server from test/support/pg-server.ts. DEMO_PG=pglite|local picks one.
 *
 * PGlite is one backend session: pglite-socket multiplexes several client connections onto it
 * (`maxConnections`, default 1), one protocol message at a time. dbsweep needs at least three
 * connections even at --concurrency 1 (the advisory-lock session, the pool, the batch pool), and
 * above 1 the multiplexer can interleave two connections' extended-protocol messages, so on
 * PGlite the demo allows 8 connections and runs with --concurrency 1.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import type { Subprocess } from "bun"
import postgres from "postgres"

const root = join(import.meta.dir, "..")
const bin = join(root, "dist", "dbsweep")
const pgBin = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin"
const say = (text: string) => console.log(`\n\x1b[1m== ${text}\x1b[0m`)

/** A running server: where it is, extra flags it needs, and how to stop it. */
interface DemoServer {
  readonly label: string
  readonly url: string
  readonly extraArgs: ReadonlyArray<string>
  readonly stop: () => Promise<void>
}

const hasLocal = existsSync(join(pgBin, "initdb"))

const chooseMode = (): "pglite" | "local" => {
  const asked = process.env.DEMO_PG
  if (asked === "pglite" || asked === "local") return asked
  if (asked !== undefined && asked !== "") throw new Error(`DEMO_PG must be pglite or local (got "${asked}")`)
  return hasLocal ? "local" : "pglite"
}

const startPglite = async (): Promise<DemoServer> => {
  const { PGlite } = await import("@electric-sql/pglite")
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket")
  const db = await PGlite.create() // in memory: nothing on disk to remove
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 8 })
  try {
    await server.start()
  } catch (error) {
    await db.close()
    throw error
  }
  return {
    label: `PGlite (embedded, ${(await db.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v}) over pglite-socket`,
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    extraArgs: ["--concurrency", "1"],
    stop: async () => {
      await server.stop()
      await db.close()
    },
  }
}

const startLocal = async (): Promise<DemoServer> => {
  if (!hasLocal)
    throw new Error(`DEMO_PG=local needs PostgreSQL in ${pgBin} (set PG_BIN), or use DEMO_PG=pglite`)
  // The support module would use DATABASE_URL as the server: the demo must never touch a real one.
  delete process.env.DATABASE_URL
  const { freshDatabase, pgServer } = await import("../test/support/pg-server.ts")
  const server = await pgServer()
  try {
    return {
      label: `local PostgreSQL (${pgBin}, temporary data directory)`,
      url: await freshDatabase("demo"),
      extraArgs: [],
      stop: async () => server.stop(),
    }
  } catch (error) {
    server.stop()
    throw error
  }
}

/** The URL as it may be shown: the password, if any, masked. */
const shown = (url: string) => url.replace(/^(postgres(?:ql)?:\/\/[^:@/]+):[^@/]*@/, "$1:***@")

let child: Subprocess | undefined
const killChild = () => {
  if (child !== undefined && child.exitCode === null) child.kill("SIGKILL")
}
process.on("exit", killChild)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killChild()
    process.exit(130)
  })
}

/** Runs dbsweep with only this server's settings (no PG*, CLEANUP_* or DATABASE_URL from outside). */
const run = async (url: string, args: ReadonlyArray<string>) => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === "DATABASE_URL" || key.startsWith("PG") || key.startsWith("CLEANUP_"))
      continue
    env[key] = value
  }
  env.DATABASE_URL = url
  console.log(`$ DATABASE_URL=${shown(url)} dbsweep ${args.join(" ")}`)
  child = Bun.spawn([bin, ...args], { env, stdio: ["ignore", "inherit", "inherit"] })
  const timer = setTimeout(killChild, 20_000)
  const code = await child.exited
  clearTimeout(timer)
  child = undefined
  console.log(`(exit ${code})`)
  if (code !== 0) throw new Error(`dbsweep ${args.join(" ")} failed with exit ${code}`)
}

const seedSql = `
  create table users (
    id integer generated always as identity primary key,
    email text not null unique
  );
  create unique index users_email_lower on users (lower(email));
  create table pending_users (
    pending_user_id uuid primary key default gen_random_uuid(),
    email text not null unique,
    created_at timestamptz not null default now()
  );
  insert into users (email)
    select (array['Ann', 'bob', 'CARL', 'Dana'])[1 + g % 4] || '.' || g || '@'
           || (array['Example.com', 'example.org', 'MAIL.test'])[1 + g % 3]
    from generate_series(1, 3000) g;
  -- a third of the sign-ups belong to a user already, written in another case
  insert into pending_users (email, created_at)
    select case when id % 2 = 0 then upper(email) else lower(email) end, now() - id * interval '1 minute'
    from users where id % 3 = 0;
  insert into pending_users (email, created_at)
    select 'Signup.' || g || '@Example.NET', now() - g * interval '1 minute'
    from generate_series(1, 2000) g;`

interface Counts {
  readonly users: number
  readonly usersDigest: string
  readonly pending: number
  readonly matching: number
  readonly keptDigest: string
}

const countsOf = async (sql: postgres.Sql): Promise<Counts> => {
  const rows = await sql<Array<Counts>>`
    select (select count(*)::int from users) as users,
           (select md5(coalesce(string_agg(id || ':' || email, ',' order by id), '')) from users) as "usersDigest",
           count(*)::int as pending,
           (count(*) filter (where m))::int as matching,
           md5(coalesce(string_agg(p.pending_user_id || ':' || p.email, ',' order by p.pending_user_id)
                        filter (where not m), '')) as "keptDigest"
    from (select p.*, exists (select 1 from users u where lower(u.email) = lower(p.email)) as m
          from pending_users p) p`
  return rows[0]!
}

const print = (c: Counts) => {
  console.log(`users:          ${c.users} rows (digest ${c.usersDigest.slice(0, 12)})`)
  console.log(`pending_users:  ${c.pending} rows`)
  console.log(`  whose email is a user's (any case): ${c.matching}`)
  console.log(
    `  others:                             ${c.pending - c.matching} (digest ${c.keptDigest.slice(0, 12)})`,
  )
}

if (!existsSync(bin)) {
  console.error(`${bin} is missing: run make build first`)
  process.exit(1)
}

const started = Date.now()
let server: DemoServer | undefined
let sql: postgres.Sql | undefined
try {
  const mode = chooseMode()
  server = mode === "pglite" ? await startPglite() : await startLocal()
  say(`${server.label} at ${shown(server.url)}; seeding users and pending_users`)
  sql = postgres(server.url, { max: 1, onnotice: () => undefined })
  await sql.unsafe(seedSql)
  const before = await countsOf(sql)
  print(before)
  if (mode === "pglite") {
    console.log("(PGlite is one backend session shared by every connection: the demo runs --concurrency 1)")
  }

  say("dry run: what would be deleted (nothing is changed; emails masked)")
  await run(server.url, ["cleanup", "--dry-run", "--sample", "5", ...server.extraArgs])
  say("the real cleanup")
  await run(server.url, ["cleanup", ...server.extraArgs])

  const after = await countsOf(sql)
  say("after the cleanup")
  print(after)
  const checks = [
    [
      "matching pending rows gone",
      after.matching === 0 && after.pending === before.pending - before.matching,
    ],
    ["other pending rows all kept", after.keptDigest === before.keptDigest],
    ["users untouched", after.users === before.users && after.usersDigest === before.usersDigest],
  ] as const
  for (const [what, ok] of checks) console.log(`${ok ? "ok  " : "FAIL"} ${what}`)
  if (checks.some(([, ok]) => !ok)) throw new Error("the cleanup did not do what it should")

  say("a second run finds nothing left to do")
  await run(server.url, ["cleanup", ...server.extraArgs])
  console.log(`\ndemo finished in ${((Date.now() - started) / 1000).toFixed(1)}s`)
} catch (error) {
  console.error(`demo-cleanup failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
} finally {
  await sql?.end({ timeout: 2 }).catch(() => undefined)
  await server?.stop().catch((error: unknown) => console.error(`stopping the server: ${String(error)}`))
}
process.exit()
