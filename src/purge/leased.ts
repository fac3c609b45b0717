/**
 * The purge of one database under its lease, so one purger works on a database at a time across
 * hosts: the checkpoint is written only while the lease can be trusted, and a lost lease stops
 * the run. Used by the one-database job and by each database of a run of many.
 */
import { Clock, Duration, Effect, Either, Option } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import { isRetryable } from "../couch/errors.ts"
import { type RunContext, untilStopped } from "../jobs/job.ts"
import { withRetry } from "../shared/retry.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { purgeThenCompact } from "./compact-after.ts"
import type { Lease, RunLeases } from "./lease.ts"
import { LeaseLost } from "./lease-errors.ts"
import { heldReason, type LeasedSummary, type PurgeOutcome } from "./outcome.ts"
import type { PurgeSettings } from "./settings.ts"

/**
 * A checkpoint store that writes only while this purger holds the database's lease, and only for
 * as long as it may still trust it, so a purger that lost it never moves the checkpoint (the new
 * holder's) backwards.
 */
const holderOnly = (store: CheckpointStoreShape, lease: Lease): CheckpointStoreShape => ({
  ...store,
  save: (db, seq) =>
    Effect.flatMap(lease.trustedFor, (ms) =>
      ms > 0
        ? store.save(db, seq).pipe(
            Effect.timeoutFail({
              duration: Duration.millis(ms),
              onTimeout: () =>
                new LeaseLost({ db, reason: "the lease ran out while the checkpoint was written" }),
            }),
          )
        : Effect.flatMap(
            lease.lost,
            (lost) =>
              new LeaseLost({ db, reason: Option.getOrElse(lost, () => "it could not be renewed in time") }),
          ),
    ),
  // --grace's observation is written into the same `_local` document: only by the holder too
  // (one left out costs nothing but that observation).
  ...(store.observations === undefined
    ? {}
    : {
        observations: {
          load: store.observations.load,
          record: (db, observation) =>
            Effect.flatMap(lease.trustedFor, (ms) =>
              ms > 0 && store.observations !== undefined
                ? store.observations.record(db, observation).pipe(Effect.timeoutOption(ms), Effect.asVoid)
                : Effect.void,
            ),
        },
      }),
})

/**
 * The purge of one database under its lease: skipped when another purger holds it; stopped (no
 * new work, requests in flight finish, checkpoint left alone) when the lease is lost meanwhile.
 * A dry run takes no lease: it writes nothing, not even the checkpoint.
 */
export const leasedPurge = Effect.fn("Purge.leased")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  settings: PurgeSettings,
  context: RunContext,
  lease: { readonly leases: RunLeases; readonly ttl: Duration.Duration; readonly compact: boolean },
) {
  if (settings.dryRun) {
    const summary: PurgeOutcome = yield* purgeThenCompact(couch, store, settings, context, lease.compact)
    return summary
  }
  const startedAt = yield* Clock.currentTimeMillis
  // The server is asked first (the run needs its version anyway), so a URL that is not CouchDB
  // or a login refused is told as such, not as a lease that could not be taken.
  // Before anything is taken, a stop ends the run at once (a server that never answers).
  const server =
    settings.server ??
    (yield* couch.serverInfo.pipe(withRetry(settings.retry, isRetryable), untilStopped(context.stopping)))
  const held = yield* lease.leases.withLease(settings.db, lease.ttl, (l) =>
    Effect.gen(function* () {
      const stopping = Effect.zipWith(context.stopping, l.lost, (stop, lost) => stop || Option.isSome(lost))
      const summary = yield* purgeThenCompact(
        couch,
        holderOnly(store, l),
        { ...settings, server },
        { ...context, stopping },
        lease.compact,
      )
      const lost = yield* l.lost
      const done: LeasedSummary = Option.isSome(lost) ? { ...summary, leaseLost: lost.value } : summary
      return done
    }),
  )
  if (Either.isRight(held)) {
    const done: PurgeOutcome = held.right
    return done
  }
  const skipped: PurgeOutcome = {
    db: settings.db,
    state: "skipped",
    reason: heldReason,
    ...held.left,
    dryRun: false,
    durationMs: (yield* Clock.currentTimeMillis) - startedAt,
  }
  return skipped
})

/** What a purge run can fail with. */
export type PurgeError = Effect.Effect.Error<ReturnType<typeof leasedPurge>>
