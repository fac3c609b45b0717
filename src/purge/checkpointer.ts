import { Clock, Effect, Option } from "effect"
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
  // Plain variables, not Refs: every unit completes here (hundreds a second), and all of it runs
  // on one thread, where a Ref is a variable behind an effect step. Saves take turns.
  let mark = emptyWatermark
  let lastSaved = { seq: Option.getOrUndefined(options.stored), at: yield* Clock.currentTimeMillis }
  let lastError: string | undefined
  const turn = yield* Effect.makeSemaphore(1)

  /** Writes the checkpoint if it moved; `force` ignores the interval (the final write). */
  const save = (force: boolean) =>
    turn.withPermits(1)(
      Effect.gen(function* () {
        const { checkpoint } = mark
        if (options.dryRun || checkpoint === undefined || checkpoint === lastSaved.seq) return
        const now = yield* Clock.currentTimeMillis
        if (!force && now - lastSaved.at < options.everyMs) return
        yield* counter.retried(store.save(options.db, checkpoint))
        lastSaved = { seq: checkpoint, at: yield* Clock.currentTimeMillis }
        lastError = undefined
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
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      mark = completeUnit(mark, unit.n, unit.seq)
      return options.dryRun || now - lastSaved.at < options.everyMs ? Effect.void : saveNow
    })

  /** The final write; a failure is recorded, not raised (the summary and exit code carry it). */
  const finish: Effect.Effect<void> = save(true).pipe(
    Effect.catchAll((e) =>
      Effect.zipRight(
        Effect.sync(() => {
          lastError = e.message
        }),
        Effect.logError(`could not save the checkpoint: ${e.message}`),
      ),
    ),
  )

  /** Where the checkpoint stands: what the store holds, and why the last write failed if it did. */
  const end: Effect.Effect<CheckpointEnd> = Effect.sync(() => ({
    checkpoint: lastSaved.seq,
    error: lastError,
  }))

  /** A unit holding back a tombstone: the checkpoint stops before it for this run. */
  const hold = (unit: number) =>
    Effect.sync(() => {
      mark = holdUnit(mark, unit)
    })

  return { complete, hold, finish, end, mark: Effect.sync(() => mark) }
})
