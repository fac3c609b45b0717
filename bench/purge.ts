/**
 * `make bench` (purge part). Times (a) dbsweep purge, (b) the original tool's method (one _purge
 * per doc, 10 at a time, each group of 10 awaited), (c) the server's limit (raw 100-id _purge
 * requests, 10 in flight, ids known in advance, no feed), each on a database of its own with the
 * same tombstones. Prints b/a, c/a and dbsweep's client CPU (user+sys, from the child's resource
 * usage; (a) and (c) are medians of --runs rounds), then dbsweep's peak RSS at two sizes, and the binary's
 * --help start time.
 *
 * Against the CouchDB-API test server (own process) with a fixed latency per request by default;
 * against a real CouchDB when COUCHDB_URL (with COUCHDB_USER / COUCHDB_PASSWORD) is set, its
 * databases made with q=2 and removed at the end. Flags: --tombstones N (default 20000), --small N
 * and --big N for the memory figures (100000 and 1000000), --latency MS (2, test server only),
 * --runs N (3): rounds of (a) and (c) taking turns at N tombstones, their medians printed;
 * --vs PATH: another dbsweep binary (e.g. a build of an earlier commit) takes part in every round,
 * first and second in turn with this one, and both CPU medians are printed side by side. The
 * client's CPU moves with how hard the server works on the same cores, so only builds measured in
 * the same rounds compare.
 */
import { existsSync } from "node:fs"
import { arg, bin, couchTarget, median, runBinary } from "./support.ts"

const N = arg("tombstones", 20_000)
const SMALL = arg("small", 100_000)
const BIG = arg("big", 1_000_000)
const LATENCY = arg("latency", 2)
const RUNS = Math.max(1, arg("runs", 3))
const VS = (() => {
  const i = process.argv.indexOf("--vs")
  if (i < 0) return undefined
  const path = process.argv[i + 1]
  if (path === undefined || !existsSync(path)) {
    console.error(`bench/purge.ts: --vs needs the path of a dbsweep binary (got ${path ?? "nothing"})`)
    process.exit(2)
  }
  return path
})()

const target = await couchTarget(["--version", "3.5.0"])
const { url, call, real } = target
const credentials = { COUCHDB_USER: target.user, COUCHDB_PASSWORD: target.password }
const setLatency = target.setLatency

const made: Array<string> = []
/** A database holding `n` tombstones (and a few live docs); returns its name and the tombstones. */
const tombstoneDb = async (n: number) => {
  await setLatency(0)
  const db = `dbsweep-bench-${made.length + 1}-${Date.now().toString(36)}`
  await call("PUT", real ? `/${db}?q=2` : `/${db}`)
  made.push(db)
  const tombs: Array<{ id: string; rev: string }> = []
  for (let i = 0; i < n; i += 10_000) {
    const docs = Array.from({ length: Math.min(10_000, n - i) }, (_, k) => ({
      _id: `doc-${i + k}`,
      v: i + k,
    }))
    const created = (await call("POST", `/${db}/_bulk_docs`, { docs })) as Array<{ id: string; rev: string }>
    const gone = (await call("POST", `/${db}/_bulk_docs`, {
      docs: created.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
    })) as Array<{ id: string; rev: string }>
    // Only the ids are kept for the raw runs: a million tombstones must not weigh on this process.
    if (n <= 100_000) tombs.push(...gone)
  }
  await call("POST", `/${db}/_bulk_docs`, {
    docs: Array.from({ length: 100 }, (_, k) => ({ _id: `live-${k}` })),
  })
  await setLatency(LATENCY)
  return { db, tombs }
}

const remaining = async (db: string) =>
  ((await call("GET", `/${db}`)) as { doc_del_count: number }).doc_del_count

/** Runs the binary on one database: its time, peak RSS and CPU, and its own time inside the job. */
const runDbsweep = async (db: string, binary = bin) => {
  const run = await runBinary(
    ["purge", "--db", db, "--json", "--no-env-file", "--log-level", "warning"],
    { COUCHDB_URL: url, ...credentials },
    binary,
  )
  return { ...run, inside: (JSON.parse(run.out) as { durationMs: number }).durationMs / 1000 }
}

/** The original script: changes feed, then one _purge per doc, 10 concurrent, each group awaited. */
const original = async (db: string) => {
  const started = performance.now()
  const feed = (await call("GET", `/${db}/_changes?style=all_docs`)) as {
    results: Array<{ id: string; deleted?: boolean; changes: Array<{ rev: string }> }>
  }
  const deleted = feed.results.filter((r) => r.deleted === true)
  for (let i = 0; i < deleted.length; i += 10) {
    await Promise.all(
      deleted
        .slice(i, i + 10)
        .map((r) => call("POST", `/${db}/_purge`, { [r.id]: r.changes.map((c) => c.rev) })),
    )
  }
  return (performance.now() - started) / 1000
}

/** The server's limit: ids known in advance, 100 per request, a sliding window of 10. */
const raw = async (db: string, tombs: ReadonlyArray<{ id: string; rev: string }>) => {
  const started = performance.now()
  const batches: Array<Record<string, Array<string>>> = []
  for (let i = 0; i < tombs.length; i += 100) {
    batches.push(Object.fromEntries(tombs.slice(i, i + 100).map((t) => [t.id, [t.rev]])))
  }
  let next = 0
  const worker = async () => {
    for (let b = batches[next++]; b !== undefined; b = batches[next++]) await call("POST", `/${db}/_purge`, b)
  }
  await Promise.all(Array.from({ length: 10 }, worker))
  return (performance.now() - started) / 1000
}

