/**
 * `make bench` (cleanup part): on a real PostgreSQL 15 (a throwaway server, or DATABASE_URL), seeds
 * one template database (users, pending users, matches with mixed-case emails, lower(email)
 * indexes) and times, each on its own copy of it: (a) the compiled binary's `dbsweep cleanup`,
 * (b) one `DELETE … USING` statement (the limit), (c) the original tool's method (select the
 * matches, then one parameterized DELETE per row). Prints a/b, c/a and the longest batch
 * transaction, and checks after each that no match is left and the users table is unchanged.
 * Flags: --users N (default 200000), --matches M (default 100000; pending rows = 2M, so M <= N/2),
 * --original-rows K (row-by-row deletions actually timed in (c), extrapolated linearly to M when
 * smaller; default M: all of them). `--users 1000000 --matches 500000` is the full size.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import postgres from "postgres"
import { checksum, connect, count, seed } from "../test/support/pg-fixtures.ts"
import { type PgServer, pgServer, urlFor } from "../test/support/pg-server.ts"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const USERS = arg("users", 200_000)
const MATCHES = arg("matches", 100_000)
const PENDING = 2 * MATCHES
const ORIGINAL_ROWS = Math.min(MATCHES, arg("original-rows", MATCHES))
for (const [name, value] of [
  ["users", USERS],
  ["matches", MATCHES],
  ["original-rows", ORIGINAL_ROWS],
] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number above 0`)
}
if (PENDING > USERS)
  throw new Error(`--matches must be at most half of --users (pending rows are 2 × matches)`)

const root = join(import.meta.dir, "..")
const bin = join(root, "dist", "dbsweep")
const base = `dbsweep_bench_${process.pid}`
const templateDb = `${base}_template`
const matchesSql = `select p.pending_user_id from pending_users p
  where exists (select 1 from users u where lower(u.email) = lower(p.email))`

let child: ReturnType<typeof Bun.spawn> | undefined
// The server harness stops PostgreSQL and removes its directory on exit and on SIGINT/SIGTERM;
// this hook also ends a dbsweep process still running then.
process.on("exit", () => child?.kill("SIGKILL"))

const seconds = (from: number) => (performance.now() - from) / 1000
const quiet = (url: string, options: postgres.Options<Record<string, never>> = {}) =>
  postgres(url, { max: 1, onnotice: () => undefined, ...options })

let server: PgServer | undefined
let admin: postgres.Sql | undefined
const created = new Set<string>()

const drop = async (name: string) => {
  await admin!`drop database if exists ${admin!(name)} with (force)`
  created.delete(name)
}

/** A copy of the template made by copying its files, then a checkpoint so no copy or earlier run's writes are pending. */
const copyOf = async (name: string) => {
  await drop(name)
  created.add(name)
  await admin!`create database ${admin!(name)} template ${admin!(templateDb)} strategy file_copy`
  await admin!`checkpoint`
  return urlFor(server!, name)
}

let usersSum = ""

/** After each method: no match left, every non-matching pending row kept, users unchanged. */
const verify = async (label: string, url: string) => {
  const sql = connect(url)
  try {
    const left = await count(sql, matchesSql)
    const kept = await count(sql, "select 1 from pending_users")
    const sum = await checksum(sql, "users")
    if (left !== 0) throw new Error(`${label}: ${left} matching pending rows left`)
    if (kept !== PENDING - MATCHES)
      throw new Error(`${label}: ${kept} pending rows left, expected ${PENDING - MATCHES}`)
    if (sum !== usersSum) throw new Error(`${label}: the users table changed`)
  } finally {
    await sql.end()
  }
}

interface Summary {
  readonly deleted: number
  readonly batches: number
  readonly failedBatches: number
  readonly retries: number
  readonly longestBatchMs: number
  readonly startedAt: string
  readonly durationMs: number
}

