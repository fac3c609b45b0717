/**
 * The lease around a purge, over a fake CouchDB under the TestClock: every request and checkpoint
 * write is noted with its virtual time, so "nothing after the lease was lost" is checked exactly,
 * with no wall-clock timing. The fake's documents answer as CouchDB does (COUCHDB-FACTS §2): a PUT
 * without the current `_rev` is a 409, a DELETE needs the rev.
 */
import { describe, expect, test } from "bun:test"
import type { HttpClientRequest } from "@effect/platform"
import {
  Clock,
  Duration,
  Effect,
  Either,
  Fiber,
  Logger,
  LogLevel,
  Option,
  Schema,
  TestClock,
  TestContext,
} from "effect"
import { CouchClient, type CouchClientShape } from "../../src/couch/client.ts"
import { CouchConflict, CouchNotFound, CouchUnavailable } from "../../src/couch/errors.ts"
import type { CheckpointStoreShape } from "../../src/purge/checkpoint.ts"
import { makeLeases } from "../../src/purge/lease.ts"
import { leasedPurge } from "../../src/purge/leased.ts"
import { isSkipped, type PurgeOutcome, purgeProblems } from "../../src/purge/outcome.ts"
import { tombstoneFeed } from "../support/fake-feed.ts"

const server = "http://fake"
const leaseId = "purge:db"

interface Stored {
  rev: number
  body: Record<string, unknown>
}

/** What happened, each with its virtual time. */
interface Log {
  purges: Array<{ at: number; ids: number }>
  checkpoints: Array<{ at: number; seq: string }>
  leaseWrites: Array<{ at: number; method: string; status: number }>
}

const bodyOf = (request: HttpClientRequest.HttpClientRequest): Record<string, unknown> =>
  request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : {}

/**
 * A database of `n` tombstones in one feed page, each `_purge` taking `purgeMs` of virtual time,
 * and a `dbsweep_leases` database of documents with revision checks.
 */
const fakeCouch = (
  n: number,
  purgeMs: number,
  docs: Map<string, Stored>,
  log: Log,
  faults: { leaseDown: boolean } = { leaseDown: false },
): CouchClientShape => {
  const answer = <A, I>(status: number, schema: Schema.Schema<A, I>, json: unknown) =>
    Effect.map(Schema.decodeUnknown(schema)(json).pipe(Effect.orDie), (body) => ({ status, body }))
  return CouchClient.of({
    server,
    request: (operation, _db, request, schema) =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        const path = request.url.split("/").map(decodeURIComponent)
        const id = path[2]
        if (faults.leaseDown) {
          log.leaseWrites.push({ at, method: request.method, status: 503 })
          return yield* new CouchUnavailable({
            server,
            operation,
            kind: "status",
            status: 503,
            reason: "down",
          })
        }
        if (id === undefined) return yield* answer(201, schema, { ok: true })
        const current = docs.get(id)
        const conflict = () => {
          log.leaseWrites.push({ at, method: request.method, status: 409 })
          return Effect.fail(new CouchConflict({ server, path: operation }))
        }
        switch (request.method) {
          case "GET":
            if (current === undefined)
              return yield* new CouchNotFound({ server, path: operation, reason: "deleted" })
            return yield* answer(200, schema, { _id: id, _rev: `${current.rev}-x`, ...current.body })
          case "PUT": {
            const { _rev, ...body } = bodyOf(request)
            if ((current === undefined) !== (_rev === undefined)) return yield* conflict()
            if (current !== undefined && _rev !== `${current.rev}-x`) return yield* conflict()
            const rev = (current?.rev ?? 0) + 1
            docs.set(id, { rev, body })
            log.leaseWrites.push({ at, method: "PUT", status: 201 })
            return yield* answer(201, schema, { ok: true, id, rev: `${rev}-x` })
          }
          default: {
            const rev = request.urlParams.find(([k]) => k === "rev")?.[1]
            if (current === undefined || rev !== `${current.rev}-x`) return yield* conflict()
            docs.delete(id)
            log.leaseWrites.push({ at, method: "DELETE", status: 200 })
            return yield* answer(200, schema, { ok: true, id, rev: `${current.rev + 1}-x` })
          }
        }
      }),
    ...tombstoneFeed(n),
    allDbs: Effect.die("not used"),
    getLocal: () => Effect.succeedNone,
    putLocal: () => Effect.succeed("0-1"),
    purge: (_db, revs) =>
      Effect.gen(function* () {
        yield* Effect.sleep(Duration.millis(purgeMs))
        log.purges.push({ at: yield* Clock.currentTimeMillis, ids: Object.keys(revs).length })
        return { status: 201, answer: { purge_seq: null, purged: revs } }
      }),
  })
}

const recordingStore = (log: Log): CheckpointStoreShape => ({
  describe: () => "memory",
  check: () => Effect.void,
  load: () => Effect.succeedNone,
  save: (_db, seq) =>
    Effect.map(Clock.currentTimeMillis, (at) => {
      log.checkpoints.push({ at, seq })
    }),
})

