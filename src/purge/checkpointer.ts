import { Clock, Effect, Option, Ref } from "effect"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import type { Counter } from "./counts.ts"
import type { Unit } from "./units.ts"
import { completeUnit, emptyWatermark, holdUnit } from "./watermark.ts"

export interface CheckpointerOptions {
  readonly db: string
  /** A dry run never writes the checkpoint. */
  readonly dryRun: boolean
  /** Least time between writes while running (the last one is always written). */
  readonly everyMs: number
  /** What the store held when the run started. */
  readonly stored: Option.Option<string>
}

/** Where the checkpoint ended: what the store holds, and whether the last write failed. */
export interface CheckpointEnd {
  readonly checkpoint: string | undefined
  readonly error: string | undefined
}

/**
 * Keeps the checkpoint at the low-water mark: a unit's seq is saved only once it and every unit
 * before it are done, so an interrupted or failed run never skips tombstones.
 */
export const makeCheckpointer = Effect.fn("Purge.makeCheckpointer")(function* (
  store: CheckpointStoreShape,
  counter: Counter,
  options: CheckpointerOptions,
) {
  const mark = yield* Ref.make(emptyWatermark)
  const lastSaved = yield* Ref.make({
    seq: Option.getOrUndefined(options.stored),
    at: yield* Clock.currentTimeMillis,
  })
  const lastError = yield* Ref.make<string | undefined>(undefined)
  const turn = yield* Effect.makeSemaphore(1)

  /** Writes the checkpoint if it moved; `force` ignores the interval (the final write). */
  const save = (force: boolean) =>
    turn.withPermits(1)(
      Effect.gen(function* () {
        const { checkpoint } = yield* Ref.get(mark)
        const saved = yield* Ref.get(lastSaved)
        if (options.dryRun || checkpoint === undefined || checkpoint === saved.seq) return
        const now = yield* Clock.currentTimeMillis
        if (!force && now - saved.at < options.everyMs) return
        yield* counter.retried(store.save(options.db, checkpoint))
        yield* Ref.set(lastSaved, { seq: checkpoint, at: yield* Clock.currentTimeMillis })
        yield* Ref.set(lastError, undefined)
        yield* Effect.logDebug("checkpoint saved").pipe(
          Effect.annotateLogs({ db: options.db, seq: checkpoint }),
        )
      }),
    )

  const saveNow = save(false).pipe(
    Effect.catchAll((e) => Effect.logWarning(`could not save the checkpoint yet: ${e.message}`)),
  )

  /**
   * Marks a unit done; saves when the mark moved and the interval has passed (looked at only once
   * it has: most units end with no write).
   */
  const complete = (unit: Pick<Unit, "n" | "seq">) =>
    Effect.flatMap(
      Ref.update(mark, (m) => completeUnit(m, unit.n, unit.seq)),
      () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.flatMap(Ref.get(lastSaved), (saved) =>
            options.dryRun || now - saved.at < options.everyMs ? Effect.void : saveNow,
          ),
        ),
    )

  /** The final write; a failure is recorded, not raised (the summary and exit code carry it). */
  const finish: Effect.Effect<void> = save(true).pipe(
    Effect.catchAll((e) =>
      Ref.set(lastError, e.message).pipe(
        Effect.zipRight(Effect.logError(`could not save the checkpoint: ${e.message}`)),
      ),
    ),
  )

  /** Where the checkpoint stands: what the store holds, and why the last write failed if it did. */
  const end: Effect.Effect<CheckpointEnd> = Effect.all({
    saved: Ref.get(lastSaved),
    error: Ref.get(lastError),
  }).pipe(Effect.map(({ saved, error }) => ({ checkpoint: saved.seq, error })))

  /** A unit holding back a tombstone: the checkpoint stops before it for this run. */
  const hold = (unit: number) => Ref.update(mark, (m) => holdUnit(m, unit))

  return { complete, hold, finish, end, mark: Ref.get(mark) }
})
