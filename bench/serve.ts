/**
 * `make bench` (serve part): autocannon on loopback against `GET /healthz` of (a) the binary's
 * `dbsweep serve` and (b) a bare Hono app on Bun answering the same route, each its own process,
 * in one run; then (a) again while a purge of 100,000 tombstones runs inside the server (the
 * CouchDB-API test server in its own process). Goals: a ≥ 0.8 × b in requests/s; p99 < 5 ms
 * while the job runs. Flags: --tombstones N (100000), --seconds S (5), --connections C (50), --bin PATH
 * (another binary to measure, e.g. a build of an earlier commit).
 */
import { mkdirSync, writeFileSync } from "node:fs"
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
  console.log(
    `  ratio idle/bare ${(serveIdle.rps / bareIdle.rps).toFixed(2)} (goal >= 0.8); purging/bare ${(busy.rps / bareIdle.rps).toFixed(2)}; p99 while purging ${busy.p99} ms (goal < 5)`,
  )
} finally {
  serve.proc.kill("SIGTERM")
  await serve.proc.exited
  bare.proc.kill()
  couch.proc.kill()
}
