/**
 * `make bench` (per-request part). The client CPU one small CouchDB request costs through dbsweep's
 * couch client (src/couch/client.ts, run on the Effect runtime as a purge runs it) against a bare
 * `fetch` loop sending the same request and parsing the same answer, and against that bare request
 * as one `Effect.promise` (what the Effect runtime alone adds): GET /{db}, GET and PUT of a `_local`
 * doc (the PUT also through the generic `request()` the lease store uses), POST `_purge` of 100
 * ids, a 100-row `_changes` page. Each N times in sequence and N times with 10 in flight. CPU is
 * this process's own (process.cpuUsage, user+sys); the server runs in a process of its own (or is
 * a real CouchDB: COUCHDB_URL, COUCHDB_USER, COUCHDB_PASSWORD). Prints µs per request, cold (the
 * first 200) and warm (the median of 7 rounds of the rest, the paths taking turns), and the
 * ratio client/bare. Flags: --requests N (2000 per case).
 */
import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Option, Redacted } from "effect"
import { makeCouchClient } from "../src/couch/client.ts"
import { PutAnswer } from "../src/couch/schema.ts"
import { arg, couchTarget } from "./support.ts"

const N = Math.max(arg("requests", 2000), 400)
const COLD = 200
const INFLIGHT = 10
const ROUNDS = 7
interface Measured {
  readonly cold: number
  readonly warm: number
}

const target = await couchTarget(["--version", "3.5.0"])
const { url, call, real } = target
const db = `dbsweep-bench-req-${Date.now().toString(36)}`
await call("PUT", real ? `/${db}?q=2` : `/${db}`)
await target.setLatency(0)

