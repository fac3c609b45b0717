import {
  Context,
  Duration,
  Effect,
  ConfigError as EffectConfigError,
  Layer,
  Option,
  Redacted,
  Schema,
} from "effect"
import { CleanupJob } from "./cleanup/job.ts"
import type { CleanupOptions } from "./cleanup/options.ts"
import { defaultTarget } from "./cleanup/target.ts"
import { CouchClient, type CouchClientShape } from "./couch/client.ts"
import { type CouchSettings, couchConnection, couchLayer } from "./couch/connection.ts"
import { MigrateJob } from "./docs/migrate.ts"
import { DocumentStore, type DocumentStoreShape } from "./docs/store.ts"
import { StoreFactory, type StoreSpec } from "./docs/stores.ts"
import { type AppError, decodeAppError, stopsSchedule } from "./errors.ts"
import type { RunContext } from "./jobs/job.ts"
import { measured } from "./jobs/measured.ts"
import { offThread } from "./jobs/off-thread.ts"
import { JobRunner } from "./jobs/runner.ts"
import { PgClient, type PgClientShape } from "./pg/client.ts"
import type { PgSettings } from "./pg/config.ts"
import { heldReasons } from "./purge/holds.ts"
import { PurgeJob } from "./purge/job.ts"
import { PurgeManyJob } from "./purge/many.ts"
import { ConfigError } from "./shared/errors.ts"
import { logFormats } from "./shared/logging.ts"
import { registerMetrics } from "./shared/metrics.ts"
import { type Progress, silentProgress } from "./shared/progress.ts"
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

/**
 * The runners of one job each live in files of their own (app-purge.ts, app-cleanup.ts), so a
 * command loads its job's code alone; here for the library API and the HTTP mode.
 */
export { cleanupApp } from "./app-cleanup.ts"
export { purgeApp } from "./app-purge.ts"

/** The cleanup history table serve was given (in the default target's schema). */
export interface CleanupHistoryTable {
  readonly schema: string
  readonly table: string
}

/** A backend the server was started with, and whether it answers now. */
export interface Readiness {
  readonly backend: string
  readonly ok: boolean
  readonly message: string
}

/**
 * What the HTTP mode can do: the jobs whose backend is configured (none for the others, which it
 * lists as unavailable), the document store if one is, and a check that each backend answers.
 */
export interface ServeServicesShape {
  readonly purge: Option.Option<Context.Tag.Service<PurgeJob>>
  /** The purge of many databases (names, globs, all), there whenever `purge` is. */
  readonly purgeMany: Option.Option<Context.Tag.Service<PurgeManyJob>>
  readonly cleanup: Option.Option<Context.Tag.Service<CleanupJob>>
  readonly store: Option.Option<DocumentStoreShape>
  /** The CouchDB client, when CouchDB is configured: the status page reads the databases with it. */
  readonly couch: Option.Option<CouchClientShape>
  /** The PostgreSQL client, when configured: the status page counts the pending rows with it. */
  readonly pg: Option.Option<PgClientShape>
  /** The cleanup history table serve's cleanup runs record to, when given: the page reads it too. */
  readonly cleanupHistory: Option.Option<CleanupHistoryTable>
  readonly migrate: Option.Option<Context.Tag.Service<MigrateJob>>
  readonly ready: Effect.Effect<ReadonlyArray<Readiness>>
}

export class ServeServices extends Context.Tag("dbsweep/ServeServices")<
  ServeServices,
  ServeServicesShape
>() {}

const check = (backend: string, probe: Effect.Effect<unknown, AppError>) =>
  probe.pipe(
    Effect.timeout("5 seconds"),
    Effect.match({
      onSuccess: (): Readiness => ({ backend, ok: true, message: "reachable" }),
      onFailure: (e): Readiness => ({ backend, ok: false, message: e.message.split("\n")[0]! }),
    }),
  )