/** (a) The binary, with debug logs (one line per batch, as JSON) to see where the time goes. */
const runDbsweep = async (url: string) => {
  const started = performance.now()
  child = Bun.spawn([bin, "cleanup", "--json", "--no-env-file"], {
    env: { PATH: process.env.PATH ?? "", DATABASE_URL: url, LOG_LEVEL: "debug", LOG_FORMAT: "json" },
    stdout: "pipe",
    stderr: "pipe",
  })
  const [out, err, code] = await Promise.all([
    new Response(child.stdout as ReadableStream).text(),
    new Response(child.stderr as ReadableStream).text(),
    child.exited,
  ])
  const wall = seconds(started)
  child = undefined
  if (code !== 0) throw new Error(`dbsweep exited ${code}:\n${out}\n${err}`)
  const summary = JSON.parse(out.trim().split("\n").at(-1)!) as Summary
  if (summary.deleted !== MATCHES || summary.failedBatches !== 0) {
    throw new Error(
      `dbsweep deleted ${summary.deleted} (expected ${MATCHES}), ${summary.failedBatches} failed batches`,
    )
  }
  const logs = err
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { message: string; timestamp: string })
  const at = (line: { timestamp: string }) => Date.parse(line.timestamp)
  // The batches start after the match list (no index) or the table's sizing (block ranges).
  const listed = logs.find(
    (l) => l.message.startsWith("match list:") || / blocks, ranges from /.test(l.message),
  )
  const batchLines = logs.filter((l) => /^batch \d+: deleted/.test(l.message))
  const batchMs = batchLines.map((l) => Number(/in (\d+) ms$/.exec(l.message)?.[1])).sort((x, y) => x - y)
  const start = Date.parse(summary.startedAt)
  const listMs = listed === undefined ? Number.NaN : at(listed) - start
  const lastBatch = batchLines.length === 0 ? start : Math.max(...batchLines.map(at))
  return {
    wall,
    summary,
    listMs,
    batchesMs: listed === undefined ? Number.NaN : lastBatch - at(listed),
    batchMs,
    pct: (p: number) => batchMs[Math.min(batchMs.length - 1, Math.floor(p * batchMs.length))] ?? 0,
  }
}

/** (b) One statement: the time PostgreSQL itself needs for the whole set. */
const runStatement = async (url: string) => {
  const sql = quiet(url)
  try {
    await sql`select 1`
    const started = performance.now()
    const result = await sql.unsafe(
      "delete from pending_users p using users u where lower(p.email) = lower(u.email)",
    )
    const time = seconds(started)
    if (result.count !== MATCHES)
      throw new Error(`DELETE … USING deleted ${result.count}, expected ${MATCHES}`)
    return time
  } finally {
    await sql.end()
  }
}

/**
 * (c) The original: select the matching rows, then delete them one parameterized statement per
 * row, in order, each its own (autocommit) transaction. Only the first ORIGINAL_ROWS deletions are
 * timed; the rest, if any, go in one untimed statement so the copy can be verified.
 */
const runOriginal = async (url: string) => {
  const sql = quiet(url)
  try {
    await sql`select 1`
    const started = performance.now()
    const rows = await sql.unsafe<Array<{ pending_user_id: string }>>(matchesSql)
    const selectTime = seconds(started)
    if (rows.length !== MATCHES)
      throw new Error(`the original's select found ${rows.length}, expected ${MATCHES}`)
    const loopStarted = performance.now()
    for (let i = 0; i < ORIGINAL_ROWS; i++) {
      const result = await sql`delete from pending_users where pending_user_id = ${rows[i]!.pending_user_id}`
      if (result.count !== 1) throw new Error(`row-by-row delete ${i} deleted ${result.count}`)
    }
    const loopTime = seconds(loopStarted)
    if (ORIGINAL_ROWS < MATCHES) {
      const rest = rows.slice(ORIGINAL_ROWS).map((r) => r.pending_user_id)
      await sql`delete from pending_users where pending_user_id = any(${rest}::uuid[])`
    }
    return { selectTime, loopTime, time: selectTime + (loopTime * MATCHES) / ORIGINAL_ROWS }
  } finally {
    await sql.end()
  }
}

