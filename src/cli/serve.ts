import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import {
  Config,
  Duration,
  Effect,
  Either,
  FiberRef,
  Layer,
  ManagedRuntime,
  Option,
  Redacted,
  Scheduler,
} from "effect"
import { type ServeSettings, serveApp } from "../app.ts"
import { isBareName } from "../cleanup/settings.ts"
import { defaultTarget } from "../cleanup/target.ts"
import { parseStoreSpec, storeSpecHelp } from "../docs/stores.ts"
import { httpApp } from "../http/app.ts"
import { fromLoopback } from "../http/auth.ts"
import { JobWorkers, Listener, listenScoped } from "../http/listen.ts"
import { type ServeSchedules, scheduleJobs } from "../http/schedules.ts"
import { cron, every, type JobSchedule, minimumInterval } from "../jobs/schedule.ts"
import { loadPgSettings } from "../pg/config.ts"
import { parseDuration } from "../shared/duration.ts"
import { ConfigError } from "../shared/errors.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { commonOptions, stderrIsTerminal, withLogFormat } from "./common.ts"
import { wantsColour } from "./console.ts"
import { couchOptions } from "./couch-connection.ts"
import { CleanStop } from "./exit.ts"
import { integerOption, optionalText, textOption } from "./options.ts"

const options = {
  ...commonOptions,
  ...couchOptions,
  host: optionalText("host", {
    env: "DBSWEEP_HOST",
    description: "address to listen on (default 127.0.0.1)",
  }),
  port: integerOption("port", {
    env: "DBSWEEP_PORT",
    min: 0,
    max: 65535,
    fallback: 8080,
    description: "port to listen on (0: any free port)",
  }),
  tokenFile: optionalText("token-file", {
    env: "DBSWEEP_TOKEN_FILE",
    description: "file holding the bearer token that mutating routes require (or set DBSWEEP_TOKEN)",
  }),
  store: textOption("store", {
    env: "DATABASE_PROVIDER",
    fallback: "memory",
    description: `the document API's store: ${storeSpecHelp}`,
  }),
  publicStatus: Options.boolean("public-status").pipe(
    Options.withDescription("let any host read status, metrics and the page without the token"),
  ),
  purgeEvery: optionalText("purge-every", {
    env: "DBSWEEP_PURGE_EVERY",
    description: "purge the --purge-db databases at once, then every DURATION",
  }),
  purgeCron: optionalText("purge-cron", {
    env: "DBSWEEP_PURGE_CRON",
    description: 'purge the --purge-db databases on a cron schedule, e.g. "0 3 * * *"',
  }),
  purgeDb: optionalText("purge-db", {
    env: "DBSWEEP_PURGE_DB",
    description:
      "the databases the purge schedule purges: a name, several separated by commas, or a glob such as 'userdb-*' ('*' for all but _users, _replicator, _global_changes and dbsweep_leases)",
  }),
  purgeLeaseTtl: optionalText("purge-lease-ttl", {
    env: "DBSWEEP_PURGE_LEASE_TTL",
    description:
      "the purge schedule's lease TTL, as purge --lease-ttl (default 2m): a purger that crashed holds its databases this long at most",
  }),
  purgeGrace: optionalText("purge-grace", {
    env: "DBSWEEP_PURGE_GRACE",
    description:
      "the purge schedule's --grace: hold back tombstones changed within this time (e.g. 7d); see dbsweep purge --help",
  }),
  purgeRespectReplications: Options.boolean("purge-respect-replications").pipe(
    Options.withDescription(
      "the purge schedule's --respect-replications: hold back what replications reading a database have not checkpointed (env DBSWEEP_PURGE_RESPECT_REPLICATIONS=true)",
    ),
  ),
  purgeIgnoreReplication: optionalText("purge-ignore-replication", {
    env: "DBSWEEP_PURGE_IGNORE_REPLICATION",
    description:
      "the purge schedule's --ignore-replication: replication ids (document or replication id) not to wait for, separated by commas",
  }),
  cleanupEvery: optionalText("cleanup-every", {
    env: "DBSWEEP_CLEANUP_EVERY",
    description: "clean up at once, then every DURATION",
  }),
  cleanupCron: optionalText("cleanup-cron", {
    env: "DBSWEEP_CLEANUP_CRON",
    description: 'clean up on a cron schedule, e.g. "0 * * * *"',
  }),
  cleanupHistoryTable: optionalText("cleanup-history-table", {
    env: "CLEANUP_HISTORY_TABLE",
    description:
      "cleanup runs record one row each in this table (as cleanup --history-table), and the page charts the runs recorded there",
  }),
}

