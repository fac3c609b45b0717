/**
 * What a worker of a run of one database does with each unit it takes: hold back what the caps
 * hold, wait for `--max-rate`, then purge (or in a dry run list) the rest and move the checkpoint.
 */
import { Console, Effect } from "effect"
import type { RunContext } from "../jobs/job.ts"
import { revsOf } from "./batches.ts"
import type { makeCheckpointer } from "./checkpointer.ts"
import type { Counter } from "./counts.ts"
import type { HeldReason } from "./holds.ts"
import type { Pacer } from "./pacer.ts"
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

/** Purges (or in a dry run, lists) one unit; leaves it undone when stopping or when it failed. */
export const unitProcessor =
  (run: {
    readonly counter: Counter
    readonly checkpointer: Effect.Effect.Success<ReturnType<typeof makeCheckpointer>>
    readonly sender: Effect.Effect.Success<ReturnType<typeof makeSender>>
    readonly pacer: Pacer
    readonly options: PurgeSettings
    readonly context: RunContext
  }) =>
  (unit: Unit) =>
    Effect.gen(function* () {
      const { counter, checkpointer, sender, pacer, options, context } = run
      if (yield* context.stopping) return
      const held = unit.held
      if (held !== undefined) yield* holdBack(run, held)
      // A unit holding a tombstone back is never done: the checkpoint stays before it.
      const done = held === undefined ? checkpointer.complete(unit) : Effect.void
      const docs = unit.tombstones.length
      if (docs === 0) return yield* done
      if (!options.dryRun) {
        // --max-rate: wait for this unit's slot; a stop during the wait leaves the unit undone.
        const waited = yield* pacer.take(docs, context.stopping)
        if (waited > 0 && (yield* context.stopping)) return
      }
      yield* counter.bump({ tombstones: docs, revs: revsOf(unit.tombstones) })
      if (options.dryRun) {
        if (options.list)
          yield* Console.log(
            unit.tombstones
              .map((t) => ndjsonLine(t.id, t.revs, options.listDb ? options.db : undefined))
              .join("\n"),
          )
        yield* done
      } else if (yield* sender.sendAll(unit.tombstones)) {
        yield* done
      } else {
        yield* counter.bump({ failedBatches: 1 })
      }
      yield* context.progress.advance(docs)
    })
