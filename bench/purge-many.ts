/**
 * `make bench` (purge of many databases). The same 100,000 tombstones as (a) 2,000 databases of 50
 * each, purged by one run of `dbsweep purge --db '<prefix>-*'`, and (b) one database, purged by one
 * run of `dbsweep purge --db <name>`. Prints a/b of the total time (goal <= 2x), the peak RSS of (a)
 * (goal <= 150 MB), the client CPU (user+sys) per database, the requests per database by kind (test
 * server only: it counts them), and what reading `_all_dbs` in pages costs at 10,000 databases
 * (requests and time, the selection alone, in this process).
 *
 * Against the CouchDB-API test server (own process, --latency MS per request, 2 by default) or a
 * real CouchDB when COUCHDB_URL (with COUCHDB_USER / COUCHDB_PASSWORD) is set: its databases get a
 * prefix of their own (q=1) and are deleted at the end. Flags: --dbs N (2000), --per-db N (50),
 * --list-dbs N (10000), --db-concurrency N (the binary's default when absent), --latency MS.
 */
import { readFileSync } from "node:fs"
import { FetchHttpClient } from "@effect/platform"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { CouchClient } from "../src/couch/client.ts"
import { selectDbs } from "../src/purge/targets.ts"
import { arg, couchTarget, runBinary } from "./support.ts"

const DBS = arg("dbs", 2_000)
const PER_DB = arg("per-db", 50)
const LIST_DBS = arg("list-dbs", 10_000)
const LATENCY = arg("latency", 2)
const DB_CONCURRENCY = arg("db-concurrency", 0)

const target = await couchTarget(["--version", "3.5.0"])
const { url, call, request, real } = target
const prefix = `dbsweep-benchmany-${Date.now().toString(36)}`
const made: Array<string> = []

/** `f` over `items`, `n` at a time. */
const pool = async <T>(items: ReadonlyArray<T>, n: number, f: (item: T) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await f(items[i]!)
  }
  await Promise.all(Array.from({ length: n }, worker))
}

const createDb = async (db: string) => {
  await call("PUT", real ? `/${db}?q=1` : `/${db}`)
  made.push(db)
}

/** `n` documents created, then deleted, in `db` (and a few live ones). */
const tombstones = async (db: string, n: number) => {
  for (let i = 0; i < n; i += 10_000) {
    const docs = Array.from({ length: Math.min(10_000, n - i) }, (_, k) => ({
      _id: `doc-${i + k}`,
      v: i + k,
    }))
    const created = (await call("POST", `/${db}/_bulk_docs`, { docs })) as Array<{ id: string; rev: string }>
    await call("POST", `/${db}/_bulk_docs`, {
      docs: created.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
    })
  }
  await call("POST", `/${db}/_bulk_docs`, { docs: [{ _id: "live-1" }, { _id: "live-2" }] })
}

const requestCounts = async (): Promise<Record<string, number>> =>
  real ? {} : ((await call("GET", "/_dbsweep_test/requests")) as Record<string, number>)

