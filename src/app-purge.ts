/**
 * The purge app, apart from app.ts: `dbsweep purge` loads this and the purge jobs, not the
 * cleanup's PostgreSQL driver, the document stores or the HTTP mode (app.ts re-exports it).
 */
import { Context, Effect, Layer } from "effect"
import { CouchClient } from "./couch/client.ts"
import { type CouchSettings, couchClientOf } from "./couch/connection.ts"
import { stopsSchedule } from "./errors.ts"
import { JobRunner } from "./jobs/runner.ts"
import { PurgeJob } from "./purge/job.ts"
import { PurgeManyJob } from "./purge/many.ts"
import type { Progress } from "./shared/progress.ts"

/**
 * The runner with the purge jobs (CouchDB). Wired by hand in one layer, not composed of the
 * services' own layers: each composed layer is some 600 effect steps to build and close (about
 * 15 ms of a CLI run's start, where a purge of 20,000 tombstones has 0.4 s of CPU in all).
 */
export const purgeApp = (couch: CouchSettings, progress: Layer.Layer<Progress>) =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const client = yield* couchClientOf(couch)
      const deps = Context.add(yield* Layer.build(progress), CouchClient, client)
      const [runner, purge, purgeMany] = yield* Effect.all([
        JobRunner.make({ stopsSchedule }),
        PurgeJob.make,
        PurgeManyJob.make,
      ]).pipe(Effect.provide(deps))
      return Context.make(JobRunner, runner).pipe(
        Context.add(PurgeJob, purge),
        Context.add(PurgeManyJob, purgeMany),
      )
    }),
  )