const quiet = { start: () => Effect.void, advance: () => Effect.void, stop: Effect.void }

/**
 * A purge of 100 tombstones, 10 a request, one request at a time, each 210 ms of virtual time
 * (2.1 s in all), under a lease with `ttl`; `meanwhile` runs at virtual `at` ms (another purger).
 */
const leasedRun = (
  ttl: Duration.Duration,
  docs: Map<string, Stored>,
  meanwhile?: { readonly at: number; readonly act: (faults: { leaseDown: boolean }) => void },
) => {
  const log: Log = { purges: [], checkpoints: [], leaseWrites: [] }
  const faults = { leaseDown: false }
  const couch = fakeCouch(100, 210, docs, log, faults)
  return Effect.gen(function* () {
    const leases = yield* makeLeases(couch)
    const run = yield* leases.forRun({
      retries: 0,
      base: Duration.millis(1),
      factor: 2,
      cap: Duration.millis(1),
    })
    const fiber = yield* Effect.fork(
      leasedPurge(
        couch,
        recordingStore(log),
        {
          db: "db",
          batch: 10,
          concurrency: 1,
          retry: { retries: 0, base: Duration.millis(1), factor: 2, cap: Duration.millis(1) },
          since: Option.none(),
          dryRun: false,
          list: false,
          pageSize: 0,
          checkpointEveryMs: 0,
        },
        { stopping: Effect.succeed(false), progress: quiet },
        { leases: run, ttl, compact: false },
      ),
    )
    let acted = false
    for (let step = 0; step < 1000 && Option.isNone(yield* Fiber.poll(fiber)); step++) {
      yield* TestClock.adjust(Duration.millis(50))
      if (meanwhile !== undefined && !acted && (yield* Clock.currentTimeMillis) >= meanwhile.at) {
        meanwhile.act(faults)
        acted = true
      }
    }
    const summary: PurgeOutcome = yield* Fiber.join(fiber)
    return { summary, log, holder: leases.holder }
  }).pipe(
    Effect.provide(TestContext.TestContext),
    Logger.withMinimumLogLevel(LogLevel.None),
    Effect.runPromise,
  )
}

const summaryOf = (s: PurgeOutcome) => {
  if (isSkipped(s)) throw new Error(`skipped: ${JSON.stringify(s)}`)
  return s
}

