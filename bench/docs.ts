/**
 * `make bench` (docs part): moves N app-shaped plain documents (~620 bytes, `_id` and no `_rev`,
 * as an app exports them) from an NDJSON file into CouchDB four ways: (a) dbsweep docs migrate,
 * then again (idempotent: nothing to write), (b) the original service's method (per doc: check
 * the database, GET the doc, PUT it), timed on a sample and extrapolated, (c) raw _bulk_docs of
 * 500 docs, 10 in flight, (d) couchrestore of the same docs. Prints docs/s, the ratios, the client
 * CPU of (a) and (c) and dbsweep's peak RSS (VmHWM, sampled). (a) and (c) alternate for
 * `--rounds` rounds; the medians are printed.
 * CouchDB: the project's test server (own process, `--latency` ms per request), or a real one when
 * COUCHDB_URL (with COUCHDB_USER, COUCHDB_PASSWORD of an admin) is set; its databases are named
 * `dbsweep-bench-docs-…` and deleted at the end.
 * Flags: --docs N (50000), --sample N (2000), --latency MS (2), --rounds N (1),
 * --big N (0: skip; e.g. 500000 to compare peak RSS with the first size).
 */
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { arg, couchTarget, median, root, runBinary } from "./support.ts"

const N = arg("docs", 50_000)
const SAMPLE = arg("sample", 2_000)
const LATENCY = arg("latency", 2)
const BIG = arg("big", 0)
const ROUNDS = Math.max(1, arg("rounds", 1))

/** The CouchDB to measure against: a real one (COUCHDB_URL) or the test server with latency. */
const connect = async () => {
  const target = await couchTarget()
  await target.setLatency(LATENCY)
  return target.real ? target : { ...target, where: `${target.where}, ${LATENCY} ms per request` }
}
const { url, user, password, request, call, stop, where } = await connect()
const prefix = `dbsweep-bench-docs-${Date.now().toString(36)}`
const created: Array<string> = []
/** A database name of this run (deleted at the end). */
const dbName = (what: string) => {
  const name = `${prefix}-${what}`
  created.push(name)
  return name
}

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

const dirs: Array<string> = []
/** An NDJSON file of plain docs (`<collection>.ndjson`) and a couchbackup file of the same docs. */
const makeSource = (n: number, collection: string) => {
  const dir = mkdtempSync(join(tmpdir(), "dbsweep-bench-docs-"))
  dirs.push(dir)
  const lines: Array<string> = []
  const backup: Array<string> = [
    JSON.stringify({ name: "@cloudant/couchbackup", version: "2.11.12", mode: "full", attachments: false }),
  ]
  let batch: Array<unknown> = []
  for (let i = 0; i < n; i++) {
    const { _id, ...body } = appDoc(i)
    const hash = createHash("md5").update(JSON.stringify(body)).digest("hex")
    lines.push(JSON.stringify({ _id, ...body }))
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

/** Runs dbsweep's migration into `db`, sampling its peak RSS (VmHWM) while it runs. */
const migrate = async (dir: string, collection: string, db: string) => {
  const run = await runBinary(
    [
      "docs",
      "migrate",
      "--from",
      `ndjson:${join(dir, `${collection}.ndjson`)}`,
      "--to",
      "couchdb",
      "--collections",
      db,
      "--json",
      "--no-env-file",
      "--log-level",
      "warning",
    ],
    env,
  )
  return { ...run, ...(JSON.parse(run.out) as { written: number; skipped: number }) }
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
  const cpu = process.cpuUsage()
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
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 }
}

const couchrestore = async (dir: string, db: string) => {
  await call("PUT", `/${db}`)
  const u = new URL(url)
  u.username = user
  u.password = password
  const started = performance.now()
  const proc = Bun.spawn(
    [join(root, "node_modules/.bin/couchrestore"), "--url", u.toString().replace(/\/$/, ""), "--db", db],
    // Its temp dir (couchbackup makes one for a log at start and leaves it) inside the bench's own.
    {
      stdin: Bun.file(join(dir, "backup.txt")),
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, TMPDIR: dir },
    },
  )
  const err = await new Response(proc.stderr).text()
  if ((await proc.exited) !== 0) throw new Error(`couchrestore failed: ${err.slice(-500)}`)
  return (performance.now() - started) / 1000
}

const rate = (seconds: number) => `${Math.round(N / seconds).toLocaleString("en")} docs/s`

