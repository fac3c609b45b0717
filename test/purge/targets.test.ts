import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { CouchClient } from "../../src/couch/client.ts"
import { selectDbs, type Targets } from "../../src/purge/targets.ts"
import { type CouchTarget, couch, deleteDb, startCouchTarget } from "../support/couch-target.ts"
import { recordingClient } from "../support/recording-client.ts"

/** Which databases a purge of many selects, with `_all_dbs` read a few names a page. */

let t: CouchTarget
const prefix = `sel-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const names = Array.from({ length: 53 }, (_, i) => `${prefix}-${String(i).padStart(2, "0")}`)
const near = [`${prefix}x`, `${prefix}-10-extra`]

beforeAll(async () => {
  t = await startCouchTarget()
  for (const db of [...names, ...near]) await couch(t, "PUT", `/${db}`)
})
afterAll(async () => {
  for (const db of [...names, ...near]) await deleteDb(t, db)
  await t.stop()
})

/** The requests made, as the proxy in front of CouchDB saw them. */
const select = async (targets: Targets, pageSize: number) => {
  const client = recordingClient(t)
  try {
    const selected = await Effect.runPromise(
      CouchClient.pipe(
        Effect.flatMap((c) => selectDbs(c, targets, pageSize)),
        Effect.provide(client.layer),
      ),
    )
    const requests = client.seen.map((r) => `${r.method} ${r.path}?${r.query}`)
    return { selected, requests: requests.filter((r) => r.startsWith("GET /_all_dbs")) }
  } finally {
    await client.stop()
  }
}

describe("selecting databases", () => {
  test("a glob reads _all_dbs in pages from its prefix and keeps only the names it matches", async () => {
    const { selected, requests } = await select({ dbs: [`${prefix}-??`], allDbs: false }, 7)
    expect(selected.dbs).toEqual(names)
    expect(selected.unmatched).toEqual([])
    // 53 names and the one after them in the prefix's range: pages of 7, each starting after the last.
    expect(requests.length).toBeGreaterThanOrEqual(8)
    expect(requests.length).toBeLessThanOrEqual(9)
    for (const r of requests) expect(r).toContain("limit=7")
    expect(requests[0]).toContain(`start_key=${encodeURIComponent(JSON.stringify(`${prefix}-`))}`)
    expect(requests[1]).toContain("skip=1")
  })

  test("names come first as given, globs add theirs once, and a glob matching nothing is reported", async () => {
    const { selected } = await select(
      { dbs: [names[5]!, `${prefix}-0*`, "no-such-*", names[5]!], allDbs: false },
      4,
    )
    expect(selected.dbs).toEqual([names[5]!, ...names.slice(0, 10).filter((n) => n !== names[5])])
    expect(selected.unmatched).toEqual(["no-such-*"])
  })
})
