/**
 * One database's step in a purge of many: settings from the run's options, nothing done where the
 * database provably holds nothing to purge, else the leased purge; its failure stays its own
 * unless every other database would meet it too.
 */
import { Cause, Effect, Either, Option } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import { concernsServer } from "../couch/errors.ts"
import type { ReplicationInfo } from "../couch/replications.ts"
import type { DbInfo, ServerInfo } from "../couch/schema.ts"
import type { RunContext } from "../jobs/job.ts"
import { partOf } from "../shared/progress.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { zeroCounts } from "./counts.ts"
import type { RunLeases } from "./lease.ts"
import { leasedPurge, type PurgeError } from "./leased.ts"
import type { PurgeManyOptions } from "./many-options.ts"
import type { DbOutcome } from "./many-summary.ts"
import { settingsOf } from "./options.ts"
import { isSkipped, purgeProblems } from "./outcome.ts"
import { limitsFor, type PurgeSettings } from "./settings.ts"

/** Whether a failure of one database is one every other would meet too (stop the run instead). */
const stopsRun = (e: PurgeError): boolean =>
  e._tag === "LeaseStoreError"
    ? e.refused
    : e._tag === "CouchUnauthorized" ||
        e._tag === "CouchForbidden" ||
        e._tag === "CouchUnavailable" ||
        e._tag === "UntrustedCertificate"
      ? concernsServer(e)
      : false

/**
 * Nothing to purge, provably: doc_del_count counts the documents whose winning revision is a
 * deletion, and those are exactly the ones a purge takes (a deleted winner means every leaf is
 * deleted). One deleted after the count is in the feed after the stored checkpoint, which stays
 * where it is: the next run finds it. So no lease, checkpoint, feed or write for the database.
 * Not where the run must write (--since moves the checkpoint; --grace records an observation
 * every run), compact, or read the feed (--respect-replications).
 */
export const provablyIdle = (o: PurgeManyOptions, info: DbInfo | undefined) =>
  info?.doc_del_count === 0 &&
  Option.isNone(o.since) &&
  !o.compact &&
  Option.isNone(o.grace) &&
  !o.respectReplications

/** Whether the database's purge takes a lease: a real run of a database that is not idle. */
export const needsLease = (o: PurgeManyOptions, info: DbInfo | undefined) =>
  !o.dryRun && !provablyIdle(o, info)

/** One database of the run, purged as a one-database run would be; its failure is its own. */
export const purgeOne = Effect.fn("Purge.many.one")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  o: PurgeManyOptions,
  context: RunContext,
  server: ServerInfo,
  leases: RunLeases,
  db: string,
  info: DbInfo | undefined,
  replications: ReadonlyArray<ReplicationInfo> | undefined,
) {
  if (yield* context.stopping) {
    const skipped: DbOutcome = { db, state: "not started" }
    return skipped
  }
  const progress = yield* partOf(context.progress, db)
  const settings: PurgeSettings = {
    ...settingsOf(o, db, replications),
    listDb: true,
    server,
    ...(info !== undefined ? { info } : {}),
  }
  if (provablyIdle(o, info)) {
    const idle: DbOutcome = {
      state: "succeeded",
      db,
      ...zeroCounts,
      since: "checkpoint",
      checkpoint: undefined,
      checkpointSaved: true,
      checkpointError: undefined,
      batchLimit: limitsFor(settings, server.version),
      ...(o.maxRate > 0 ? { maxRate: o.maxRate } : {}),
      interrupted: false,
      durationMs: 0,
      nothingToPurge: true,
    }
    return idle
  }
  const attempt = yield* leasedPurge(
    couch,
    store,
    settings,
    { stopping: context.stopping, progress },
    { leases, ttl: o.leaseTtl, compact: o.compact },
  ).pipe(
    Effect.either,
    // What every other database would meet too ends the run (one line, as for one database).
    Effect.flatMap((r) => (Either.isLeft(r) && stopsRun(r.left) ? Effect.fail(r.left) : Effect.succeed(r))),
    Effect.map(Option.some),
    // A stop that came before anything was purged here cuts the database's look-ups off (see
    // untilStopped): not started, like the databases after it, and the run goes on to its summary.
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.succeedNone : Effect.failCause(cause),
    ),
  )
  if (Option.isNone(attempt)) {
    const stopped: DbOutcome = { db, state: "not started" }
    return stopped
  }
  const ran = attempt.value
  if (Either.isLeft(ran)) {
    const error = ran.left.message.split("\n")[0]!
    yield* Effect.logError(`${db}: failed, the other databases go on`).pipe(
      Effect.annotateLogs({ db, error }),
    )
    const failed: DbOutcome = { db, state: "failed", error }
    return failed
  }
  const summary = ran.right
  if (isSkipped(summary)) return summary
  const problem = Option.getOrUndefined(purgeProblems(summary))
  const state = problem !== undefined ? "failed" : summary.interrupted ? "interrupted" : "succeeded"
  yield* Effect.logInfo(`${db}: ${state}`).pipe(
    Effect.annotateLogs({
      db,
      tombstones: summary.tombstones,
      purged_revs: summary.purgedRevs,
      failed_docs: summary.failedDocs,
      ...(problem !== undefined ? { error: problem } : {}),
    }),
  )
  const { dryRun: _dryRun, checkpointStore: _store, ...own } = summary
  const done: DbOutcome = { state, ...own, ...(problem !== undefined ? { error: problem } : {}) }
  return done
})
