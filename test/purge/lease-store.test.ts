/**
 * The lease store's writes by group commit, against a CouchDB (HTTP only: the test server, or a
 * real CouchDB with COUCHDB_URL): writes asked for while one is on its way go as one `_bulk_docs`,
 * and each gets the answer its own PUT or DELETE would have had (a rev, or the 409's "conflict").
 * A proxy in front of the server records the requests made.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Duration, Effect, Either, Fiber } from "effect"
import { CouchClient } from "../../src/couch/client.ts"
import { leaseBody, leaseDocId, leaseDocPath, leasesDb } from "../../src/purge/lease-doc.ts"
import { makeLeaseStore } from "../../src/purge/lease-store.ts"
import { type CouchTarget, couch, startCouchTarget } from "../support/couch-target.ts"
import { removeLeases } from "../support/leases.ts"
import { recordingClient } from "../support/recording-client.ts"

let t: CouchTarget
const prefix = `lease-store-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const names = ["a", "b", "c", "d", "e"].map((n) => `${prefix}-${n}`)
const [a, b, c, d, e] = names as [string, string, string, string, string]

beforeAll(async () => {
  t = await startCouchTarget()
  expect([201, 412]).toContain((await couch(t, "PUT", `/${leasesDb}`)).status)
})
afterAll(async () => {
  await removeLeases(t, names)
  await t.stop()
})

const retry = { retries: 0, base: Duration.millis(1), factor: 2, cap: Duration.millis(1) }
const body = (db: string, rev?: string) =>
  leaseBody({ db, holder: "test:1:lease-store", acquiredAt: 0, now: Date.now(), ttlMs: 60_000, rev })

/** `use` with a lease store whose requests pass a proxy that records them (method and path). */
const withStore = async <A>(use: (store: ReturnType<typeof makeLeaseStore>) => Effect.Effect<A, unknown>) => {
  const client = recordingClient(t)
  try {
    const result = await Effect.runPromise(
      CouchClient.pipe(
        Effect.flatMap((couchClient) => use(makeLeaseStore(couchClient, retry))),
        Effect.provide(client.layer),
      ),
    )
    return { result, seen: client.seen.map((r) => `${r.method} ${r.path}`) }
  } finally {
    await client.stop()
  }
}

describe("lease writes by group commit", () => {
  test("writes asked for while one is on its way go as one _bulk_docs, each answered as alone", async () => {
    // Another purger's lease on `a`: taking it without its rev is the compare-and-set's no.
    const other = await couch(t, "PUT", leaseDocPath(a), {
      holder: "other:2:x",
      expires_at: "2999-01-01T00:00:00Z",
    })
    expect(other.status).toBe(201)

    const { result, seen } = await withStore((store) =>
      Effect.gen(function* () {
        // The first goes alone; the others are asked for while it is on its way.
        const first = yield* Effect.fork(store.put(e, body(e)))
        const rest = yield* Effect.all(
          [store.put(a, body(a)), store.put(b, body(b)), store.put(c, body(c))],
          {
            concurrency: "unbounded",
          },
        )
        return { alone: yield* Fiber.await(first), rest }
      }),
    )
    expect(result.alone._tag).toBe("Success")
    expect(result.rest.map((r) => (Either.isLeft(r) ? r.left : "rev"))).toEqual(["conflict", "rev", "rev"])
    expect(seen).toEqual([`PUT /${leasesDb}/${leaseDocId(e)}`, `POST /${leasesDb}/_bulk_docs`])
    // What was written is the lease, as a PUT would have written it.
    const stored = await couch(t, "GET", leaseDocPath(b))
    expect(stored.body).toMatchObject({ holder: "test:1:lease-store", db: b })
    const revB = (stored.body as { _rev: string })._rev
    if (Either.isRight(result.rest[1]!)) expect(result.rest[1]!.right).toBe(revB)
    // The other purger's lease is untouched.
    expect((await couch(t, "GET", leaseDocPath(a))).body).toMatchObject({ holder: "other:2:x" })

    // Deletions and a renewal together: a stale rev is "not ours" (false), the right one deletes.
    const revC = ((await couch(t, "GET", leaseDocPath(c))).body as { _rev: string })._rev
    const revE = ((await couch(t, "GET", leaseDocPath(e))).body as { _rev: string })._rev
    const later = await withStore((store) =>
      Effect.gen(function* () {
        const first = yield* Effect.fork(store.remove(e, revE))
        const rest = yield* Effect.all(
          [
            store.remove(b, "1-00000000000000000000000000000000"),
            store.remove(c, revC),
            store.put(d, body(d)),
          ],
          { concurrency: "unbounded" },
        )
        return { alone: yield* Fiber.await(first), rest }
      }),
    )
    expect(later.result.alone._tag).toBe("Success")
    expect(
      later.result.rest.map((r) => (typeof r === "boolean" ? r : Either.isRight(r) ? "rev" : r.left)),
    ).toEqual([false, true, "rev"])
    expect(later.seen).toEqual([`DELETE /${leasesDb}/${leaseDocId(e)}`, `POST /${leasesDb}/_bulk_docs`])
    expect((await couch(t, "GET", leaseDocPath(b))).status).toBe(200)
    expect((await couch(t, "GET", leaseDocPath(c))).status).toBe(404)
    expect((await couch(t, "GET", leaseDocPath(e))).status).toBe(404)
  })
})