/** CPU seconds (user+sys) the test server's process has used so far (Linux), or NaN. */
const serverCpu = () => {
  if (target.pid === undefined) return Number.NaN
  try {
    const fields = readFileSync(`/proc/${target.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** Runs the binary to its end, sampling its peak RSS (VmHWM); its CPU from its resource usage. */
const runDbsweep = async (args: ReadonlyArray<string>) => {
  const before = await requestCounts()
  await target.setLatency(LATENCY)
  const serverBefore = serverCpu()
  const run = await runBinary(["purge", ...args, "--json", "--no-env-file", "--log-level", "warning"], {
    COUCHDB_URL: url,
    COUCHDB_USER: target.user,
    COUCHDB_PASSWORD: target.password,
  }).finally(() => target.setLatency(0))
  const serverSeconds = serverCpu() - serverBefore
  const summary = JSON.parse(run.out) as { durationMs: number; tombstones: number; purgedRevs: number }
  const after = await requestCounts()
  const requests = Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([k, v]) => v > 0 && !k.includes("_dbsweep_test")),
  )
  return {
    seconds: run.seconds,
    inside: summary.durationMs / 1000,
    purged: summary.purgedRevs,
    peakMb: run.peakMb,
    cpuSeconds: run.cpuSeconds,
    requests,
    serverSeconds,
  }
}

/** The selection of a glob over `_all_dbs` alone, in this process: its time and `_all_dbs` requests. */
const selectionCost = async (glob: string) => {
  const before = await requestCounts()
  const client = CouchClient.layer({
    url,
    user: Option.some(target.user),
    password: Option.some(Redacted.make(target.password)),
    timeout: Duration.seconds(60),
  }).pipe(Layer.provide(FetchHttpClient.layer))
  const select = Effect.flatMap(CouchClient, (couch) => selectDbs(couch, { dbs: [glob], allDbs: false }))
  await target.setLatency(LATENCY)
  const started = performance.now()
  const selected = await Effect.runPromise(Effect.provide(select, client))
  const ms = performance.now() - started
  await target.setLatency(0)
  const after = await requestCounts()
  return {
    ms,
    found: selected.dbs.length,
    requests: (after["GET /_all_dbs"] ?? 0) - (before["GET /_all_dbs"] ?? 0),
  }
}

try {
  const where = real
    ? `${target.where} (databases with q=1)`
    : `${target.where}, ${LATENCY} ms latency per request`
  console.log(
    `purge of many databases: ${DBS} databases of ${PER_DB} tombstones vs ${DBS * PER_DB} in one, ${where}`,
  )
  await target.setLatency(0)
  const names = Array.from({ length: DBS }, (_, i) => `${prefix}-m-${String(i).padStart(6, "0")}`)
  await pool(names, 16, async (db) => {
    await createDb(db)
    await tombstones(db, PER_DB)
  })
  const one = `${prefix}-one`
  await createDb(one)
  await tombstones(one, DBS * PER_DB)

  const concurrency = DB_CONCURRENCY > 0 ? ["--db-concurrency", String(DB_CONCURRENCY)] : []
  const many = await runDbsweep(["--db", `${prefix}-m-*`, ...concurrency])
  const single = await runDbsweep(["--db", one])
  if (many.purged !== DBS * PER_DB || single.purged !== DBS * PER_DB)
    throw new Error(`purged ${many.purged} and ${single.purged}, not ${DBS * PER_DB} each`)
  const line = (what: string, r: Awaited<ReturnType<typeof runDbsweep>>) =>
    `${what} ${r.seconds.toFixed(2)} s (${r.inside.toFixed(2)} s inside the job), peak RSS ${r.peakMb.toFixed(0)} MB, client CPU ${r.cpuSeconds.toFixed(2)} s${real ? "" : `, test server CPU ${r.serverSeconds.toFixed(2)} s`}`
  console.log(
    line(`(a) ${DBS} databases${DB_CONCURRENCY > 0 ? ` (--db-concurrency ${DB_CONCURRENCY})` : ""}:`, many),
  )
  console.log(line("(b) one database:        ", single))
  console.log(`time a/b = ${(many.seconds / single.seconds).toFixed(2)}x (goal <= 2x)`)
  console.log(`peak RSS of (a) = ${many.peakMb.toFixed(0)} MB (goal <= 150 MB)`)
  console.log(
    `client CPU per database = ${((many.cpuSeconds * 1000) / DBS).toFixed(2)} ms (a), against ${((single.cpuSeconds * 1000) / DBS).toFixed(2)} ms for the same tombstones in one (b)`,
  )
  if (!real) {
    const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0)
    const shown = Object.entries(many.requests)
      .sort(([, x], [, y]) => y - x)
      .map(([k, v]) => `${k} ${(v / DBS).toFixed(2)}`)
    console.log(
      `requests per database (a): ${(total(many.requests) / DBS).toFixed(2)} (${shown.join(", ")}); (b) ${total(single.requests)} in all`,
    )
  }

  // _all_dbs in pages at LIST_DBS databases: empty ones added beside the others.
  const extra = Math.max(0, LIST_DBS - DBS)
  const empties = Array.from({ length: extra }, (_, i) => `${prefix}-m-x${String(i).padStart(6, "0")}`)
  await pool(empties, 16, createDb)
  const selection = await selectionCost(`${prefix}-m-*`)
  if (selection.found !== DBS + extra)
    throw new Error(`the glob found ${selection.found}, not ${DBS + extra}`)
  console.log(
    `_all_dbs paging at ${selection.found} databases: ${selection.ms.toFixed(0)} ms${real ? "" : `, ${selection.requests} requests`} (the selection alone, 1000 names a page)`,
  )
} finally {
  await target.setLatency(0)
  await pool([...made], 16, async (db) => {
    await request("DELETE", `/${db}`).catch(() => undefined)
  })
  await target.stop()
}
