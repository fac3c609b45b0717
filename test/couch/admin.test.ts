import { describe, expect, test } from "bun:test"
import { Duration, Effect, Either, Option, Redacted } from "effect"
import { fragmentationOf, isShardOf, purgeAdvice, waitForCompaction } from "../../src/couch/admin.ts"
import { scrubbed } from "../../src/couch/admin-errors.ts"
import { CouchClient } from "../../src/couch/client.ts"
import { CouchForbidden, CouchNotFound, CouchUnavailable } from "../../src/couch/errors.ts"
import { endpointRedactor, parseEndpoint } from "../../src/couch/replicate.ts"
import { bytes } from "../../src/couch/reports.ts"
import { canonicalJson } from "../../src/couch/views.ts"
import { Progress } from "../../src/shared/progress.ts"
import { secretForms } from "../support/bad-input.ts"
import { couch, createDb, seed, startCouchTarget } from "../support/couch-target.ts"

describe("purge advice", () => {
  test("worth it from 10% of documents or from 10,000 tombstones, and says why", () => {
    expect(purgeAdvice(100, 0)).toEqual({ worth: false, reason: "no tombstones" })
    expect(purgeAdvice(100, 9).worth).toBe(false)
    expect(purgeAdvice(100, 10).worth).toBe(true)
    expect(purgeAdvice(1_000_000, 10_000)).toMatchObject({ worth: true })
    expect(purgeAdvice(1_000_000, 10_000).reason).toContain("≥ 10000")
    // The share is of the live documents: more tombstones than those is over 100%, and says so.
    expect(purgeAdvice(300, 2400).reason).toBe("2400 tombstones are 800.0% of the 300 live documents (≥ 10%)")
    expect(purgeAdvice(0, 3)).toMatchObject({ worth: true })
  })

  test("fragmentation is 1 - active/file, never negative, 0 for an empty file", () => {
    expect(fragmentationOf({ file: 1000, active: 250 })).toBe(0.75)
    expect(fragmentationOf({ file: 100, active: 200 })).toBe(0)
    expect(fragmentationOf({ file: 0, active: 0 })).toBe(0)
  })
})

describe("active tasks of a database", () => {
  test("a shard path matches its database only (COUCHDB-FACTS §9)", () => {
    expect(isShardOf("shards/80000000-ffffffff/db.1795555611", "db")).toBe(true)
    expect(isShardOf("shards/00000000-7fffffff/a(b)+c.1795555611", "a(b)+c")).toBe(true)
    expect(isShardOf("shards/80000000-ffffffff/db2.1795555611", "db")).toBe(false)
    expect(isShardOf("shards/80000000-ffffffff/x/db.1795555611", "db")).toBe(false)
    expect(isShardOf("db", "db")).toBe(true)
    expect(isShardOf(undefined, "db")).toBe(false)
  })
})

describe("design doc comparison", () => {
  test("key order does not matter, values do", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    )
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }))
  })
})

describe("replication endpoints", () => {
  test("credentials are taken out of the URL; errors never repeat it", () => {
    const e = Either.getOrThrow(parseEndpoint("--source", "http://us%40er:p%40ss%2Fw@host:5984/db/"))
    expect(e.url).toBe("http://host:5984/db")
    expect(e.username).toBe("us@er")
    expect(e.password === undefined ? undefined : Redacted.value(e.password)).toBe("p@ss/w")
    for (const bad of [
      "not a url p@ssw0rd",
      "ftp://u:p@ssw0rd@h/db",
      "http://u:p@ssw0rd@h/",
      "http://u@h/db",
    ]) {
      const left = Either.flip(parseEndpoint("--target", bad))
      expect(Either.isRight(left)).toBe(true)
      expect(Either.getOrThrow(left)).toContain("--target")
      expect(Either.getOrThrow(left)).not.toContain("ssw0rd")
    }
  })

  test("the redactor removes every form of every endpoint's password", () => {
    const a = Either.getOrThrow(parseEndpoint("--source", "http://alice:S3cret%2Fone@h/a"))
    const b = Either.getOrThrow(parseEndpoint("--target", "http://bob:Other-pass@h/b"))
    const clean = endpointRedactor([a, b])
    const text = [...secretForms("S3cret/one", "alice"), ...secretForms("Other-pass", "bob")].join(" ")
    const out = clean(text)
    for (const form of [...secretForms("S3cret/one", "alice"), ...secretForms("Other-pass", "bob")])
      expect(out).not.toContain(form)
  })

  test("an error that echoes an endpoint's password is scrubbed before it reaches a message", () => {
    const a = Either.getOrThrow(parseEndpoint("--source", "http://alice:Echo-S3cret@h/a"))
    const clean = endpointRedactor([a])
    const echoed = [
      new CouchForbidden({
        server: "http://h",
        operation: "PUT /_replicator/x",
        reason: "bad url http://alice:Echo-S3cret@h/a",
      }),
      new CouchUnavailable({
        server: "http://h",
        operation: "PUT",
        kind: "status",
        status: 500,
        reason: "Echo-S3cret",
      }),
      new CouchNotFound({ server: "http://h", path: "GET /x", reason: btoa("alice:Echo-S3cret") }),
    ]
    for (const e of echoed) {
      const out = scrubbed(clean)(e)
      expect(out._tag).toBe(e._tag)
      for (const form of secretForms("Echo-S3cret", "alice")) expect(out.message).not.toContain(form)
    }
  })

  test("sizes read as bytes, KiB, MiB", () => {
    expect(bytes(512)).toBe("512 B")
    expect(bytes(1536)).toBe("1.5 KiB")
    expect(bytes(5 * 1024 * 1024)).toBe("5.0 MiB")
    expect(bytes(-2048)).toBe("-2.0 KiB")
  })
})

describe("waiting for a compaction", () => {
  test("progress only grows, ends at 100 of 100, and the database is no longer compacting", async () => {
    const t = await startCouchTarget()
    try {
      const db = await createDb(t)
      await seed(t, db, { live: 50, tombstones: 50 })
      const steps: Array<number> = []
      const starts: Array<number> = []
      const progress = Progress.of({
        start: (_label, total) => Effect.sync(() => void starts.push(total)),
        advance: (n) => Effect.sync(() => void steps.push(n)),
        stop: Effect.void,
      })
      const client = CouchClient.layer({
        url: t.url,
        user: Option.some(t.user),
        password: Option.some(Redacted.make(t.password)),
        timeout: Duration.seconds(10),
      })
      const started = await couch(t, "POST", `/${db}/_compact`)
      expect(started.status).toBe(202)
      await Effect.runPromise(
        Effect.gen(function* () {
          const c = yield* CouchClient
          yield* waitForCompaction(c, db, progress, Duration.millis(50))
        }).pipe(Effect.provide(client)),
      )
      expect(starts).toEqual([100])
      expect(steps.every((n) => n > 0)).toBe(true)
      expect(steps.reduce((a, b) => a + b, 0)).toBe(100)
      // On the test server the compaction is seen in between: more than one step.
      if (t.faults !== undefined) expect(steps.length).toBeGreaterThan(1)
      expect(((await couch(t, "GET", `/${db}`)).body as { compact_running: boolean }).compact_running).toBe(
        false,
      )
    } finally {
      await t.stop()
    }
  })
})