try {
  console.log(
    `docs bench: ${N} plain docs (~${JSON.stringify(appDoc(1)).length} bytes, no _rev) into ${where}`,
  )
  const dir = makeSource(N, "users")
  const rounds: Array<{ a: Awaited<ReturnType<typeof migrate>>; c: Awaited<ReturnType<typeof raw>> }> = []
  let a2: Awaited<ReturnType<typeof migrate>> | undefined
  for (let round = 0; round < ROUNDS; round++) {
    const db = dbName(`dbsweep-${round}`)
    const a = await migrate(dir, "users", db)
    if (a.written !== N) throw new Error(`dbsweep wrote ${a.written} of ${N}`)
    if (round === 0) {
      a2 = await migrate(dir, "users", db)
      if (a2.written !== 0 || a2.skipped !== N) throw new Error(`second run wrote ${a2.written}`)
    }
    const c = await raw(dbName(`raw-${round}`), N)
    rounds.push({ a, c })
    console.log(
      `  round ${round + 1}: dbsweep ${rate(a.seconds)} (CPU ${a.cpuSeconds.toFixed(2)} s, peak RSS ${a.peakMb.toFixed(0)} MB), raw ${rate(c.seconds)} (CPU ${c.cpuSeconds.toFixed(2)} s): ${(c.seconds / a.seconds).toFixed(2)}`,
    )
  }
  const a = {
    seconds: median(rounds.map((r) => r.a.seconds)),
    cpuSeconds: median(rounds.map((r) => r.a.cpuSeconds)),
    peakMb: median(rounds.map((r) => r.a.peakMb)),
  }
  const c = {
    seconds: median(rounds.map((r) => r.c.seconds)),
    cpuSeconds: median(rounds.map((r) => r.c.cpuSeconds)),
  }
  const ratios = rounds.map((r) => r.c.seconds / r.a.seconds)
  const sample = await original(dbName("original"), Math.min(SAMPLE, N))
  const b = (sample * N) / Math.min(SAMPLE, N)
  const d = await couchrestore(dir, dbName("couchrestore"))
  const median3 = ROUNDS > 1 ? ` (medians of ${ROUNDS} alternating rounds)` : ""
  console.log(
    `(a) dbsweep docs migrate   ${a.seconds.toFixed(2)} s = ${rate(a.seconds)}; client CPU ${a.cpuSeconds.toFixed(2)} s user+sys; peak RSS ${a.peakMb.toFixed(0)} MB${median3}`,
  )
  console.log(
    `(a2) second run (no writes) ${a2!.seconds.toFixed(2)} s; client CPU ${a2!.cpuSeconds.toFixed(2)} s`,
  )
  console.log(
    `(b) original per-doc method ${b.toFixed(1)} s (measured ${sample.toFixed(2)} s for ${Math.min(SAMPLE, N)} docs, extrapolated to ${N})`,
  )
  console.log(
    `(c) raw _bulk_docs 500 x10  ${c.seconds.toFixed(2)} s = ${rate(c.seconds)}; client CPU ${c.cpuSeconds.toFixed(2)} s user+sys`,
  )
  console.log(`(d) couchrestore            ${d.toFixed(2)} s = ${rate(d)}`)
  console.log(`speed-up over the original b/a = ${(b / a.seconds).toFixed(1)}x (goal >= 50x)`)
  console.log(
    `speed vs raw _bulk_docs c/a = ${(c.seconds / a.seconds).toFixed(2)}${ROUNDS > 1 ? ` (rounds: ${ratios.map((x) => x.toFixed(2)).join(", ")})` : ""} (goal >= 0.8)`,
  )
  console.log(`speed vs couchrestore d/a = ${(d / a.seconds).toFixed(2)} (goal > 1)`)
  console.log(`idempotent second run speed a/a2 = ${(a.seconds / a2!.seconds).toFixed(2)} (goal >= 0.8)`)
  if (BIG > 0) {
    const big = await migrate(makeSource(BIG, "users-big"), "users-big", dbName("big"))
    console.log(
      `peak RSS ${a.peakMb.toFixed(0)} MB at ${N}, ${big.peakMb.toFixed(0)} MB at ${BIG}: ratio ${(big.peakMb / a.peakMb).toFixed(2)} (goal <= 1.2 and <= 150 MB); ${rate(big.seconds * (N / BIG))} at ${BIG}, CPU ${big.cpuSeconds.toFixed(2)} s`,
    )
  } else {
    console.log("peak RSS at a larger size: not measured (pass --big 500000)")
  }
} finally {
  for (const db of created) await request("DELETE", `/${db}`).catch(() => undefined)
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  await stop()
}
