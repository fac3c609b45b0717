/**
 * What a worker of a run of one database does with each unit it takes: hold back what the caps
 * hold, wait for `--max-rate`, then purge (or in a dry run list) the rest and move the checkpoint.
 */
import { Console, Effect } from "effect"
import type { CouchError } from "../couch/errors.ts"
import type { RunContext } from "../jobs/job.ts"
import type { Tombstone } from "./batches.ts"
import { revsOf } from "./batches.ts"
import type { makeCheckpointer } from "./checkpointer.ts"
import type { Counter } from "./counts.ts"
import type { HeldReason } from "./holds.ts"
import { type Pacer, unpaced } from "./pacer.ts"
import { type makeSender, ndjsonLine } from "./sender.ts"
import type { PurgeSettings } from "./settings.ts"
import type { Unit } from "./units.ts"

/** Counts the tombstones a unit holds back, by reason; a dry run's `--list` shows them, marked. */
const holdBack = (
  run: {
    readonly counter: Counter
    readonly options: PurgeSettings
    readonly context: RunContext
  },
  held: NonNullable<Unit["held"]>,
) =>
  Effect.gen(function* () {
    const { counter, options, context } = run
    const by: Partial<Record<HeldReason, number>> = {}
    for (const t of held) by[t.reason] = (by[t.reason] ?? 0) + 1
    yield* counter.bump({ heldBack: by })
    for (const [reason, n] of Object.entries(by)) yield* context.progress.hold?.(reason, n) ?? Effect.void
    if (options.dryRun && options.list)
      yield* Console.log(
        held
          .map((t) => ndjsonLine(t.id, t.revs, options.listDb ? options.db : undefined, t.reason))
          .join("\n"),
      )
  })

/**
 * Purges (or in a dry run, lists) one unit; leaves it undone when stopping or when it failed.
 * A chain of steps rather than a generator: every unit of a run passes here, and each `yield*` of
 * a generator is a step more for the fiber (a unit took 113 steps; most were bookkeeping).
 */
export const unitProcessor = (run: {
  readonly counter: Counter
  readonly checkpointer: Effect.Effect.Success<ReturnType<typeof makeCheckpointer>>
  readonly sender: Effect.Effect.Success<ReturnType<typeof makeSender>>
  readonly pacer: Pacer
  readonly options: PurgeSettings
  readonly context: RunContext
}) => {
  const { counter, checkpointer, sender, pacer, options, context } = run

  /** The unit's tombstones, their slot come: counted, purged (or listed), and the unit done. */
  const purge = (tombstones: ReadonlyArray<Tombstone>, done: Effect.Effect<void>) => {
    const docs = tombstones.length
    counter.add({ tombstones: docs, revs: revsOf(tombstones) })
    const work = options.dryRun
      ? options.list
        ? Effect.zipRight(
            Console.log(
              tombstones
                .map((t) => ndjsonLine(t.id, t.revs, options.listDb ? options.db : undefined))
                .join("\n"),
            ),
            done,
          )
        : done
      : Effect.flatMap(sender.sendAll(tombstones), (ok) => (ok ? done : counter.bump({ failedBatches: 1 })))
    return Effect.zipRight(work, context.progress.advance(docs))
  }

  /** --max-rate: waits for the unit's slot; a stop during the wait leaves the unit undone. */
  const paced = (tombstones: ReadonlyArray<Tombstone>, done: Effect.Effect<void>) =>
    Effect.flatMap(pacer.take(tombstones.length, context.stopping), (waited) =>
      waited > 0
        ? Effect.flatMap(context.stopping, (stopping) => (stopping ? Effect.void : purge(tombstones, done)))
        : purge(tombstones, done),
    )

  return (unit: Unit): Effect.Effect<void, CouchError> =>
    Effect.flatMap(context.stopping, (stopping) => {
      if (stopping) return Effect.void
      const held = unit.held
      // A unit holding a tombstone back is never done: the checkpoint stays before it.
      const done = held === undefined ? checkpointer.complete(unit) : Effect.void
      const tombstones = unit.tombstones
      const rest =
        tombstones.length === 0
          ? done
          : options.dryRun || pacer === unpaced
            ? purge(tombstones, done)
            : paced(tombstones, done)
      return held === undefined ? rest : Effect.zipRight(holdBack(run, held), rest)
    })
}
