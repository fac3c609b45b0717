import { Clock, Effect, Option, Ref } from "effect"
import { isRetryable, type PgError } from "../pg/errors.ts"
import { cleanupDeleted, count, failures, retries } from "../shared/metrics.ts"
import { type RetryPolicy, withRetry } from "../shared/retry.ts"
import type { ArchiveFileError } from "./archive-file.ts"
import type { BatchStatement } from "./batch-statement.ts"
import type { LockGuard } from "./lock-guard.ts"
import type { BatchSpec } from "./statements.ts"

export interface BatchCounts {
  readonly deleted: number
  readonly batches: number
  readonly failedBatches: number
  readonly retries: number
  readonly longestBatchMs: number
}

const zero: BatchCounts = { deleted: 0, batches: 0, failedBatches: 0, retries: 0, longestBatchMs: 0 }

/** The batch loop's state, shared by the batches running at once (Refs: they run on many fibers). */
export interface Batches {
  /**
   * Runs one batch unless the run is stopping: none then (no new batch starts), else the rows it
   * deleted. A batch that has started always finishes or rolls back.
   */
  readonly step: (spec: BatchSpec) => Effect.Effect<Option.Option<number>, PgError | ArchiveFileError>
  readonly counts: Effect.Effect<BatchCounts>
  readonly interrupted: Effect.Effect<boolean>
  /** A batch ended the run with an error: a pass must not be run again over it. */
  readonly anyFailed: Effect.Effect<boolean>
}

/**
 * Batches over `statement`, each checked against the lock first and retried under `retry` when
 * the error is retryable. A batch that still fails is counted and skipped (its rows stay for the
 * next run), except a lost connection or an archive file that cannot be written, which end the run.
 */
export const makeBatches = Effect.fn("Cleanup.makeBatches")(function* (
  statement: BatchStatement,
  ensureLock: LockGuard,
  retry: RetryPolicy,
  stopping: Effect.Effect<boolean>,
) {
  const counts = yield* Ref.make(zero)
  const interrupted = yield* Ref.make(false)
  const failed = yield* Ref.make(false)
  const numbers = yield* Ref.make(0)
  const add = (delta: Partial<BatchCounts>) =>
    Ref.update(counts, (c) => ({
      deleted: c.deleted + (delta.deleted ?? 0),
      batches: c.batches + (delta.batches ?? 0),
      failedBatches: c.failedBatches + (delta.failedBatches ?? 0),
      retries: c.retries + (delta.retries ?? 0),
      longestBatchMs: Math.max(c.longestBatchMs, delta.longestBatchMs ?? 0),
    })).pipe(
      // The same counts as process-wide metrics (for `/metrics`).
      Effect.zipRight(count(cleanupDeleted, delta.deleted)),
      Effect.zipRight(count(retries, delta.retries)),
      Effect.zipRight(count(failures, delta.failedBatches, "cleanup_batch")),
    )

  const batch = (n: number, spec: BatchSpec) =>
    Effect.gen(function* () {
      yield* ensureLock
      const started = yield* Clock.currentTimeMillis
      const deleted = yield* statement(n, spec).pipe(
        withRetry(
          retry,
          (e: PgError | ArchiveFileError) => isRetryable(e),
          (e) =>
            add({ retries: 1 }).pipe(
              Effect.zipRight(Effect.logWarning(`batch ${n}: ${e.message}; retrying`)),
            ),
        ),
        Effect.catchIf(
          (e) => e._tag !== "PgConnectError" && e._tag !== "ArchiveFileError",
          (e) =>
            add({ failedBatches: 1 }).pipe(
              Effect.zipRight(Effect.logError(`batch ${n} failed and was skipped: ${e.message}`)),
              Effect.as(0),
            ),
        ),
      )
      const ms = (yield* Clock.currentTimeMillis) - started
      yield* add({ deleted, batches: 1, longestBatchMs: ms })
      const of =
        spec.kind === "list" ? `of ${spec.pending.length} listed` : `in blocks ${spec.from}-${spec.to - 1}`
      yield* Effect.logDebug(`batch ${n}: deleted ${deleted} ${of} in ${ms} ms`)
      return deleted
    })

  const step: Batches["step"] = (spec) =>
    stopping.pipe(
      Effect.flatMap((stop) =>
        stop
          ? Ref.set(interrupted, true).pipe(Effect.as(Option.none<number>()))
          : Ref.updateAndGet(numbers, (n) => n + 1).pipe(
              Effect.flatMap((n) =>
                Effect.uninterruptible(batch(n, spec).pipe(Effect.tapError(() => Ref.set(failed, true)))),
              ),
              Effect.map(Option.some),
            ),
      ),
    )

  return {
    step,
    counts: Ref.get(counts),
    interrupted: Ref.get(interrupted),
    anyFailed: Ref.get(failed),
  } satisfies Batches
})