/** Largest request body (bytes): job options and documents are small. */
const maxBodyBytes = 1024 * 1024

const bad = (message: string) => new ConfigError({ message })

/** `--x-every` or `--x-cron` (not both), or none. */
const scheduleOf = (name: string, everyRaw: Option.Option<string>, cronRaw: Option.Option<string>) =>
  Effect.gen(function* () {
    if (Option.isSome(everyRaw) && Option.isSome(cronRaw)) {
      return yield* bad(`--${name}-every and --${name}-cron both given: pick one`)
    }
    if (Option.isSome(cronRaw)) {
      return Option.some(yield* Either.mapLeft(cron(cronRaw.value, `--${name}-cron`), bad))
    }
    if (Option.isNone(everyRaw)) return Option.none<JobSchedule>()
    const interval = yield* Either.mapLeft(parseDuration(everyRaw.value), (why) =>
      bad(`--${name}-every: ${why}`),
    )
    if (Duration.lessThan(interval, minimumInterval)) {
      return yield* bad(`--${name}-every must be at least ${Duration.format(minimumInterval)}`)
    }
    return Option.some(every(interval))
  })

/** `--purge-lease-ttl`, checked here so a bad value names the flag. */
const leaseTtlOf = (raw: Option.Option<string>) =>
  Effect.gen(function* () {
    if (Option.isNone(raw)) return raw
    const name = "--purge-lease-ttl / DBSWEEP_PURGE_LEASE_TTL"
    const ttl = yield* Either.mapLeft(parseDuration(raw.value), (why) => bad(`${name}: ${why}`))
    if (Duration.lessThan(ttl, Duration.seconds(1)) || Duration.greaterThan(ttl, Duration.days(1))) {
      return yield* bad(`${name} must be from 1s to 1d, such as 2m (got ${raw.value.trim()})`)
    }
    return Option.some(raw.value.trim())
  })

/** DBSWEEP_TOKEN, or the file named by --token-file / DBSWEEP_TOKEN_FILE (not both). */
const readToken = (file: Option.Option<string>) =>
  Effect.gen(function* () {
    const inline = yield* Config.option(Config.redacted("DBSWEEP_TOKEN"))
    if (Option.isSome(inline) && Option.isSome(file)) {
      return yield* bad("both DBSWEEP_TOKEN and a token file are given: keep one of them")
    }
    const token = Option.isSome(file)
      ? (yield* (yield* FileSystem.FileSystem)
          .readFileString(file.value)
          .pipe(
            Effect.mapError((e) =>
              bad(
                `cannot read the token file ${file.value} (${e.message}): check the path and its permissions`,
              ),
            ),
          )).trim()
      : Option.match(inline, { onNone: () => "", onSome: (t) => Redacted.value(t).trim() })
    if (token === "")
      return Option.isSome(file) || Option.isSome(inline) ? yield* bad("the token is empty") : undefined
    if (token.length < 16)
      return yield* bad(
        "the token is shorter than 16 characters: use a long random one (openssl rand -hex 32)",
      )
    return Redacted.make(token)
  })

/** PostgreSQL is configured when DATABASE_URL or PGHOST is set; otherwise cleanup is unavailable. */
const pgOf = Effect.map(loadPgSettings, (settings) =>
  Option.isSome(settings.url) || Option.isSome(settings.host)
    ? { settings, retry: defaultRetryPolicy }
    : undefined,
)

/** PostgreSQL with the cleanup history table, a bare name (it goes in the default schema). */
const pgWithHistory = (table: Option.Option<string>) =>
  Effect.gen(function* () {
    const pg = yield* pgOf
    if (Option.isNone(table) || table.value.trim() === "") return pg
    const name = table.value.trim()
    if (!isBareName(name)) {
      return yield* bad(
        `--cleanup-history-table / CLEANUP_HISTORY_TABLE "${name}" must be a bare table name (it goes in the ${defaultTarget.schema} schema)`,
      )
    }
    // Without PostgreSQL cleanup is unavailable, and the table has nothing to record.
    return pg === undefined ? pg : { ...pg, historyTable: name }
  })

/**
 * Effect's default scheduler runs up to 2048 tasks as microtasks before it lets the event loop
 * take I/O, so a busy purge starves the HTTP server (p99 over a second while it ran). Here every
 * batch of tasks is one macrotask, so requests are accepted between batches; fibers also yield
 * after fewer operations.
 */
const responsive = Layer.mergeAll(
  Layer.setScheduler(Scheduler.makeBatched((run) => setImmediate(run))),
  Layer.locallyScoped(FiberRef.currentMaxOpsBeforeYield, 256),
)

