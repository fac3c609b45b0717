import { Effect, Option, Stream } from "effect"
import { Hono } from "hono"
import { streamSSE } from "hono/streaming"
import { ServeServices } from "../app.ts"
import { isGlob } from "../couch/all-dbs.ts"
import { JobConflict, JobUnavailable, NotFound } from "../errors.ts"
import type { Job } from "../jobs/job.ts"
import { decodeOptions } from "../jobs/options.ts"
import { JobRunner } from "../jobs/runner.ts"
import { requireStatusAccess, requireToken } from "./auth.ts"
import { jsonBody, limitBody } from "./body.ts"
import { withListed } from "./listed.ts"
import { type HttpEnv, type HttpSettings, respond, type ServeRuntime } from "./respond.ts"

/** What each job needs to be available, for the message when it is not. */
export const needs = {
  purge: "set COUCHDB_URL (and COUCHDB_USER / COUCHDB_PASSWORD) when starting dbsweep serve",
  cleanup: "set DATABASE_URL or PGHOST when starting dbsweep serve",
  migrate: "start dbsweep serve from a build with the docs stores",
} as const

export type JobName = keyof typeof needs

const available = <J>(name: JobName, job: Option.Option<J>) =>
  Option.match(job, {
    onNone: () => Effect.fail(new JobUnavailable({ job: name, needs: needs[name] })),
    onSome: (j) => Effect.succeed(j),
  })

const startWith = <O, S, I>(job: Job<O, S, I>, body: unknown) =>
  Effect.gen(function* () {
    const options = yield* decodeOptions(job, body)
    const runner = yield* JobRunner
    const handle = yield* runner.start(job, options)
    if (handle.existing) {
      return yield* new JobConflict({ job: job.name, target: job.target(options), runningId: handle.id })
    }
    return { id: handle.id }
  })

/**
 * A purge body that names several databases (`dbs`, `allDbs`) or a glob in `db`: the purge of
 * many, with `db` moved into `dbs`. A body naming one database is the one-database purge.
 */
const manyPurgeBody = (body: unknown): Option.Option<Record<string, unknown>> => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return Option.none()
  const fields: Record<string, unknown> = { ...body }
  const { db, ...rest } = fields
  if (typeof db === "string" && isGlob(db)) {
    return Option.some({ ...rest, dbs: [db, ...(Array.isArray(rest.dbs) ? rest.dbs : [])] })
  }
  return "dbs" in fields || "allDbs" in fields ? Option.some(fields) : Option.none()
}

/** Starts a run from a request body; a run of the same target already going is a conflict. */
export const startJob = Effect.fn("Http.startJob")(function* (name: JobName, body: unknown) {
  const services = yield* ServeServices
  switch (name) {
    case "purge":
      return yield* Option.match(manyPurgeBody(body), {
        onNone: () =>
          Effect.flatMap(available(name, services.purge), (job) => startWith(withListed(job), body)),
        onSome: (many) =>
          Effect.flatMap(available(name, services.purgeMany), (job) => startWith(withListed(job), many)),
      })
    case "cleanup":
      return yield* Effect.flatMap(available(name, services.cleanup), (job) => startWith(job, body))
    case "migrate":
      return yield* Effect.flatMap(available(name, services.migrate), (job) => startWith(job, body))
  }
})

export const getRun = Effect.fn("Http.getRun")(function* (id: string) {
  const runner = yield* JobRunner
  return yield* Option.match(yield* runner.get(id), {
    onNone: () => new NotFound({ what: `job ${id}` }),
    onSome: Effect.succeed,
  })
})

/** Stops a run gracefully (work in flight finishes, the checkpoint is saved); its final status. */
export const cancelRun = Effect.fn("Http.cancelRun")(function* (id: string) {
  const runner = yield* JobRunner
  if (!(yield* runner.stop(id))) return yield* new NotFound({ what: `job ${id}` })
  return yield* getRun(id)
})

const watchRun = Effect.fn("Http.watchRun")(function* (id: string) {
  const runner = yield* JobRunner
  return yield* Option.match(yield* runner.watch(id), {
    onNone: () => new NotFound({ what: `job ${id}` }),
    // Until the run ends: its status stops changing then.
    onSome: (changes) => Effect.succeed(changes.pipe(Stream.takeUntil((s) => s.state !== "running"))),
  })
})

/** `/jobs`: start, list, read, follow (server-sent events) and cancel runs. */
export const jobRoutes = (runtime: ServeRuntime, settings: HttpSettings) => {
  const write = requireToken(settings)
  const read = requireStatusAccess(settings)
  return new Hono<HttpEnv>()
    .post("/purge", write, limitBody(settings), (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(jsonBody(c), (body) => startJob("purge", body)),
        202,
      ),
    )
    .post("/cleanup", write, limitBody(settings), (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(jsonBody(c), (body) => startJob("cleanup", body)),
        202,
      ),
    )
    .post("/migrate", write, limitBody(settings), (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(jsonBody(c), (body) => startJob("migrate", body)),
        202,
      ),
    )
    .get("/", read, (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(JobRunner, (r) => r.list),
      ),
    )
    .get("/:id", read, (c) => respond(runtime, c, getRun(c.req.param("id"))))
    .delete("/:id", write, (c) => respond(runtime, c, cancelRun(c.req.param("id"))))
    .get("/:id/events", read, async (c) => {
      const exit = await runtime.runPromiseExit(watchRun(c.req.param("id")))
      if (exit._tag === "Failure") return respond(runtime, c, Effect.asVoid(exit))
      const runs = Stream.toAsyncIterableRuntime(exit.value, await runtime.runtime())
      return streamSSE(c, async (sse) => {
        for await (const status of runs) {
          if (sse.aborted || sse.closed) break
          await sse.writeSSE({ event: "status", id: status.id, data: JSON.stringify(status) })
        }
      })
    })
}
