/**
 * Leases taken ahead of their database's purge (a run of many), against a CouchDB over HTTP (the
 * test server, or a real one with COUCHDB_URL): taken together, used without another request,
 * renewed first when old, skipped when another purger holds them, given back at the end when
 * never used. A proxy in front of the server records the requests made.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Duration, Effect, Either } from "effect"
import { CouchClient } from "../../src/couch/client.ts"
import { makeLeases, type RunLeases } from "../../src/purge/lease.ts"
import { leaseDocId, leaseDocPath, leasesDb } from "../../src/purge/lease-doc.ts"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { removeLeases } from "../support/leases.ts"
import { recordingClient } from "../support/recording-client.ts"

let t: CouchTarget
const prefix = `lease-ahead-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const used: Array<string> = []
const name = (n: string) => {
  const db = `${prefix}-${n}`
  used.push(db)
  return db
}

beforeAll(async () => {
  t = await startCouchTarget()
  expect([201, 412]).toContain((await couch(t, "PUT", `/${leasesDb}`)).status)
})
afterAll(async () => {
  await removeLeases(t, used)
  await t.stop()
})

const retry = { retries: 0, base: Duration.millis(1), factor: 2, cap: Duration.millis(1) }

/** `use` with a run's leases (released later, as a run of many has them), through a recording proxy. */
const withRun = async <A>(
  use: (run: RunLeases, requests: () => ReadonlyArray<string>) => Effect.Effect<A, unknown>,
) => {
  const client = recordingClient(t)
  /** The requests so far, as "METHOD /path". */
  const requests = () => client.seen.map((r) => `${r.method} ${r.path}`)
  try {
    return await Effect.runPromise(
      CouchClient.pipe(
        Effect.flatMap((c) => makeLeases(c)),
        Effect.flatMap((leases) => leases.forRun(retry, { releaseLater: true })),
        Effect.flatMap((run) => use(run, requests)),
        Effect.provide(client.layer),
      ),
    )
  } finally {
    await client.stop()
  }
}

const leaseOf = async (db: string) => {
  const got = await couch(t, "GET", leaseDocPath(db))
  return got.status === 200 ? (got.body as { holder: string; renewed_at: string; _rev: string }) : undefined
}

describe("leases taken ahead (a run of many)", () => {
  test("taken together; used with no request of their own; one held elsewhere is skipped; the unused given back", async () => {
    const [a, b, c, d] = [name("a"), name("b"), name("c"), name("d")]
    const other = "other-host:7:abcdef01"
    const put = await couch(t, "PUT", leaseDocPath(b), {
      holder: other,
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    })
    expect(put.status).toBe(201)

    const r = await withRun((run, requests) =>
      Effect.gen(function* () {
        const ttl = Duration.minutes(1)
        yield* run.reserve([a, b, c, d], ttl)
        const afterReserve = requests().length
        const reserveRequests = requests().slice(0, afterReserve)
        const heldA = yield* Effect.promise(() => leaseOf(a))
        const usedA = yield* run.withLease(a, ttl, () => Effect.succeed("purged a"))
        const duringA = requests().slice(afterReserve)
        const usedB = yield* run.withLease(b, ttl, () => Effect.succeed("purged b"))
        yield* run.settle
        return { reserveRequests, heldA, usedA, duringA, usedB, all: requests() }
      }),
    )
    // Four PUTs asked for at once go together: one _bulk_docs (or a PUT alone, then the rest).
    expect(r.reserveRequests).toContain(`POST /${leasesDb}/_bulk_docs`)
    expect(r.reserveRequests.length).toBeLessThanOrEqual(2)
    expect(r.heldA?.holder).toMatch(/:\d+:[0-9a-f]{8}$/)
    expect(r.usedA).toEqual(Either.right("purged a"))
    // The lease was taken already: using it asks nothing (its release goes later).
    expect(r.duringA.filter((x) => x.includes(leaseDocId(a)) && !x.startsWith("DELETE"))).toEqual([])
    // b is another purger's: skipped as held by it, and its lease left alone.
    expect(Either.isLeft(r.usedB)).toBe(true)
    if (Either.isLeft(r.usedB)) expect(r.usedB.left.holder).toBe(other)
    expect((await leaseOf(b))?.holder).toBe(other)
    // a given back after its use, c and d (taken, never used) at the end.
    for (const db of [a, c, d]) expect(await leaseOf(db)).toBeUndefined()
  }, 30_000)

  test("a lease taken ahead and older than a renewal's gap is renewed (PUT with its rev) before its purge", async () => {
    const e = name("e")
    const r = await withRun((run, requests) =>
      Effect.gen(function* () {
        const ttl = Duration.seconds(3)
        yield* run.reserve([e], ttl)
        const first = yield* Effect.promise(() => leaseOf(e))
        yield* Effect.sleep(Duration.millis(1_200))
        const before = requests().length
        const inside = yield* run.withLease(e, ttl, () => Effect.promise(() => leaseOf(e)))
        const renewal = requests().slice(before, before + 1)
        yield* run.settle
        return { first, inside, renewal }
      }),
    )
    expect(r.renewal).toEqual([`PUT /${leasesDb}/${leaseDocId(e)}`])
    expect(Either.isRight(r.inside)).toBe(true)
    if (Either.isRight(r.inside)) {
      expect(r.inside.right?._rev).not.toBe(r.first?._rev)
      expect(Date.parse(r.inside.right!.renewed_at)).toBeGreaterThan(Date.parse(r.first!.renewed_at))
    }
    expect(await leaseOf(e)).toBeUndefined()
  }, 30_000)
})
