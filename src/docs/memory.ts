import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { DocNotFound } from "./errors.ts"
import { type Doc, DocumentStore, type DocumentStoreShape, type StoreError } from "./store.ts"
import {
  bodyOf,
  checkCollection,
  docOf,
  listedIds,
  type Table,
  tombstoneOf,
  writeChecked,
  writeCurrent,
  writeReplicated,
} from "./table.ts"

const defaultPageSize = 1000

/**
 * The store over a map of tables: the memory adapter, and the file adapter's working copy.
 * `persist` runs after every change to a collection (a no-op in memory); changes are serialized
 * so a write and its persistence are never interleaved with another's.
 */
export const makeTableStore = (
  describe: string,
  tables: Map<string, Table>,
  persist: (collection: string, table: Table) => Effect.Effect<void, StoreError>,
) =>
  Effect.gen(function* () {
    const lock = yield* Effect.makeSemaphore(1)
    const existing = (collection: string) =>
      checkCollection(collection).pipe(
        Effect.flatMap((c) =>
          Option.match(Option.fromNullable(tables.get(c)), {
            onNone: () => Effect.fail(new DocNotFound({ store: describe, collection: c })),
            onSome: Effect.succeed,
          }),
        ),
      )
    const change = <A>(collection: string, f: (table: Table) => A) =>
      checkCollection(collection).pipe(
        Effect.flatMap((c) =>
          lock.withPermits(1)(
            Effect.suspend(() => {
              const table = tables.get(c) ?? new Map()
              tables.set(c, table)
              const result = f(table)
              return persist(c, table).pipe(Effect.as(result))
            }),
          ),
        ),
      )
    const live = (table: Table, collection: string, id: string) => {
      const entry = table.get(id)
      return entry === undefined || entry.deleted
        ? Effect.fail(new DocNotFound({ store: describe, collection, id }))
        : Effect.succeed(entry)
    }

    const store: DocumentStoreShape = {
      describe,
      save: Effect.fn("Docs.save")(function* (collection, id, doc) {
        const rev = yield* change(collection, (table) => writeCurrent(table, id, bodyOf(doc)))
        return { id, rev }
      }),
      saveMany: Effect.fn("Docs.saveMany")(function* (collection, docs) {
        return yield* change(collection, (table) => docs.map((doc) => writeChecked(table, doc)))
      }),
      saveReplicated: Effect.fn("Docs.saveReplicated")(function* (collection, docs) {
        return yield* change(collection, (table) => docs.map((doc) => writeReplicated(table, doc)))
      }),
      get: Effect.fn("Docs.get")(function* (collection, id) {
        const table = yield* existing(collection)
        return docOf(id, yield* live(table, collection, id))
      }),
      getMany: Effect.fn("Docs.getMany")(function* (collection, ids) {
        const table = tables.get(yield* checkCollection(collection)) ?? new Map()
        const found = new Map<string, Doc>()
        for (const id of ids) {
          const entry = table.get(id)
          if (entry !== undefined) found.set(id, entry.deleted ? tombstoneOf(id, entry) : docOf(id, entry))
        }
        return found
      }),
      list: (collection, options) =>
        Stream.unwrap(
          existing(collection).pipe(
            Effect.map((table) =>
              // A snapshot of the ids, read a page at a time: later changes do not move the walk.
              Stream.fromIterable(listedIds(table)).pipe(
                Stream.rechunk(options?.pageSize ?? defaultPageSize),
                Stream.mapChunks((ids) =>
                  Chunk.filterMap(ids, (id) => {
                    const entry = table.get(id)
                    return entry === undefined || entry.deleted
                      ? Option.none()
                      : Option.some(docOf(id, entry))
                  }),
                ),
              ),
            ),
          ),
        ),
      delete: Effect.fn("Docs.delete")(function* (collection, id) {
        const table = yield* existing(collection)
        yield* live(table, collection, id)
        const rev = yield* change(collection, (t) => writeCurrent(t, id, {}, true))
        return { id, rev }
      }),
      collections: Effect.sync(() => [...tables.keys()].sort()),
    }
    return store
  })

/** The embedded store (the default): everything in this process, gone when it ends. */
export const makeMemoryStore = () => makeTableStore("memory", new Map(), () => Effect.void)

export const memoryStoreLayer = Layer.effect(DocumentStore, makeMemoryStore())