const serveServices = (cleanupHistory: Option.Option<CleanupHistoryTable>) =>
  Layer.effect(
    ServeServices,
    Effect.gen(function* () {
      const purge = yield* Effect.serviceOption(PurgeJob)
      const purgeMany = yield* Effect.serviceOption(PurgeManyJob)
      const cleanup = yield* Effect.serviceOption(CleanupJob)
      const couch = yield* Effect.serviceOption(CouchClient)
      const pg = yield* Effect.serviceOption(PgClient)
      const store = yield* Effect.serviceOption(DocumentStore)
      const migrate = yield* Effect.serviceOption(MigrateJob)
      const probes = [
        Option.map(couch, (c) => check(`couchdb ${c.server}`, c.serverInfo)),
        Option.map(pg, (p) =>
          check(
            "postgresql",
            p.query("readiness", (sql) => sql`select 1`),
          ),
        ),
        Option.map(store, (s) => check(`documents ${s.describe}`, s.collections)),
      ].flatMap(Option.toArray)
      yield* registerMetrics(
        [
          Option.map(purge, (j) => j.name),
          Option.map(cleanup, (j) => j.name),
          Option.map(migrate, (j) => j.name),
        ].flatMap(Option.toArray),
        Option.isSome(purge) ? heldReasons : [],
      )
      return {
        purge: Option.map(purge, measured),
        purgeMany: Option.map(purgeMany, measured),
        cleanup: Option.map(cleanup, measured),
        migrate: Option.map(migrate, measured),
        store,
        couch,
        pg,
        cleanupHistory: Option.isSome(pg) ? cleanupHistory : Option.none(),
        ready: Effect.all(probes, { concurrency: "unbounded" }),
      }
    }),
  )

/** What `dbsweep serve` was configured with; a backend left out makes its job unavailable. */
export interface ServeSettings {
  readonly couch: CouchSettings | undefined
  readonly pg: (AppSettings["pg"] & { readonly historyTable?: string | undefined }) | undefined
  /**
   * The document API's store: `memory`, `couchdb` or `file:DIR`, opened by the store factory, or a
   * layer of one (a test's store).
   */
  readonly store: StoreSpec | Layer.Layer<DocumentStore> | undefined
  /** Where purge runs go, when the entry point can start job workers; in this thread when absent. */
  readonly jobThreads?: JobThreads | undefined
}

/** How a job worker logs: as the server does (its format and level), to the same stderr. */
export const WorkerLog = Schema.Struct({
  format: Schema.optional(Schema.Literal(...logFormats)),
  isTerminal: Schema.Boolean,
  colour: Schema.Boolean,
  level: Schema.Literal("All", "Fatal", "Error", "Warning", "Info", "Debug", "Trace", "None"),
})
export type WorkerLog = typeof WorkerLog.Type

/** Runs of the purge job go to workers made by `spawn` (see src/http/job-worker.ts). */
export interface JobThreads {
  readonly spawn: () => Worker
  readonly log: WorkerLog
}

/**
 * What a job worker builds the purge job from: CouchDB as plain data, since a worker has neither
 * the server's configuration provider nor its services. The password is only ever handed over,
 * never logged.
 */
export const PurgeWorkerSetup = Schema.Struct({
  couch: Schema.Struct({
    url: Schema.String,
    user: Schema.optional(Schema.String),
    password: Schema.optional(Schema.String),
    timeoutMs: Schema.Number,
  }),
  log: WorkerLog,
})
export type PurgeWorkerSetup = typeof PurgeWorkerSetup.Type

/** The purge jobs a worker runs, from its setup; they need a file system (for `checkpointFile`). */
export const workerPurgeJobs = (setup: PurgeWorkerSetup) =>
  Layer.merge(PurgeJob.layer, PurgeManyJob.layer).pipe(
    Layer.provide(
      CouchClient.layer({
        url: setup.couch.url,
        user: Option.fromNullable(setup.couch.user),
        password: Option.map(Option.fromNullable(setup.couch.password), Redacted.make),
        timeout: Duration.millis(setup.couch.timeoutMs),
      }),
    ),
  )

/** What the job worker calls each purge job it can run (both are named `purge`). */
export const workerJobKeys = { one: "purge", many: "purge-many" } as const