/**
 * The layer the app runtime is built from, carrying what the command runs with: services (the
 * file system), the configuration provider (the .env file), the loggers and the log level.
 */
const carried = Effect.gen(function* () {
  const context = yield* Effect.context<FileSystem.FileSystem>()
  const provider = yield* Effect.configProviderWith(Effect.succeed)
  const loggers = yield* FiberRef.get(FiberRef.currentLoggers)
  const level = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
  return Layer.mergeAll(
    responsive,
    Layer.succeedContext(context),
    Layer.setConfigProvider(provider),
    Layer.locallyScoped(FiberRef.currentLoggers, loggers),
    Layer.locallyScoped(FiberRef.currentMinimumLogLevel, level),
  )
})

export const serveCommand = Command.make("serve", options, (o) =>
  Effect.gen(function* () {
    const host = Option.getOrElse(o.host, () => "127.0.0.1").trim()
    const token = yield* readToken(o.tokenFile)
    if (token === undefined && !fromLoopback(host)) {
      return yield* bad(
        `refusing to listen on ${host} without a token: set DBSWEEP_TOKEN or DBSWEEP_TOKEN_FILE (or --token-file), or listen on 127.0.0.1`,
      )
    }
    const schedules: ServeSchedules = {
      purge: yield* scheduleOf("purge", o.purgeEvery, o.purgeCron),
      purgeDb: o.purgeDb,
      purgeLeaseTtl: yield* leaseTtlOf(o.purgeLeaseTtl),
      purgeCaps: {
        ...(Option.isSome(o.purgeGrace) ? { grace: o.purgeGrace.value.trim() } : {}),
        respectReplications:
          o.purgeRespectReplications ||
          (yield* Config.boolean("DBSWEEP_PURGE_RESPECT_REPLICATIONS").pipe(
            Config.withDefault(false),
            Effect.mapError(
              () =>
                new ConfigError({
                  message: "DBSWEEP_PURGE_RESPECT_REPLICATIONS must be true or false",
                }),
            ),
          )),
        ignoreReplications: Option.match(o.purgeIgnoreReplication, {
          onNone: () => [],
          onSome: (ids) =>
            ids
              .split(",")
              .map((id) => id.trim())
              .filter((id) => id !== ""),
        }),
      },
      cleanup: yield* scheduleOf("cleanup", o.cleanupEvery, o.cleanupCron),
    }
    const spawn = yield* Effect.serviceOption(JobWorkers)
    const settings: ServeSettings = {
      couch: Option.isSome(o.url) ? o : undefined,
      pg: yield* pgWithHistory(o.cleanupHistoryTable),
      store: yield* parseStoreSpec(o.store, "--store / DATABASE_PROVIDER"),
      jobThreads: Option.isNone(spawn)
        ? undefined
        : {
            spawn: spawn.value,
            log: {
              format: Option.getOrUndefined(o.logFormat),
              isTerminal: stderrIsTerminal(),
              colour: wantsColour(stderrIsTerminal(), process.env),
              level: (yield* FiberRef.get(FiberRef.currentMinimumLogLevel))._tag,
            },
          },
    }
    const layer = serveApp(settings).pipe(Layer.provide(yield* carried))
    const runtime = yield* Effect.acquireRelease(
      Effect.sync(() => ManagedRuntime.make(layer)),
      // Closing the runtime stops every run gracefully: in-flight work ends, checkpoints are saved.
      (rt) => rt.disposeEffect,
    )
    yield* scheduleJobs(schedules).pipe(Effect.provide(yield* runtime.runtimeEffect))
    const app = httpApp(runtime, { token, publicStatus: o.publicStatus, maxBodyBytes })
    const listen = yield* Listener
    const handler = (request: Request, remoteAddress: () => string | undefined) =>
      app.fetch(request, { remoteAddress })
    const listening = yield* listenScoped(listen, handler, host, o.port).pipe(
      Effect.mapError((e) =>
        bad(
          `cannot listen on ${host}:${o.port} (${String(e).split("\n")[0]}): pick another --port or --host`,
        ),
      ),
    )
    yield* Effect.logInfo(`dbsweep serve listening on ${listening.url}`)
    // SIGINT/SIGTERM is this command's normal end: exit 0 once runs reached their checkpoints.
    yield* (yield* CleanStop).declare
    return yield* Effect.never
  }).pipe(Effect.scoped, withLogFormat(o.logFormat)),
).pipe(
  Command.withDescription(
    "Run as an HTTP service: start and watch jobs, schedules, the document API, /metrics and a status page",
  ),
)
