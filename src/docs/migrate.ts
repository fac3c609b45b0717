import { Chunk, Clock, Context, Effect, Either, Layer, Option, Schema, Stream } from "effect"
import { failedWork, type Job, type RunContext, untilStopped } from "../jobs/job.ts"
import { ConfigError } from "../shared/errors.ts"
import { type CollectionCounts, copyBatch, type Failure } from "./copy.ts"
import { collectionOfFile } from "./ndjson.ts"
import type { Doc, DocumentStoreShape } from "./store.ts"
import { parseStoreSpec, StoreFactory, type StoreFactoryShape } from "./stores.ts"
import { checkCollection } from "./table.ts"

const whole = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max))

/** The migrate job's options: what the CLI flags, the library API and HTTP bodies give. */
export const MigrateOptions = Schema.Struct({
  /** `memory`, `couchdb`, `file:DIR`, `ndjson:FILE` (a source) or `couchbackup:FILE`. */
  from: Schema.String,
  to: Schema.String,
  /** Every collection of the source when absent. */
  collections: Schema.optionalWith(Schema.Array(Schema.String), { as: "Option" }),
  dryRun: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  batch: Schema.optionalWith(whole(1, 10_000), { default: () => 500 }),
  concurrency: Schema.optionalWith(whole(1, 100), { default: () => 10 }),
})
export type MigrateOptions = typeof MigrateOptions.Type

export interface MigrateSummary {
  readonly from: string
  readonly to: string
  readonly dryRun: boolean
  readonly collections: ReadonlyArray<CollectionCounts>
  readonly read: number
  readonly written: number
  readonly skipped: number
  readonly failed: number
  /** The first failures (at most 100), for the summary. */
  readonly failures: ReadonlyArray<Failure>
  readonly interrupted: boolean
  readonly durationMs: number
}

const shownFailures = 100

/**
 * Batches of `size` documents from `docs`, for several takers: the source is pulled a chunk at a
 * time (a page of a store, a MiB of a file) and cut into batches by plain code, one taker at a
 * time. No effect runs per document; at most a chunk beyond what the takers hold is read ahead.
 */
const batchesOf = <E>(docs: Stream.Stream<Doc, E>, size: number) =>
  Effect.gen(function* () {
    const pull = yield* Stream.toPull(docs)
    const taking = yield* Effect.makeSemaphore(1)
    let held: ReadonlyArray<Doc> = []
    let at = 0
    let ended = false
    const fill: Effect.Effect<void, E> = Effect.suspend(() =>
      ended || held.length - at >= size
        ? Effect.void
        : pull.pipe(
            Effect.matchEffect({
              onFailure: Option.match({
                onNone: () =>
                  Effect.sync(() => {
                    ended = true
                  }),
                onSome: (e) => Effect.fail(e),
              }),
              onSuccess: (chunk) => {
                held = held.slice(at).concat(Chunk.toReadonlyArray(chunk))
                at = 0
                return fill
              },
            }),
          ),
    )
    const next: Effect.Effect<Option.Option<ReadonlyArray<Doc>>, E> = taking.withPermits(1)(
      fill.pipe(
        Effect.map(() => {
          if (at >= held.length) return Option.none()
          const batch = held.slice(at, at + size)
          at += batch.length
          return Option.some(batch)
        }),
      ),
    )
    return next
  })

/**
 * Whether the run has begun writing. Until then a stop ends it at once, whatever the stores take
 * to answer (a server that never answers): nothing is written yet, so nothing is left half done.
 */
interface Begun {
  writing: boolean
}

/**
 * `wait`, cut off by a stop that comes while the run has written nothing yet. A stop after another
 * worker began writing is a graceful one again (that worker's batch finishes), even for a wait
 * that began before.
 */
const beforeWriting = <A, E>(begun: Begun, context: RunContext, wait: Effect.Effect<A, E>) =>
  Effect.suspend(() =>
    begun.writing ? wait : untilStopped(Effect.map(context.stopping, (stop) => stop && !begun.writing))(wait),
  )

