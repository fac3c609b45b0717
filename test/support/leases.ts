/** What the lease suites leave on a CouchDB target, cleared at their end. */
import { leaseDocPath } from "../../src/purge/lease-doc.ts"
import { type CouchTarget, couch } from "./couch-target.ts"

/** Deletes the lease documents of `dbs` that are there (a real CouchDB outlives the suite). */
export const removeLeases = async (t: CouchTarget, dbs: Iterable<string>) => {
  for (const db of dbs) {
    const got = await couch(t, "GET", leaseDocPath(db))
    if (got.status === 200) {
      await couch(t, "DELETE", `${leaseDocPath(db)}?rev=${(got.body as { _rev: string })._rev}`)
    }
  }
}