const authorization = `Basic ${btoa(`${target.user}:${target.password}`)}`
try {
  await call("POST", `/${db}/_bulk_docs`, {
    docs: Array.from({ length: 150 }, (_, k) => ({ _id: `doc-${k}`, v: k })),
  })
  const ids = Object.fromEntries(
    Array.from({ length: 100 }, (_, k) => [`absent-${k}`, ["1-0123456789abcdef"]]),
  )

  const client = await Effect.runPromise(
    makeCouchClient({
      url,
      user: Option.some(target.user),
      password: Option.some(Redacted.make(target.password)),
      timeout: Duration.seconds(30),
    }),
  )
  await Effect.runPromise(client.putLocal(db, "bench", { v: 0 }))
  let localRev = ((await call("GET", `/${db}/_local/bench`)) as { _rev: string })._rev

  interface Case {
    readonly name: string
    readonly viaClient: () => Effect.Effect<unknown, unknown>
    readonly bare: () => { method: string; path: string; body?: string }
  }
  const cases: ReadonlyArray<Case> = [
    {
      name: "GET /{db}",
      viaClient: () => client.dbInfo(db),
      bare: () => ({ method: "GET", path: `/${db}` }),
    },
    {
      name: "GET _local doc",
      viaClient: () => client.getLocal(db, "bench"),
      bare: () => ({ method: "GET", path: `/${db}/_local/bench` }),
    },
    {
      name: "PUT _local doc",
      // A real CouchDB takes any rev for a _local doc (COUCHDB-FACTS §8); the test server too.
      viaClient: () => client.putLocal(db, "bench", { _rev: localRev, v: 1 }),
      bare: () => ({
        method: "PUT",
        path: `/${db}/_local/bench`,
        body: JSON.stringify({ _rev: localRev, v: 1 }),
      }),
    },
    {
      // The generic path the lease store and admin calls take: a request description, a Schema.
      name: "PUT _local via request()",
      viaClient: () =>
        client.request(
          `PUT /${db}/_local/bench`,
          db,
          HttpClientRequest.put(`/${db}/_local/bench`).pipe(
            HttpClientRequest.bodyUnsafeJson({ _rev: localRev, v: 1 }),
          ),
          PutAnswer,
        ),
      bare: () => ({
        method: "PUT",
        path: `/${db}/_local/bench`,
        body: JSON.stringify({ _rev: localRev, v: 1 }),
      }),
    },
    {
      name: "POST _purge 100 ids",
      viaClient: () => client.purge(db, ids),
      bare: () => ({ method: "POST", path: `/${db}/_purge`, body: JSON.stringify(ids) }),
    },
    {
      name: "_changes 100 rows",
      viaClient: () => client.changes(db, { since: "0", limit: 100, style: "all_docs" }),
      bare: () => ({ method: "GET", path: `/${db}/_changes?feed=normal&style=all_docs&since=0&limit=100` }),
    },
  ]

  const bareOnce = async (c: Case) => {
    const r = c.bare()
    const res = await fetch(`${url}${r.path}`, {
      method: r.method,
      headers:
        r.body === undefined
          ? { accept: "application/json", authorization }
          : { accept: "application/json", authorization, "content-type": "application/json" },
      body: r.body,
    })
    const json = JSON.parse(await res.text()) as unknown
    if (res.status >= 300) throw new Error(`${c.name}: ${res.status}`)
    return json
  }

  const cpuNow = () => {
    const u = process.cpuUsage()
    return u.user + u.system
  }
  /** µs of CPU per request of `count` requests. */
  const perRequest = async (run: (count: number) => Promise<void>, count: number) => {
    const t0 = cpuNow()
    await run(count)
    return (cpuNow() - t0) / count
  }
  const median = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  /**
   * Cold: the first `COLD` requests of each path. Warm: the rest in `ROUNDS` rounds, the three
   * paths taking turns within each round, and the median round of each: a load that changes
   * while the benchmark runs (2 shared cores) weighs on all three alike.
   */
  const measure = async (paths: ReadonlyArray<(count: number) => Promise<void>>) => {
    const cold: Array<number> = []
    for (const run of paths) cold.push(await perRequest(run, COLD))
    const rounds: Array<Array<number>> = paths.map(() => [])
    const each = Math.max(50, Math.floor((N - COLD) / ROUNDS))
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < paths.length; i++) rounds[i]!.push(await perRequest(paths[i]!, each))
    }
    return paths.map((_, i) => ({ cold: cold[i]!, warm: median(rounds[i]!) }))
  }
  const clientRun = (c: Case, inflight: number) => (count: number) =>
    Effect.runPromise(
      Effect.forEach(Array.from({ length: count }), () => c.viaClient(), {
        concurrency: inflight,
        discard: true,
      }),
    )
  /** The bare request as one `Effect.promise`: what the Effect runtime alone adds to a request. */
  const wrappedRun = (c: Case, inflight: number) => (count: number) =>
    Effect.runPromise(
      Effect.forEach(Array.from({ length: count }), () => Effect.promise(() => bareOnce(c)), {
        concurrency: inflight,
        discard: true,
      }),
    )
  const bareRun = (c: Case, inflight: number) => async (count: number) => {
    let next = 0
    const worker = async () => {
      while (next < count) {
        next += 1
        await bareOnce(c)
      }
    }
    await Promise.all(Array.from({ length: inflight }, worker))
  }

  console.log(
    `Per-request client CPU (µs, user+sys of this process), ${N} requests per case, against ${target.where}`,
  )
  console.log(
    "case                          in flight   client cold/warm   Effect.promise(fetch)   bare cold/warm   warm client/bare",
  )
  const fmt = (n: number) => n.toFixed(0).padStart(5)
  for (const inflight of [1, INFLIGHT]) {
    for (const c of cases) {
      // Alternated, bare first: neither side gets a warmer JIT or server from going second each time.
      const [bare, wrapped, viaClient] = (await measure([
        bareRun(c, inflight),
        wrappedRun(c, inflight),
        clientRun(c, inflight),
      ])) as [Measured, Measured, Measured]
      console.log(
        `${c.name.padEnd(30)}${String(inflight).padStart(9)}   ${fmt(viaClient.cold)} / ${fmt(viaClient.warm)}      ${fmt(wrapped.cold)} / ${fmt(wrapped.warm)}         ${fmt(bare.cold)} / ${fmt(bare.warm)}   ${(viaClient.warm / bare.warm).toFixed(2)}x`,
      )
    }
  }

  // Where the rest of a purge's per-request and per-database CPU goes: the Effect constructs the
  // purge loop and the lease are made of, each timed alone (no I/O) against a bare microtask.
  const tick = Effect.async<void>((resume) => {
    queueMicrotask(() => resume(Effect.void))
  })
  const primitives: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
    ["Effect.async resumed on a microtask", tick],
    [
      "Effect.fn call (a span)",
      Effect.fn("bench")(function* () {
        yield* tick
      })(),
    ],
    ["Effect.timeout around it", Effect.timeout(tick, Duration.seconds(10))],
    ["Effect.scoped + acquireRelease", Effect.scoped(Effect.acquireRelease(tick, () => Effect.void))],
    ["a fiber forked and joined", Effect.flatMap(Effect.fork(tick), (f) => f.await)],
    [
      "Effect.forEach of 3, concurrency 10",
      Effect.forEach([1, 2, 3], () => tick, { concurrency: 10, discard: true }),
    ],
  ]
  console.log("Effect constructs alone (µs of CPU per use, no I/O):")
  for (const [name, effect] of primitives) {
    const run = Effect.forEach(Array.from({ length: 2000 }), () => effect, { discard: true })
    await Effect.runPromise(run)
    const uses: Array<number> = []
    for (let r = 0; r < 5; r++) {
      const t0 = cpuNow()
      await Effect.runPromise(run)
      uses.push((cpuNow() - t0) / 2000)
    }
    console.log(`  ${name.padEnd(40)}${median(uses).toFixed(1).padStart(7)}`)
  }
  localRev = ""
} finally {
  await call("DELETE", `/${db}`).catch(() => {})
  await target.stop()
}
