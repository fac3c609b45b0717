import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { FetchHttpClient } from "@effect/platform"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { CouchClient } from "../../src/couch/client.ts"
import { selectDbs, type Targets } from "../../src/purge/targets.ts"
import { type CouchTarget, couch, deleteDb, startCouchTarget } from "../support/couch-target.ts"

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
  const seen: Array<string> = []
  const proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const url = new URL(req.url)
      seen.push(`${req.method} ${url.pathname}?${url.searchParams.toString()}`)
      return fetch(`${t.url}${url.pathname}${url.search}`, { method: req.method, headers: req.headers })
    },
  })
  try {
    const client = CouchClient.layer({
      url: `http://127.0.0.1:${proxy.port}`,
      user: Option.some(t.user),
      password: Option.some(Redacted.make(t.password)),
      timeout: Duration.seconds(10),
    }).pipe(Layer.provide(FetchHttpClient.layer))
    const selected = await Effect.runPromise(
      CouchClient.pipe(
        Effect.flatMap((c) => selectDbs(c, targets, pageSize)),
        Effect.provide(client),
      ),
    )
    return { selected, requests: seen.filter((r) => r.startsWith("GET /_all_dbs")) }
  } finally {
    await proxy.stop(true)
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