describe("a purge under its lease (fake CouchDB, TestClock)", () => {
  test("taken with one PUT, renewed every TTL/3 while it runs, released with one DELETE at the end", async () => {
    const docs = new Map<string, Stored>()
    const { summary, log } = await leasedRun(Duration.seconds(3), docs)
    const s = summaryOf(summary)
    expect(s.purgedRevs).toBe(100)
    expect(s.leaseLost).toBeUndefined()
    expect(s.checkpoint).toBe("100-x")
    expect(log.purges.length).toBe(10)
    // 2.1 s of purging with a 3 s TTL: taken at 0, renewed at 1 s and 2 s, deleted at the end.
    expect(log.leaseWrites.map((w) => `${w.method} ${w.status} ${w.at}`)).toEqual([
      "PUT 201 0",
      "PUT 201 1000",
      "PUT 201 2000",
      "DELETE 200 2100",
    ])
    expect(docs.has(leaseId)).toBe(false)
  })

  test("a renewal that finds the lease taken stops the purge at once and never moves the checkpoint after", async () => {
    const docs = new Map<string, Stored>()
    const intruder = "other-host:1:intruder"
    // At 500 ms another purger writes the lease (as one whose clock ran far ahead would).
    const { summary, log } = await leasedRun(Duration.seconds(3), docs, {
      at: 500,
      act: () => {
        const current = docs.get(leaseId)!
        docs.set(leaseId, {
          rev: current.rev + 1,
          body: { holder: intruder, expires_at: "2099-01-01T00:00:00.000Z" },
        })
      },
    })
    const s = summaryOf(summary)
    // The renewal at 1 s met the 409, read the lease and found another holder.
    expect(log.leaseWrites.map((w) => `${w.method} ${w.status} ${w.at}`)).toEqual([
      "PUT 201 0",
      "PUT 409 1000",
    ])
    expect(s.leaseLost).toBe(`taken by ${intruder}`)
    // No new work after the loss: the request in flight at 1 s finished (1.05 s), none started.
    expect(log.purges.map((p) => p.at)).toEqual([210, 420, 630, 840, 1050])
    // No checkpoint written at or after the loss; the summary shows the last one written.
    expect(log.checkpoints.length).toBeGreaterThan(0)
    expect(log.checkpoints.every((c) => c.at < 1000)).toBe(true)
    expect(s.checkpoint).toBe(log.checkpoints.at(-1)!.seq)
    expect(s.checkpointSaved).toBe(false)
    // The lease is the intruder's still: a lost lease is not released.
    expect(docs.get(leaseId)?.body.holder).toBe(intruder)
    // A failure for this database, saying why, and that nothing is skipped.
    const problem = Option.getOrThrow(purgeProblems(s))
    expect(problem).toContain(`lost the lease of db (taken by ${intruder})`)
    expect(problem).toContain("nothing is skipped")
  })

  test("renewals that keep failing: the lease is given up before it could expire, and no checkpoint after", async () => {
    const docs = new Map<string, Stored>()
    // From 300 ms the lease database answers 503 to everything.
    const { summary, log } = await leasedRun(Duration.millis(1500), docs, {
      at: 300,
      act: (faults) => {
        faults.leaseDown = true
      },
    })
    const s = summaryOf(summary)
    // Written at 0 with a 1.5 s TTL: trusted until 1.2 s (a fifth of the TTL before the expiry);
    // renewed from 0.5 s, tried again every 150 ms, given up once the trust ran out.
    expect(s.leaseLost).toBe("it could not be renewed in time")
    const renewals = log.leaseWrites.filter((w) => w.method === "PUT" && w.status === 503).map((w) => w.at)
    expect(renewals[0]).toBe(500)
    expect(Math.max(...renewals)).toBeLessThan(1200)
    expect(log.checkpoints.length).toBeGreaterThan(0)
    expect(log.checkpoints.every((c) => c.at < 1200)).toBe(true)
    // No new work once it was given up: the request in flight then was the last.
    expect(Math.max(...log.purges.map((p) => p.at))).toBeLessThanOrEqual(1260)
    expect(log.purges.length).toBeLessThan(10)
    // Given back if it still can be (not here: the lease database is still down); it then expires.
    expect(log.leaseWrites.filter((w) => w.method === "DELETE").map((w) => w.status)).toEqual([503])
    expect(docs.has(leaseId)).toBe(true)
  })

  test("a lease another purger holds leaves the database alone: no purge, no checkpoint, the lease untouched", async () => {
    const docs = new Map<string, Stored>([
      [leaseId, { rev: 4, body: { holder: "b:2:live", expires_at: "1970-01-01T00:01:00.000Z" } }],
    ])
    const { summary, log } = await leasedRun(Duration.seconds(3), docs)
    expect(isSkipped(summary)).toBe(true)
    expect(summary).toMatchObject({
      db: "db",
      state: "skipped",
      reason: "held by another purger",
      holder: "b:2:live",
      expiresAt: "1970-01-01T00:01:00.000Z",
      lease: "http://fake/dbsweep_leases/purge:db",
    })
    expect(Option.isNone(purgeProblems(summary))).toBe(true)
    expect(log.purges).toEqual([])
    expect(log.checkpoints).toEqual([])
    expect(docs.get(leaseId)?.rev).toBe(4)
  })

  test("an expired lease (its holder crashed) is taken over with its rev, and the purge runs", async () => {
    // Expired at virtual time 0 (the TestClock starts at the epoch).
    const docs = new Map<string, Stored>([
      [leaseId, { rev: 7, body: { holder: "b:2:crashed", expires_at: "1970-01-01T00:00:00.000Z" } }],
    ])
    const { summary, log } = await leasedRun(Duration.seconds(3), docs)
    expect(summaryOf(summary).purgedRevs).toBe(100)
    expect(log.leaseWrites.slice(0, 2).map((w) => `${w.method} ${w.status}`)).toEqual(["PUT 409", "PUT 201"])
    expect(docs.has(leaseId)).toBe(false)
  })
})

describe("the leases of one process", () => {
  test("a second run of the same process does not take a database the first one holds", async () => {
    const docs = new Map<string, Stored>()
    const log: Log = { purges: [], checkpoints: [], leaseWrites: [] }
    const couch = fakeCouch(0, 0, docs, log)
    const retry = { retries: 0, base: Duration.millis(1), factor: 2, cap: Duration.millis(1) }
    const r = await Effect.gen(function* () {
      const leases = yield* makeLeases(couch)
      const first = yield* leases.forRun(retry)
      const second = yield* leases.forRun(retry)
      const inner = yield* first.withLease("db", Duration.seconds(10), () =>
        second.withLease("db", Duration.seconds(10), () => Effect.succeed("second ran")),
      )
      return { inner, holder: leases.holder, after: docs.has(leaseId) }
    }).pipe(
      Effect.provide(TestContext.TestContext),
      Logger.withMinimumLogLevel(LogLevel.None),
      Effect.runPromise,
    )
    expect(Either.isRight(r.inner)).toBe(true)
    const second = Either.getOrThrow(r.inner)
    expect(Either.isLeft(second)).toBe(true)
    if (Either.isLeft(second)) expect(second.left.holder).toBe(r.holder)
    // Released once the first run ended.
    expect(r.after).toBe(false)
  })
})
