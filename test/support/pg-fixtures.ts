/** Tables, seed data and checks shared by the PostgreSQL tests, the benchmark and the demo. */
import postgres from "postgres"
import { runBinary as runCompiled, spawnBinary as spawnCompiled } from "./binary.ts"
import { freshDatabase } from "./pg-server.ts"

export const schemaSql = `
create table users (
  user_id uuid primary key default gen_random_uuid(),
  email text not null unique,
  name text,
  created_at timestamptz not null default now());
create table pending_users (
  pending_user_id uuid primary key default gen_random_uuid(),
  email text not null unique,
  token text,
  created_at timestamptz not null default now());
create index users_lower_email on users (lower(email));
create index pending_users_lower_email on pending_users (lower(email));
`

export interface Seed {
  /** Users rows. */
  readonly users: number
  /** Pending rows; every other one (the even ones) has a user with the same email in another case. */
  readonly pending: number
}

/**
 * Seeds `users` and `pending_users` set-based: user i is `user{i}@example.com` (every third in
 * mixed case); pending i is, for even i ≤ users, user i's email in upper or mixed case, else
 * `pending{i}@example.org`. Rows go in random order, as real sign-ups do.
 */
export const seed = async (sql: postgres.Sql, size: Seed) => {
  await sql.unsafe(schemaSql)
  await sql`insert into users (email, name)
    select case when i % 3 = 0 then 'User' || i || '@Example.com' else 'user' || i || '@example.com' end, 'name ' || i
    from generate_series(1, ${size.users}::int) i`
  await sql`insert into pending_users (email, token)
    select case when i % 2 = 0 and i <= ${size.users}::int
                then case when i % 4 = 0 then 'USER' || i || '@EXAMPLE.COM' else 'User' || i || '@example.COM' end
                else 'pending' || i || '@example.org' end,
           md5(i::text)
    from generate_series(1, ${size.pending}::int) i order by random()`
  await sql`vacuum analyze users`
  await sql`vacuum analyze pending_users`
}

/** Rows the rule matches: pending rows whose email is a user's, ignoring case. */
export const expectedMatches = (size: Seed) => Math.floor(Math.min(size.pending, size.users) / 2)

/** An order-independent checksum of a table's rows. */
export const checksum = async (sql: postgres.Sql, table: string) => {
  const [row] =
    await sql`select count(*)::int as n, coalesce(md5(string_agg(t::text, ',' order by t::text)), '') as sum
    from ${sql(table)} t`
  return `${row?.n}:${row?.sum}`
}

export const count = async (sql: postgres.Sql, query: string) => {
  const [row] = await sql.unsafe(`select count(*)::int as n from (${query}) q`)
  return Number(row?.n)
}

export const connect = (url: string) => postgres(url, { max: 4, onnotice: () => undefined })

/** Pending rows whose email is a user's, ignoring case: what the rule matches. */
export const matching = `select 1 from pending_users p where exists (select 1 from users u where lower(u.email) = lower(p.email))`

const opened: Array<postgres.Sql> = []

/** A fresh database seeded with `size`, and a connection to it that `closeDatabases` ends. */
export const seededDatabase = async (size: Seed, prefix = "t") => {
  const url = await freshDatabase(prefix)
  const sql = connect(url)
  opened.push(sql)
  await seed(sql, size)
  return { url, sql }
}

/** Ends the connections `seededDatabase` opened (for afterEach). */
export const closeDatabases = async () => {
  await Promise.all(opened.splice(0).map((s) => s.end()))
}

// The cleanup tests run the binary without any .env and with JSON logs, so stdout holds only summaries.
const cleanupArgs = (args: ReadonlyArray<string>) => [...args, "--no-env-file"]
const cleanupEnv = (env: Record<string, string>) => ({ LOG_FORMAT: "json", ...env })

/** Starts the binary with `env` only (no inherited DATABASE_URL or .env). */
export const spawnBinary = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  spawnCompiled(cleanupArgs(args), { env: cleanupEnv(env) })

/** Runs the binary to its end with `env` only. */
export const runBinary = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  runCompiled(cleanupArgs(args), { env: cleanupEnv(env) })
