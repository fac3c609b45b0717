/**
 * The cleanup app, apart from app.ts: `dbsweep cleanup` loads this and the cleanup job, not the
 * CouchDB jobs, the document stores or the HTTP mode (app.ts re-exports it).
 */
import { Layer } from "effect"
import { CleanupJob } from "./cleanup/job.ts"
import { stopsSchedule } from "./errors.ts"
import { JobRunner } from "./jobs/runner.ts"
import { PgClient } from "./pg/client.ts"
import type { PgSettings } from "./pg/config.ts"
import type { Progress } from "./shared/progress.ts"
import type { RetryPolicy } from "./shared/retry.ts"

/** The runner with the cleanup job (PostgreSQL, connected when the layer is built). */
export const cleanupApp = (
  pg: { readonly settings: PgSettings; readonly retry: RetryPolicy },
  progress: Layer.Layer<Progress>,
) =>
  JobRunner.layer({ stopsSchedule }).pipe(
    Layer.provideMerge(CleanupJob.layer),
    Layer.provide(Layer.merge(PgClient.layer(pg.settings, pg.retry), progress)),
  )
