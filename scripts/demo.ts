/**
 * `make demo`: a first run with nothing to set up. Starts the CouchDB-API test server, seeds a
 * database with live documents, tombstones and conflicted tombstones, runs the compiled binary's
 * purge as a dry run and for real, and shows what is left. Then the PostgreSQL cleanup demo.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { startCouchServer } from "../test/support/couch-server.ts"
import { allChanges, type CouchTarget, dbInfo, seed } from "../test/support/couch-target.ts"

const root = join(import.meta.dir, "..")
const bin = join(root, "dist", "dbsweep")
const say = (text: string) => console.log(`\n\x1b[1m== ${text}\x1b[0m`)

const run = async (args: ReadonlyArray<string>, env: Record<string, string>) => {
  console.log(`$ dbsweep ${args.join(" ")}`)
  const proc = Bun.spawn([bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ["inherit", "inherit", "inherit"],
  })
  const code = await proc.exited
  console.log(`(exit ${code})`)
  if (code !== 0) throw new Error(`dbsweep ${args[0]} failed with exit ${code}`)
}

const user = "admin"
const password = "demo-password"
const server = await startCouchServer({
  admin: { user, password },
  version: "3.5.0",
  faults: { latencyMs: 1 },
})
const target: CouchTarget = { url: server.url, user, password, faults: undefined, stop: () => server.stop() }
try {
  say(`CouchDB-API test server at ${server.url}; seeding database "orders"`)
  await fetch(`${server.url}/orders`, {
    method: "PUT",
    headers: { authorization: `Basic ${btoa(`${user}:${password}`)}` },
  })
  const seeded = await seed(target, "orders", {
    live: 2000,
    tombstones: 20000,
    conflictedTombstones: 500,
    liveConflicts: 100,
  })
  const before = await dbInfo(target, "orders")
  console.log(
    `orders: ${before.doc_count} live documents, ${before.doc_del_count} deleted (tombstones, 500 of them with two deleted leaves)`,
  )

  const env = {
    COUCHDB_URL: server.url,
    COUCHDB_USER: user,
    COUCHDB_PASSWORD: password,
    COUCHDB_DB_NAME: "orders",
  }
  say("dry run: what would be purged (nothing is changed)")
  await run(["purge", "--dry-run"], env)
  say("the real purge (irreversible; checkpoint kept in orders/_local/dbsweep-purge)")
  await run(["purge"], env)

  const after = await dbInfo(target, "orders")
  const rows = await allChanges(target, "orders")
  say("after the purge")
  console.log(`orders: ${after.doc_count} live documents, ${after.doc_del_count} tombstones`)
  console.log(`deleted rows left in _changes: ${rows.filter((r) => r.deleted === true).length}`)
  const present = new Set(rows.map((r) => r.id))
  const liveKept = [...seeded.live.keys(), ...seeded.liveConflicts.keys()].every((id) => present.has(id))
  console.log(`every live document kept: ${liveKept}; live conflicts kept: ${seeded.liveConflicts.size}`)
  say("a second run reads only what changed since the checkpoint")
  await run(["purge"], env)
} finally {
  await server.stop()
}

const cleanupDemo = join(root, "scripts", "demo-cleanup.ts")
if (existsSync(cleanupDemo)) {
  say("PostgreSQL cleanup")
  const proc = Bun.spawn([process.execPath, cleanupDemo], { stdio: ["inherit", "inherit", "inherit"] })
  process.exitCode = await proc.exited
}
