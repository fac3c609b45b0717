import { Clock, Effect, Ref } from "effect"
import type { AdvisoryLock } from "../pg/advisory-lock.ts"
import { PgConnectError } from "../pg/errors.ts"

/** Fails when the advisory lock this run holds is gone; cheap to call before every batch. */
export type LockGuard = Effect.Effect<void, PgConnectError>

/**
 * The lock dies with its connection (a restart, pg_terminate_backend). Then another instance may
 * already be running, so the run stops cleanly before its next batch: every batch is its own
 * transaction, so nothing is half-done, and the next run continues. (Taking the lock again on the
 * same pool was tried: postgres 3.4.9 can leave a connection the server cut unable to send, and the
 * run hung.) Checked at most every `everyMs`, not before every batch: a round trip per batch costs
 * more than it guards (batches re-check every match, so a brief overlap with another instance
 * after the lock is lost deletes nothing it should not).
 */
export const makeLockGuard = Effect.fn("Cleanup.makeLockGuard")(function* (
  lock: AdvisoryLock,
  where: { readonly server: string; readonly table: string },
  everyMs = 500,
) {
  const checkedAt = yield* Ref.make(Number.NEGATIVE_INFINITY)
  const guard: LockGuard = Clock.currentTimeMillis.pipe(
    Effect.flatMap((now) =>
      Ref.modify(checkedAt, (last) => (now - last < everyMs ? [false, last] : [true, now])),
    ),
    Effect.flatMap((due) => (due ? lock.check : Effect.void)),
    Effect.catchAll(
      (e) =>
        new PgConnectError({
          target: where.server,
          reason: `lost the session holding the advisory lock on ${where.table} (${e.message.split(" (")[0]}); stopped before the next batch, nothing half-done: run again`,
        }),
    ),
  )
  return guard
})