const cpuLine = (r: { cpuSeconds: number; userSeconds: number }, n: number) =>
  `${r.cpuSeconds.toFixed(2)} s user+sys (${r.userSeconds.toFixed(2)} s user), ${((r.cpuSeconds * 1000) / Math.ceil(n / 100)).toFixed(1)} ms per 100-id request`

try {
  console.log(
    real
      ? `purge benchmark: ${N} tombstones, ${target.where} (databases with q=2)`
      : `purge benchmark: ${N} tombstones, ${target.where}, ${LATENCY} ms latency per request`,
  )
  // Figures move from run to run on a shared machine (a slower server costs the client more CPU
  // too): dbsweep and the raw requests take turns for RUNS rounds, and the medians are printed.
  const runs: Array<Awaited<ReturnType<typeof runDbsweep>>> = []
  const others: Array<Awaited<ReturnType<typeof runDbsweep>>> = []
  const raws: Array<number> = []
  const purgeWith = async (binary: string) => {
    const a = await tombstoneDb(N)
    const run = await runDbsweep(a.db, binary)
    if ((await remaining(a.db)) !== 0) throw new Error(`${binary} left tombstones`)
    return run
  }
  for (let i = 0; i < RUNS; i++) {
    if (VS !== undefined && i % 2 === 1) others.push(await purgeWith(VS))
    runs.push(await purgeWith(bin))
    if (VS !== undefined && i % 2 === 0) others.push(await purgeWith(VS))
    const c = await tombstoneDb(N)
    raws.push(await raw(c.db, c.tombs))
    for (const db of made.splice(0)) await call("DELETE", `/${db}`)
  }
  const ta = { seconds: median(runs.map((r) => r.seconds)), inside: median(runs.map((r) => r.inside)) }
  const cpu = [...runs].sort((x, y) => x.cpuSeconds - y.cpuSeconds)[Math.floor((RUNS - 1) / 2)]!
  const tc = median(raws)
  const b = await tombstoneDb(N)
  const tb = await original(b.db)
  const rate = (s: number) => `${Math.round(N / s)} docs/s`
  console.log(
    `(a) dbsweep purge          ${ta.seconds.toFixed(2)} s = ${rate(ta.seconds)} (process start to exit; ${ta.inside.toFixed(2)} s inside the job)`,
  )
  console.log(
    `    dbsweep client CPU     ${cpuLine(cpu, N)} (goal <= 0.4 s at 20000)${RUNS > 1 ? `; the median of ${RUNS} runs: ${runs.map((r) => r.cpuSeconds.toFixed(2)).join(", ")} s` : ""}`,
  )
  if (VS !== undefined) {
    const theirs = median(others.map((r) => r.cpuSeconds))
    console.log(
      `    --vs ${VS}: client CPU median ${theirs.toFixed(2)} s (${others.map((r) => r.cpuSeconds.toFixed(2)).join(", ")}), ${median(others.map((r) => r.seconds)).toFixed(2)} s; this build / that one = ${(median(runs.map((r) => r.cpuSeconds)) / theirs).toFixed(2)} in CPU`,
    )
  }
  console.log(`(b) original method        ${tb.toFixed(2)} s = ${rate(tb)}`)
  console.log(`(c) raw 100-id requests    ${tc.toFixed(2)} s = ${rate(tc)}`)
  console.log(`speed-up over the original b/a = ${(tb / ta.seconds).toFixed(1)}x (goal >= 20x)`)
  console.log(
    `speed vs the server's limit c/a = ${(tc / ta.seconds).toFixed(2)} (goal >= 0.8)${RUNS > 1 ? `; medians of ${RUNS} alternating rounds: ${runs.map((r, i) => (raws[i]! / r.seconds).toFixed(2)).join(", ")}` : ""}`,
  )
  for (const db of made.splice(0)) await call("DELETE", `/${db}`)
  const small = await tombstoneDb(SMALL)
  const tsmall = await runDbsweep(small.db)
  await call("DELETE", `/${small.db}`)
  const big = await tombstoneDb(BIG)
  const tbig = await runDbsweep(big.db)
  console.log(
    `peak RSS of dbsweep (VmHWM): ${tsmall.peakMb.toFixed(0)} MB at ${SMALL} tombstones, ${tbig.peakMb.toFixed(0)} MB at ${BIG} (${tbig.seconds.toFixed(1)} s, client CPU ${cpuLine(tbig, BIG)}); ratio ${(tbig.peakMb / tsmall.peakMb).toFixed(2)} (goal <= 1.2, <= 150 MB)`,
  )
  const times: Array<number> = []
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now()
    Bun.spawnSync([bin, "--help"], { stdout: "ignore", stderr: "ignore" })
    times.push(performance.now() - t0)
  }
  times.sort((x, y) => x - y)
  console.log(`dbsweep --help start time: median ${times[3]!.toFixed(0)} ms over 7 runs`)
} finally {
  for (const db of made) await call("DELETE", `/${db}`).catch(() => undefined)
  await target.stop()
}
