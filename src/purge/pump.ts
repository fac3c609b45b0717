/**
 * The reading side and the purging side of a run of one database, joined by a bounded queue:
 * apart from the run so the flow (memory bounded by the queue, one side's failure stopping the
 * other) reads on its own.
 */
import { Effect, Queue } from "effect"
import type { Unit } from "./units.ts"

/**
 * The run's two sides: `readPages` turns feed pages into units and hands them to a bounded queue
 * (`capacity`: it waits while the queue is full, so memory does not grow with the feed), and
 * `workers` workers take units from it and process them. A failure on either side (the feed, or a
 * server gone) interrupts the other.
 */
export const pump = <E1, E2>(
  readPages: (offer: (units: ReadonlyArray<Unit>) => Effect.Effect<void>) => Effect.Effect<void, E1>,
  processUnit: (unit: Unit) => Effect.Effect<void, E2>,
  workers: number,
  capacity: number,
) =>
  Effect.gen(function* () {
    const queue = yield* Queue.bounded<Unit | undefined>(capacity)
    const reader = readPages((units) => queue.offerAll(units)).pipe(
      // One end mark per worker: each stops when it takes one.
      Effect.zipRight(queue.offerAll(Array.from({ length: workers }, () => undefined))),
    )
    const worker = Effect.gen(function* () {
      for (let unit = yield* queue.take; unit !== undefined; unit = yield* queue.take) {
        yield* processUnit(unit)
      }
    })
    yield* Effect.all(
      [
        reader,
        Effect.all(
          Array.from({ length: workers }, () => worker),
          { concurrency: "unbounded", discard: true },
        ),
      ],
      { concurrency: "unbounded", discard: true },
    )
  })