try {
  if (!existsSync(bin)) {
    console.log("dist/dbsweep is missing: make build")
    const built = Bun.spawnSync(["make", "build"], { cwd: root, stdout: "inherit", stderr: "inherit" })
    if (built.exitCode !== 0) throw new Error("make build failed")
  }
  const fromEnv = (process.env.DATABASE_URL ?? "") !== ""
  server = await pgServer()
  admin = quiet(server.adminUrl)
  const [version] = await admin`select current_setting('server_version') as v`
  console.log(
    `cleanup benchmark: ${USERS} users, ${PENDING} pending, ${MATCHES} matches (mixed-case emails, lower(email) indexes); PostgreSQL ${version?.v} ${fromEnv ? "from DATABASE_URL" : "throwaway server (fsync off)"}; each method on its own FILE_COPY copy of one template`,
  )

  const seedStarted = performance.now()
  await drop(templateDb)
  created.add(templateDb)
  await admin`create database ${admin(templateDb)} template template0`
  const tpl = connect(urlFor(server, templateDb))
  try {
    await seed(tpl, { users: USERS, pending: PENDING })
    usersSum = await checksum(tpl, "users")
    const found = await count(tpl, matchesSql)
    if (found !== MATCHES) throw new Error(`the template has ${found} matches, expected ${MATCHES}`)
  } finally {
    await tpl.end()
  }
  console.log(`seeded the template in ${seconds(seedStarted).toFixed(1)} s`)

  const urlA = await copyOf(`${base}_a`)
  const a = await runDbsweep(urlA)
  await verify("(a) dbsweep", urlA)
  await drop(`${base}_a`)

  const urlB = await copyOf(`${base}_b`)
  const b = await runStatement(urlB)
  await verify("(b) DELETE … USING", urlB)
  await drop(`${base}_b`)

  const urlC = await copyOf(`${base}_c`)
  const c = await runOriginal(urlC)
  await verify("(c) original", urlC)
  await drop(`${base}_c`)

  const s = a.summary
  const inside = s.durationMs / 1000
  console.log(
    `(a) dbsweep cleanup        ${a.wall.toFixed(2)} s (process start to exit; ${inside.toFixed(2)} s inside the job: ${(a.listMs / 1000).toFixed(2)} s checks + lock + match list or sizing, ${(a.batchesMs / 1000).toFixed(2)} s for ${s.batches} batches)`,
  )
  console.log(`(b) one DELETE … USING     ${b.toFixed(2)} s`)
  const extrapolated =
    ORIGINAL_ROWS < MATCHES
      ? `; EXTRAPOLATED: ${ORIGINAL_ROWS} single-row DELETEs timed (${c.loopTime.toFixed(2)} s), × ${MATCHES}/${ORIGINAL_ROWS}`
      : ""
  console.log(
    `(c) original, row by row   ${c.time.toFixed(2)} s (select ${c.selectTime.toFixed(2)} s + ${MATCHES} single-row DELETEs ${(c.time - c.selectTime).toFixed(2)} s${extrapolated})`,
  )
  console.log(
    `limit ratio a/b = ${(a.wall / b).toFixed(2)} (goal <= 1.5; inside the job ${(inside / b).toFixed(2)})`,
  )
  console.log(`speed-up over the original c/a = ${(c.time / a.wall).toFixed(1)}x`)
  const over = a.batchMs.filter((ms) => ms > 500).length
  console.log(
    `longest batch transaction ${s.longestBatchMs} ms (goal <= 500 ms); ${s.batches} batches: median ${a.pct(0.5)} ms, p95 ${a.pct(0.95)} ms, ${over} over 500 ms, retries ${s.retries} (client-side time of each one-statement batch, so an upper bound)`,
  )
  console.log(
    `checked after each: 0 matching pending rows left, ${PENDING - MATCHES} other pending rows kept, users unchanged (checksum)`,
  )
} finally {
  child?.kill("SIGKILL")
  if (admin !== undefined) {
    for (const name of created) await drop(name).catch(() => undefined)
    await admin.end({ timeout: 5 })
  }
  server?.stop()
}