/** The purge jobs with their CouchDB client; with `threads`, their runs go to job workers. */
const purgeJobs = (couch: CouchSettings, threads: JobThreads | undefined) => {
  const inThread = Layer.merge(PurgeJob.layer, PurgeManyJob.layer)
  if (threads === undefined) return inThread.pipe(Layer.provideMerge(couchLayer(couch)))
  const onWorkers = Layer.unwrapEffect(
    Effect.gen(function* () {
      const one = yield* PurgeJob
      const many = yield* PurgeManyJob
      const c = yield* couchConnection(couch)
      const setup: PurgeWorkerSetup = {
        couch: {
          url: c.url,
          user: Option.getOrUndefined(c.user),
          password: Option.getOrUndefined(Option.map(c.password, Redacted.value)),
          timeoutMs: Duration.toMillis(c.timeout),
        },
        log: threads.log,
      }
      const thread = (key: string) => ({ spawn: threads.spawn, key, setup, decodeError: decodeAppError })
      return Layer.merge(
        Layer.succeed(PurgeJob, offThread(one, thread(workerJobKeys.one))),
        Layer.succeed(PurgeManyJob, offThread(many, thread(workerJobKeys.many))),
      )
    }),
  )
  return onWorkers.pipe(Layer.provide(inThread), Layer.provideMerge(couchLayer(couch)))
}

/**
 * The cleanup job of serve: with a history table, every run that names none records to it (the
 * scheduled ones and `POST /jobs/cleanup` bodies without `historyTable`).
 */
const cleanupJob = (historyTable: string | undefined) =>
  historyTable === undefined
    ? CleanupJob.layer
    : Layer.effect(
        CleanupJob,
        Effect.map(CleanupJob, (job) => ({
          ...job,
          run: (options: CleanupOptions, context: RunContext) =>
            job.run(
              Option.isNone(options.historyTable)
                ? { ...options, historyTable: Option.some(historyTable) }
                : options,
              context,
            ),
        })),
      ).pipe(Layer.provide(CleanupJob.layer))

/** The configured store as the `DocumentStore` service, from the factory the migrate job uses too. */
const documentStore = (spec: StoreSpec) =>
  Layer.effect(DocumentStore, StoreFactory.pipe(Effect.flatMap((factory) => factory.open(spec))))

/** No CouchDB configured: a `couchdb` store then says so when it is asked for. */
const noCouch: CouchSettings = { url: Option.none(), user: Option.none(), timeout: Duration.seconds(30) }

/** The runner with every job whose backend is configured, for the HTTP mode (progress in the run status). */
export const serveApp = (s: ServeSettings) => {
  const backends = Layer.mergeAll(
    s.couch === undefined ? Layer.empty : purgeJobs(s.couch, s.jobThreads),
    s.pg === undefined
      ? Layer.empty
      : cleanupJob(s.pg.historyTable).pipe(Layer.provideMerge(PgClient.layer(s.pg.settings, s.pg.retry))),
    // The migrate job and the document API share one store factory (one memory store).
    Layer.merge(
      MigrateJob.layer,
      s.store === undefined ? Layer.empty : "kind" in s.store ? documentStore(s.store) : s.store,
    ).pipe(Layer.provideMerge(StoreFactory.layer(s.couch ?? noCouch))),
  )
  const history = Option.map(Option.fromNullable(s.pg?.historyTable), (table) => ({
    schema: defaultTarget.schema,
    table,
  }))
  return Layer.merge(JobRunner.layer({ stopsSchedule }), serveServices(history)).pipe(
    Layer.provide(Layer.merge(backends, silentProgress)),
    // A variable read while connecting (COUCHDB_PASSWORD) that is wrong: one line, exit 2.
    Layer.mapError((e) =>
      EffectConfigError.isConfigError(e) ? new ConfigError({ message: String(e).split("\n")[0]! }) : e,
    ),
  )
}
/** The runner with the migrate job, and the store factory the docs commands open their stores with. */
export const docsApp = (couch: CouchSettings, progress: Layer.Layer<Progress>) =>
  JobRunner.layer({ stopsSchedule }).pipe(
    Layer.provideMerge(MigrateJob.layer),
    Layer.provideMerge(StoreFactory.layer(couch)),
    Layer.provide(progress),
  )