const copyCollection = (
  source: DocumentStoreShape,
  target: DocumentStoreShape,
  collection: string,
  options: MigrateOptions,
  context: RunContext,
  failures: Array<Failure>,
  begun: Begun,
) =>
  Effect.gen(function* () {
    const counts: CollectionCounts = { collection, read: 0, written: 0, skipped: 0, failed: 0 }
    // Into a collection that does not exist yet, every document is new: no lookups before the
    // bulk writes (a concurrent writer's docs still come back as conflicts and are re-checked).
    const fresh = !(yield* beforeWriting(begun, context, target.collections)).includes(collection)
    const next = yield* batchesOf(source.list(collection, { pageSize: options.batch }), options.batch)
    // `concurrency` workers, each taking a batch, writing it and counting it, until the source
    // ends or the run is stopping (no new batch is taken; those in flight end). Memory stays flat
    // however large the collection: a batch per worker and a chunk of the source are held.
    const worker = Effect.gen(function* () {
      while (!(yield* context.stopping)) {
        const docs = yield* beforeWriting(begun, context, next)
        if (Option.isNone(docs)) return
        begun.writing = true
        const outcome = yield* copyBatch(target, collection, docs.value, options.dryRun, fresh)
        counts.read += docs.value.length
        counts.written += outcome.written
        counts.skipped += outcome.skipped
        counts.failed += outcome.failures.length
        failures.push(...outcome.failures.slice(0, Math.max(0, shownFailures - failures.length)))
        yield* context.progress.advance(docs.value.length)
      }
    })
    yield* Effect.all(
      Array.from({ length: options.concurrency }, () => worker),
      { concurrency: "unbounded", discard: true },
    )
    return counts
  }).pipe(Effect.scoped)

export const runMigrate = Effect.fn("Docs.migrate")(function* (
  factory: StoreFactoryShape,
  options: MigrateOptions,
  context: RunContext,
) {
  const started = yield* Clock.currentTimeMillis
  const begun: Begun = { writing: false }
  const from = yield* parseStoreSpec(options.from, "--from")
  const to = yield* parseStoreSpec(options.to, "--to")
  if (to.kind === "ndjson") {
    return yield* new ConfigError({
      message: `--to ${options.to}: an ndjson file is a source only; write to file:DIR (one <collection>.ndjson per collection)`,
    })
  }
  const names = yield* Option.match(options.collections, {
    onNone: () =>
      from.kind === "ndjson"
        ? Either.match(collectionOfFile(from.file), {
            onLeft: (why) =>
              Effect.fail(
                new ConfigError({
                  message: `--from ${options.from}: ${why}; name its collection with --collections NAME`,
                }),
              ),
            onRight: (name) => Effect.succeed([name]),
          })
        : beforeWriting(begun, context, factory.open(from).pipe(Effect.flatMap((s) => s.collections))),
    onSome: (given) => Effect.forEach(given, checkCollection),
  })
  // A couchbackup or ndjson file holds one collection (a couchbackup file does not name it).
  for (const spec of [from, to]) {
    if ((spec.kind === "couchbackup" || spec.kind === "ndjson") && names.length !== 1) {
      return yield* new ConfigError({
        message: `${spec.kind === "ndjson" ? "an ndjson" : "a couchbackup"} file holds one collection: name it with --collections NAME (got ${names.length})`,
      })
    }
  }
  const source = yield* factory.open(from)
  const target = yield* factory.open(to, "write")
  yield* context.progress.start(`migrate ${options.from} → ${options.to}`, 0)
  const failures: Array<Failure> = []
  const collections: Array<CollectionCounts> = []
  for (const name of names) {
    if (yield* context.stopping) break
    collections.push(yield* copyCollection(source, target, name, options, context, failures, begun))
  }
  yield* context.progress.stop
  const sum = (k: "read" | "written" | "skipped" | "failed") => collections.reduce((n, c) => n + c[k], 0)
  const summary: MigrateSummary = {
    from: options.from,
    to: options.to,
    dryRun: options.dryRun,
    collections,
    read: sum("read"),
    written: sum("written"),
    skipped: sum("skipped"),
    failed: sum("failed"),
    failures,
    interrupted: yield* context.stopping,
    durationMs: (yield* Clock.currentTimeMillis) - started,
  }
  return summary
})

/** Work that failed inside a finished migration, in one line. */
export const migrateProblems = (s: MigrateSummary): Option.Option<string> =>
  failedWork(
    s.failed,
    () =>
      `${s.failed} documents were not migrated (first: ${s.failures[0]?.id ?? "?"}: ${s.failures[0]?.reason ?? "?"}); run again to retry them, what arrived is skipped`,
  )

/** What a migration can fail with. */
export type MigrateError = Effect.Effect.Error<ReturnType<typeof runMigrate>>

export class MigrateJob extends Context.Tag("dbsweep/MigrateJob")<
  MigrateJob,
  Job<MigrateOptions, MigrateSummary, typeof MigrateOptions.Encoded, MigrateError>
>() {
  /** Needs the store factory (which opens the stores the options name). */
  static readonly layer = Layer.effect(
    MigrateJob,
    Effect.gen(function* () {
      const factory = yield* StoreFactory
      return MigrateJob.of({
        name: "migrate",
        options: MigrateOptions,
        target: (o) => o.to,
        problems: migrateProblems,
        run: (o, context) => runMigrate(factory, o, context),
      })
    }),
  )
}
