import { Effect, Option } from "effect"
import { ServeServices } from "../app.ts"
import { isGlob } from "../couch/all-dbs.ts"
import { decodeOptions } from "../jobs/options.ts"
import { JobRunner } from "../jobs/runner.ts"
import type { JobSchedule } from "../jobs/schedule.ts"
import { ConfigError } from "../shared/errors.ts"
import { needs } from "./jobs.ts"

/** The schedules `dbsweep serve` was started with. */
export interface ServeSchedules {
  readonly purge: Option.Option<JobSchedule>
  readonly purgeDb: Option.Option<string>
  /** `--purge-lease-ttl`: the purge runs' lease TTL (the job's default when absent). */
  readonly purgeLeaseTtl?: Option.Option<string>
  /** The purge schedule's safety caps (`--purge-grace`, `--purge-respect-replications`, `--purge-ignore-replication`), as the job's options take them. */
  readonly purgeCaps?: {
    readonly grace?: string
    readonly respectReplications: boolean
    readonly ignoreReplications: ReadonlyArray<string>
  }
  readonly cleanup: Option.Option<JobSchedule>
}

const unavailable = (job: keyof typeof needs) =>
  new ConfigError({ message: `a ${job} schedule is set but ${job} is unavailable: ${needs[job]}` })

/**
 * Starts the schedules inside the server's runner: the same runs as `POST /jobs/...`, never
 * overlapping; they stop with the runner. A schedule for a job that cannot run is refused at start.
 */
export const scheduleJobs = Effect.fn("Http.scheduleJobs")(function* (s: ServeSchedules) {
  const services = yield* ServeServices
  const runner = yield* JobRunner
  if (Option.isSome(s.purge)) {
    if (Option.isNone(s.purgeDb)) {
      return yield* new ConfigError({
        message:
          "a purge schedule needs its databases: pass --purge-db NAME (several separated by commas, or a glob such as 'userdb-*') or set DBSWEEP_PURGE_DB",
      })
    }
    // Names and globs separated by commas (a database name cannot hold one); one name is the
    // one-database purge, anything else the purge of many.
    const targets = s.purgeDb.value
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "")
    const leaseTtl = Option.getOrUndefined(s.purgeLeaseTtl ?? Option.none())?.trim()
    const common = leaseTtl === undefined ? {} : { leaseTtl }
    if (targets.length === 1 && !isGlob(targets[0]!)) {
      const job = yield* Option.match(services.purge, {
        onNone: () => Effect.fail(unavailable("purge")),
        onSome: Effect.succeed,
      })
      yield* runner.schedule(
        job,
        yield* decodeOptions(job, { db: targets[0], ...s.purgeCaps, ...common }),
        s.purge.value,
      )
    } else {
      const job = yield* Option.match(services.purgeMany, {
        onNone: () => Effect.fail(unavailable("purge")),
        onSome: Effect.succeed,
      })
      yield* runner.schedule(
        job,
        yield* decodeOptions(job, { dbs: targets, ...s.purgeCaps, ...common }),
        s.purge.value,
      )
    }
  }
  if (Option.isSome(s.cleanup)) {
    const job = yield* Option.match(services.cleanup, {
      onNone: () => Effect.fail(unavailable("cleanup")),
      onSome: Effect.succeed,
    })
    yield* runner.schedule(job, yield* decodeOptions(job, {}), s.cleanup.value)
  }
})
