/**
 * For profiling by hand: starts the CouchDB-API test server, seeds a database with N tombstones,
 * sets the latency, prints the URL and database, and keeps running until killed.
 * `bun bench/seed.ts --tombstones 20000 --latency 2`
 */
import { arg, startTestCouch } from "./support.ts"

const N = arg("tombstones", 20_000)
const couch = await startTestCouch(["--version", "3.5.0"])
const db = "seeded"
await couch.call("PUT", `/${db}`)
for (let i = 0; i < N; i += 10_000) {
  const docs = Array.from({ length: Math.min(10_000, N - i) }, (_, k) => ({ _id: `doc-${i + k}`, v: i + k }))
  const made = (await couch.call("POST", `/${db}/_bulk_docs`, { docs })) as Array<{ id: string; rev: string }>
  await couch.call("POST", `/${db}/_bulk_docs`, {
    docs: made.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
  })
}
await couch.call("PUT", "/_dbsweep_test/faults", { latencyMs: arg("latency", 2) })
console.log(`${couch.url} ${db}`)
process.on("SIGTERM", () => {
  couch.proc.kill()
  process.exit(0)
})
await couch.proc.exited
