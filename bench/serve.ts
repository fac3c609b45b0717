/**
 * `make bench` (serve part): autocannon on loopback against `GET /healthz` of (a) the binary's
 * `dbsweep serve` and (b) a bare Hono app on Bun answering the same route, each its own process,
 * in one run; then (a) again while a purge of 100,000 tombstones runs inside the server (the
 * CouchDB-API test server in its own process). Goals: a ≥ 0.8 × b in requests/s; p99 < 5 ms
 * while the job runs. Flags: --tombstones N (100000), --seconds S (5), --connections C (50), --bin PATH
 * (another binary to measure, e.g. a build of an earlier commit).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { arg, bin, password, root, startAndRead, startTestCouch, user } from "./support.ts"

const N = arg("tombstones", 100_000)
const SECONDS = arg("seconds", 5)
const CONNECTIONS = arg("connections", 50)
const token = "bench-token-0123456789abcdef"

const couch = await startTestCouch()
const couchUrl = couch.url

const tmp = join(root, ".bench-tmp")
mkdirSync(tmp, { recursive: true })
const barePath = join(tmp, "bare-hono.ts")
writeFileSync(
  barePath,
  `import { Hono } from "${join(root, "node_modules/hono/dist/index.js")}"
const app = new Hono().get("/healthz", (c) => c.json({ ok: true }))
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch })
console.log(server.url.href)
`,
)
const bare = await startAndRead([process.execPath, barePath], {}, /^(http:\/\/\S+?)\/?$/m, "stdout")
const serve = await startAndRead(
  [bin, "serve", "--port", "0", "--no-env-file"],
  {
    COUCHDB_URL: couchUrl,
    COUCHDB_USER: user,
    COUCHDB_PASSWORD: password,
    DBSWEEP_TOKEN: token,
    LOG_LEVEL: "info",
  },
  /listening on (http:\/\/[0-9.]+:\d+)/,
  "stderr",
)

interface Load {
  readonly rps: number
  readonly p99: number
}

/** autocannon (its own Node process, so it never shares a loop with a server) for SECONDS. */
const load = async (url: string): Promise<Load> => {
  const proc = Bun.spawn(
    [
      "node",
      join(root, "node_modules/autocannon/autocannon.js"),
      "-j",
      "-c",
      String(CONNECTIONS),
      "-d",
      String(SECONDS),
      url,
    ],
    { stdout: "pipe", stderr: "ignore" },
  )
  const out = JSON.parse(await new Response(proc.stdout).text()) as {
    requests: { average: number }
    latency: { p99: number }
    non2xx: number
    errors: number
  }
  if (out.non2xx + out.errors > 0) throw new Error(`${url}: ${out.non2xx} non-2xx, ${out.errors} errors`)
  return { rps: out.requests.average, p99: out.latency.p99 }
}

const { call } = couch

/** CPU seconds (user + system) of each thread of `pid`, by thread id: Linux only, empty elsewhere. */
const threadCpu = (pid: number): Map<string, number> => {
  const dir = `/proc/${pid}/task`
  const times = new Map<string, number>()
  if (!existsSync(dir)) return times
  for (const tid of readdirSync(dir)) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`${dir}/${tid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      times.set(tid, (Number(fields[11]) + Number(fields[12])) / 100)
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return times
}

/**
 * A purge with no HTTP load, the server's threads sampled until it ends: CPU seconds of the thread
 * that answers HTTP (the process's main thread) and of all the others (job workers, JIT, GC).
 */
const purgeThreads = async (url: string, pid: number, db: string) => {
  const before = threadCpu(pid)
  const last = new Map(before)
  const res = await fetch(`${url}/jobs/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ db }),
  })
  const { id } = (await res.json()) as { id: string }
  for (;;) {
    for (const [tid, cpu] of threadCpu(pid)) last.set(tid, cpu)
    const state = ((await (await fetch(`${url}/jobs/${id}`)).json()) as { state: string }).state
    if (state !== "running") break
    await Bun.sleep(100)
  }
  let main = 0
  let others = 0
  for (const [tid, cpu] of last) {
    const spent = cpu - (before.get(tid) ?? 0)
    if (tid === String(pid)) main += spent
    else others += spent
  }
  return { main, others }
}

