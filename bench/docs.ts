/**
 * `make bench` (docs part): on the CouchDB-API test server (own process) with a fixed latency per
 * request, moves N app-shaped documents (~620 bytes) from a file store into CouchDB four ways:
 * (a) dbsweep docs migrate, then again (idempotent: nothing to write), (b) the original service's
 * method (per doc: check the database, GET the doc, PUT it), timed on a sample and extrapolated,
 * (c) raw _bulk_docs of 500 docs, 10 in flight, (d) couchrestore of the same docs. Prints the
 * ratios and dbsweep's peak RSS. Flags: --docs N (50000), --sample N (2000), --latency MS (2),
 * --big N (0: skip; e.g. 500000 to compare peak RSS).
 */
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { arg, bin, password, root, startTestCouch, user } from "./support.ts"

const N = arg("docs", 50_000)
const SAMPLE = arg("sample", 2_000)
const LATENCY = arg("latency", 2)
const BIG = arg("big", 0)
const couch = await startTestCouch()
const { url, request, call } = couch
const server = couch.proc
await call("PUT", "/_dbsweep_test/faults", { latencyMs: LATENCY })

/** An application document of about 620 bytes as JSON. */
const appDoc = (i: number) => ({
  _id: `user-${String(i).padStart(7, "0")}`,
  type: "user",
  name: `User Number ${i}`,
  email: `user.number.${i}@example.com`,
  createdAt: new Date(1_700_000_000_000 + i * 1000).toISOString(),
  roles: ["reader", i % 3 === 0 ? "writer" : "guest"],
  address: {
    street: `${i} Long Example Street`,
    city: "Zürich",
    zip: String(8000 + (i % 100)),
    country: "CH",
  },
  settings: {
    theme: i % 2 ? "dark" : "light",
    language: "de-CH",
    notifications: { email: true, sms: false },
  },
  bio: "A realistic amount of free text that an application keeps about each of its users. ".repeat(3),
})

/** The file store dir (`<collection>.ndjson`) and a couchbackup file of the same docs. */
const makeSource = (n: number, collection: string) => {
  const dir = mkdtempSync(join(tmpdir(), "dbsweep-bench-docs-"))
  const lines: Array<string> = []
  const backup: Array<string> = [
    JSON.stringify({ name: "@cloudant/couchbackup", version: "2.11.12", mode: "full", attachments: false }),
  ]
  let batch: Array<unknown> = []
  for (let i = 0; i < n; i++) {
    const { _id, ...body } = appDoc(i)
    const hash = createHash("md5").update(JSON.stringify(body)).digest("hex")
    lines.push(JSON.stringify({ _id, _rev: `1-${hash}`, ...body }))
    batch.push({ _id, _rev: `1-${hash}`, _revisions: { start: 1, ids: [hash] }, ...body })
    if (batch.length === 500) {
      backup.push(JSON.stringify(batch))
      batch = []
    }
  }
  if (batch.length > 0) backup.push(JSON.stringify(batch))
  writeFileSync(join(dir, `${collection}.ndjson`), `${lines.join("\n")}\n`)
  writeFileSync(join(dir, "backup.txt"), `${backup.join("\n")}\n`)
  return dir
}

const env = { PATH: process.env.PATH ?? "", COUCHDB_URL: url, COUCHDB_USER: user, COUCHDB_PASSWORD: password }

/** Runs dbsweep's migration, sampling its peak RSS (VmHWM) while it runs. */
const migrate = async (dir: string, collection: string) => {
  const started = performance.now()
  const proc = Bun.spawn(
    [
      bin,
      "docs",
      "migrate",
      "--from",
      `file:${dir}`,
      "--to",
      "couchdb",
      "--collections",
      collection,
      "--json",
      "--no-env-file",
      "--log-level",
      "warning",
    ],
    { env, stdout: "pipe", stderr: "inherit" },
  )
  let peakKb = 0
  const sampler = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))
      if (m) peakKb = Math.max(peakKb, Number(m[1]))
    } catch {}
  }, 20)
  const out = await new Response(proc.stdout).text()
  const code = await proc.exited
  clearInterval(sampler)
  if (code !== 0) throw new Error(`dbsweep exited ${code}: ${out}`)
  const s = JSON.parse(out) as { written: number; skipped: number }
  return { seconds: (performance.now() - started) / 1000, peakMb: peakKb / 1024, ...s }
}

