/**
 * For profiling by hand: starts the CouchDB-API test server, seeds N tombstones (in one database,
 * or with --dbs D in D databases `seeded-000000`… of N/D each), sets the latency, prints the URL
 * and the database (or the glob), and keeps running until killed.
 * `bun bench/seed.ts --tombstones 20000 --latency 2`
 * `bun bench/seed.ts --tombstones 100000 --dbs 2000 --latency 2`
 */
import { arg, startTestCouch } from "./support.ts"

const N = arg("tombstones", 20_000)
const DBS = arg("dbs", 0)
const couch = await startTestCouch(["--version", "3.5.0"])
const fill = async (db: string, n: number) => {
  await couch.call("PUT", `/${db}`)
  for (let i = 0; i < n; i += 10_000) {
    const docs = Array.from({ length: Math.min(10_000, n - i) }, (_, k) => ({
      _id: `doc-${i + k}`,
      v: i + k,
    }))
    const made = (await couch.call("POST", `/${db}/_bulk_docs`, { docs })) as Array<{
      id: string
      rev: string
    }>
    await couch.call("POST", `/${db}/_bulk_docs`, {
      docs: made.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
    })
  }
}
const names =
  DBS > 0 ? Array.from({ length: DBS }, (_, i) => `seeded-${String(i).padStart(6, "0")}`) : ["seeded"]
for (const db of names) await fill(db, Math.floor(N / names.length))
await couch.call("PUT", "/_dbsweep_test/faults", { latencyMs: arg("latency", 2) })
console.log(`${couch.url} ${DBS > 0 ? "seeded-*" : "seeded"}`)
process.on("SIGTERM", () => {
  couch.proc.kill()
  process.exit(0)
})
await couch.proc.exited
