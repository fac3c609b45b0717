import { Effect, Option, Ref, Schema, Stream } from "effect"
import { decodeRows, type PgClientShape } from "../pg/client.ts"
import type { PgError } from "../pg/errors.ts"
import type { ArchiveFileError } from "./archive-file.ts"
import type { Batches } from "./batches.ts"
import { MatchList } from "./match-list.ts"
import * as Statements from "./statements.ts"
import type { ResolvedTarget } from "./target.ts"

const Blocks = Schema.Struct({ blocks: Schema.Number, tuples: Schema.Number, pages: Schema.Number })

export interface PassOptions {
  readonly batchSize: number
  readonly concurrency: number
}

interface Range {
  readonly from: number
  readonly to: number
}

/**
 * With an index serving the match, batches walk the pending table by block range and probe the
 * index: no list to read first, and no batch rescans another's blocks. A range holding more
 * matches than a batch is taken again until it yields fewer.
 */
export const rangePass = Effect.fn("Cleanup.rangePass")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  batches: Batches,
  options: PassOptions,
) {
  const [size] = yield* client
    .query("sizing the pending table", (sql) => Statements.pendingBlocks(sql, target))
    .pipe(Effect.flatMap(decodeRows(Blocks, "sizing the pending table")))
  const blocks = size?.blocks ?? 0
  const perBlock = Math.max(1, (size?.tuples ?? 0) / (size?.pages ?? 1))
  // A range starts at about a batch of rows; then ranges are sized from the matches per block seen
  // so far (up to 16 times wider), so a batch deletes close to a batch of rows and sparse tables are
  // not walked in needlessly small statements.
  const initial = Math.max(1, Math.floor(options.batchSize / perBlock))
  const width = yield* Ref.make(initial)
  yield* Effect.logDebug(`${blocks} blocks, ranges from ${initial} blocks`)
  // Unfolded one range at a time (not from an iterable, which a stream reads in chunks), so each
  // range takes the width known when it is pulled.
  const ranges = Stream.unfoldEffect(0, (from) =>
    Ref.get(width).pipe(
      Effect.map((w) => {
        const to = Math.min(blocks, from + w)
        return from < blocks ? Option.some([{ from, to }, to] as const) : Option.none()
      }),
    ),
  )
  const drain = (range: Range): Effect.Effect<boolean, PgError | ArchiveFileError> =>
    batches.step({ kind: "range", ...range, limit: options.batchSize }).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (deleted) => {
            if (deleted >= options.batchSize) return drain(range)
            // Aim the next ranges at ~90% of a batch of matches (a full batch means scanning again).
            const share = Math.max(deleted, 1) / Math.max(range.to - range.from, 1)
            const next = Math.round(
              Math.min(initial * 16, Math.max(initial, (0.9 * options.batchSize) / share)),
            )
            return Ref.set(width, next).pipe(Effect.as(true))
          },
        }),
      ),
    )
  yield* ranges.pipe(
    Stream.mapEffect(drain, { concurrency: options.concurrency }),
    Stream.takeWhile((continued) => continued),
    Stream.runDrain,
  )
})

/**
 * Without such an index: one pass computes the match list (one hash join) and deletes it batch by
 * batch. If the list's connection drops, a new pass recomputes it: rows already deleted are no
 * longer in it.
 */
export const listPass = Effect.fn("Cleanup.listPass")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  batches: Batches,
  options: PassOptions,
) {
  const list = new MatchList()
  yield* client.forEach(
    "reading the match list",
    (sql) => Statements.matchList(sql, target),
    (row) => list.push(String(row.p), String(row.u)),
  )
  yield* Effect.logDebug(`match list: ${list.length} matches`)
  yield* Stream.fromIterable(list.batches(options.batchSize)).pipe(
    Stream.mapEffect(
      (matches) => batches.step({ kind: "list", ...matches }).pipe(Effect.map(Option.isSome)),
      {
        concurrency: options.concurrency,
      },
    ),
    Stream.takeWhile((continued) => continued),
    Stream.runDrain,
  )
})