try {
  await load(`${serve.match}/healthz`) // warm-up of both, so neither pays for its first requests
  await load(`${bare.match}/healthz`)
  const bareIdle = await load(`${bare.match}/healthz`)
  const serveIdle = await load(`${serve.match}/healthz`)

  const seedTombstones = async (db: string) => {
    await call("PUT", `/${db}`)
    for (let i = 0; i < N; i += 10_000) {
      const docs = Array.from({ length: Math.min(10_000, N - i) }, (_, k) => ({ _id: `doc-${i + k}` }))
      const made = (await call("POST", `/${db}/_bulk_docs`, { docs })) as Array<{ id: string; rev: string }>
      await call("POST", `/${db}/_bulk_docs`, {
        docs: made.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
      })
    }
  }
  const db = "bench-serve"
  await seedTombstones(db)
  const started = await fetch(`${serve.match}/jobs/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ db }),
  })
  const { id } = (await started.json()) as { id: string }
  const busy = await load(`${serve.match}/healthz`)
  const run = (await (await fetch(`${serve.match}/jobs/${id}`)).json()) as {
    state: string
    progress: { done: number; total: number }
    summary?: { durationMs: number }
  }
  // The control: the same purge as a CLI in a process of its own, the server idle. What the
  // purge and the CouchDB cost the machine's cores, without sharing the server's threads.
  await seedTombstones("bench-serve-cli")
  const cli = Bun.spawn(
    [bin, "purge", "--db", "bench-serve-cli", "--no-env-file", "--log-level", "warning"],
    {
      env: {
        PATH: process.env.PATH ?? "",
        COUCHDB_URL: couchUrl,
        COUCHDB_USER: user,
        COUCHDB_PASSWORD: password,
      },
      stdout: "ignore",
      stderr: "inherit",
    },
  )
  const beside = await load(`${serve.match}/healthz`)
  await cli.exited
  await seedTombstones("bench-serve-threads")
  const threads = await purgeThreads(serve.match, serve.proc.pid, "bench-serve-threads")
  const f = (n: number) => n.toFixed(0)
  console.log(`GET /healthz, ${CONNECTIONS} connections, ${SECONDS}s each, loopback`)
  console.log(`  bare Hono on Bun:         ${f(bareIdle.rps)} req/s, p99 ${bareIdle.p99} ms`)
  console.log(`  dbsweep serve (idle):     ${f(serveIdle.rps)} req/s, p99 ${serveIdle.p99} ms`)
  console.log(
    `  dbsweep serve (purging):  ${f(busy.rps)} req/s, p99 ${busy.p99} ms (purge of ${N} tombstones ${run.state} at the end of the load, ${run.progress.done}/${run.progress.total}${run.summary === undefined ? "" : `, in ${(run.summary.durationMs / 1000).toFixed(1)} s`})`,
  )
  console.log(
    `  dbsweep serve (idle, the same purge as a CLI in another process): ${f(beside.rps)} req/s, p99 ${beside.p99} ms`,
  )
  if (existsSync(`/proc/${serve.proc.pid}/task`))
    console.log(
      `  CPU of the server's threads during a purge of ${N} with no load: ${threads.main.toFixed(2)} s the HTTP thread, ${threads.others.toFixed(2)} s the others (job worker, JIT, GC)`,
    )
  console.log(
    `  ratio idle/bare ${(serveIdle.rps / bareIdle.rps).toFixed(2)} (goal >= 0.8); purging/bare ${(busy.rps / bareIdle.rps).toFixed(2)}; p99 while purging ${busy.p99} ms (goal < 5)`,
  )
} finally {
  serve.proc.kill("SIGTERM")
  await serve.proc.exited
  bare.proc.kill()
  couch.proc.kill()
}
