import { Layer } from "effect"
import { CleanupJob } from "./cleanup/job.ts"
import { type CouchSettings, couchLayer } from "./couch/connection.ts"
import { MigrateJob } from "./docs/migrate.ts"
import { StoreFactory } from "./docs/stores.ts"
import { JobRunner } from "./jobs/runner.ts"
import { PgClient } from "./pg/client.ts"
import type { PgSettings } from "./pg/config.ts"
import { PurgeJob } from "./purge/job.ts"
import type { Progress } from "./shared/progress.ts"
import type { RetryPolicy } from "./shared/retry.ts"

/**
 * The app layer: configuration → clients → jobs → runner, the same for the CLI, the library API
 * and the tests. Each backend is built only when a job that needs it is asked for, so purging
 * never opens a PostgreSQL pool and cleaning up never reaches for CouchDB.
 */
export interface AppSettings {
  /** CouchDB, for purge. */
  readonly couch?: CouchSettings
  /** PostgreSQL, for cleanup: the connection, the pool size and the retry policy of connecting. */
  readonly pg?: { readonly settings: PgSettings; readonly retry: RetryPolicy }
  /** Where runs show their progress: a bar, log lines, or nothing. */
  readonly progress: Layer.Layer<Progress>
}

/** The runner with the purge job (CouchDB). */
export const purgeApp = (couch: CouchSettings, progress: Layer.Layer<Progress>) =>
  JobRunner.layer().pipe(
    Layer.provideMerge(PurgeJob.layer),
    Layer.provide(Layer.merge(couchLayer(couch), progress)),
  )

/** The runner with the cleanup job (PostgreSQL, connected when the layer is built). */
export const cleanupApp = (pg: NonNullable<AppSettings["pg"]>, progress: Layer.Layer<Progress>) =>
  JobRunner.layer().pipe(
    Layer.provideMerge(CleanupJob.layer),
    Layer.provide(Layer.merge(PgClient.layer(pg.settings, pg.retry), progress)),
  )

/** The runner with the migrate job, and the store factory the docs commands open their stores with. */
export const docsApp = (couch: CouchSettings, progress: Layer.Layer<Progress>) =>
  JobRunner.layer().pipe(
    Layer.provideMerge(MigrateJob.layer),
    Layer.provideMerge(StoreFactory.layer(couch)),
    Layer.provide(progress),
  )