/** The original service's save, per doc: check the database, read the current rev, PUT. */
const original = async (db: string, n: number) => {
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    const { _id, ...body } = appDoc(i)
    if ((await request("GET", `/${db}`)).status === 404) await request("PUT", `/${db}`)
    const cur = await request("GET", `/${db}/${_id}`)
    const rev = cur.status === 200 ? (JSON.parse(cur.body) as { _rev: string })._rev : undefined
    await call("PUT", `/${db}/${_id}`, { ...body, _id, ...(rev === undefined ? {} : { _rev: rev }) })
  }
  return (performance.now() - started) / 1000
}

/** The server's limit: 500-doc _bulk_docs, a sliding window of 10, docs known in advance. */
const raw = async (db: string, n: number) => {
  await call("PUT", `/${db}`)
  const started = performance.now()
  let next = 0
  const worker = async () => {
    for (let i = next; i < n; i = next) {
      next += 500
      const docs = Array.from({ length: Math.min(500, n - i) }, (_, k) => appDoc(i + k))
      await call("POST", `/${db}/_bulk_docs`, { docs })
    }
  }
  await Promise.all(Array.from({ length: 10 }, worker))
  return (performance.now() - started) / 1000
}

const couchrestore = async (dir: string, db: string) => {
  await call("PUT", `/${db}`)
  const u = new URL(url)
  u.username = user
  u.password = password
  const started = performance.now()
  const proc = Bun.spawn(
    [join(root, "node_modules/.bin/couchrestore"), "--url", u.toString().replace(/\/$/, ""), "--db", db],
    { stdin: Bun.file(join(dir, "backup.txt")), stdout: "ignore", stderr: "pipe" },
  )
  const err = await new Response(proc.stderr).text()
  if ((await proc.exited) !== 0) throw new Error(`couchrestore failed: ${err.slice(-500)}`)
  return (performance.now() - started) / 1000
}

try {
  console.log(
    `docs bench: ${N} docs (~${JSON.stringify(appDoc(1)).length} bytes), latency ${LATENCY} ms per request`,
  )
  const dir = makeSource(N, "users")
  const a = await migrate(dir, "users")
  if (a.written !== N) throw new Error(`dbsweep wrote ${a.written} of ${N}`)
  const a2 = await migrate(dir, "users")
  if (a2.written !== 0 || a2.skipped !== N) throw new Error(`second run wrote ${a2.written}`)
  const sample = await original("bench-original", Math.min(SAMPLE, N))
  const b = (sample * N) / Math.min(SAMPLE, N)
  const c = await raw("bench-raw", N)
  const d = await couchrestore(dir, "bench-couchrestore")
  console.log(`(a) dbsweep docs migrate   ${a.seconds.toFixed(2)} s (peak RSS ${a.peakMb.toFixed(0)} MB)`)
  console.log(`(a2) second run (no writes) ${a2.seconds.toFixed(2)} s`)
  console.log(
    `(b) original per-doc method ${b.toFixed(1)} s (measured ${sample.toFixed(2)} s for ${Math.min(SAMPLE, N)} docs, extrapolated to ${N})`,
  )
  console.log(`(c) raw _bulk_docs 500 x10  ${c.toFixed(2)} s`)
  console.log(`(d) couchrestore            ${d.toFixed(2)} s`)
  console.log(`speed-up over the original b/a = ${(b / a.seconds).toFixed(1)}x (goal >= 50x)`)
  console.log(`speed vs raw _bulk_docs c/a = ${(c / a.seconds).toFixed(2)} (goal >= 0.8)`)
  console.log(`speed vs couchrestore d/a = ${(d / a.seconds).toFixed(2)} (goal > 1)`)
  console.log(`idempotent second run speed a/a2 = ${(a.seconds / a2.seconds).toFixed(2)} (goal >= 0.8)`)
  if (BIG > 0) {
    const big = await migrate(makeSource(BIG, "users-big"), "users-big")
    console.log(
      `peak RSS ${a.peakMb.toFixed(0)} MB at ${N}, ${big.peakMb.toFixed(0)} MB at ${BIG}: ratio ${(big.peakMb / a.peakMb).toFixed(2)} (goal <= 1.2)`,
    )
  } else {
    console.log("peak RSS at a larger size: not measured (pass --big 500000)")
  }
} finally {
  server.kill()
}
