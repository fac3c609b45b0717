import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Either, Stream } from "effect"
import { checkDatabaseName } from "../couch/names.ts"
import { fileProblem, replaceFile } from "../shared/files.ts"
import { collectionFile } from "./collection-file.ts"
import { StoreUnavailable } from "./errors.ts"
import { makeTableStore } from "./memory.ts"
import type { DocumentStoreShape, ListOptions } from "./store.ts"
import { codePointOrder, type Entry, type Table } from "./table.ts"

// A collection name may hold `/`, `+`, `$`: encoded, the file name stays one path segment.
const fileName = (collection: string) => `${encodeURIComponent(collection)}.ndjson`

// A document with no revision yet (read from a line without `_rev`) is written back without one.
const lineOf = (id: string, e: Entry): string =>
  JSON.stringify(
    e.deleted
      ? { _id: id, ...(e.rev === undefined ? {} : { _rev: e.rev }), _deleted: true }
      : { _id: id, ...(e.rev === undefined ? {} : { _rev: e.rev }), ...e.body },
  )

/**
 * The file adapter: a directory of `<collection>.ndjson` files (ids in CouchDB's order, tombstones
 * kept so revisions keep counting), rewritten whole after each change: a temp file, fsync, rename,
 * so a crash leaves the old file or the new one, never half of one. A collection is read into
 * memory only when it is written or looked up; listing one that is not is streamed from its file
 * (checked whole first), so a migration out of files keeps memory flat. A file written by another
 * program (lines without `_rev`, ids in any order) is accepted too; one not in id order is read
 * whole to be listed in order.
 */
export const makeFileStore = Effect.fn("Docs.fileStore")(function* (dir: string) {
  const fs = yield* FileSystem.FileSystem
  const store = `file store ${dir}`
  const unavailable = (e: PlatformError) =>
    new StoreUnavailable({ store, reason: fileProblem(e), retryable: false })
  yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(unavailable))
  const onDisk = new Set<string>()
  for (const name of yield* fs.readDirectory(dir).pipe(Effect.mapError(unavailable))) {
    if (!name.endsWith(".ndjson")) continue
    const collection = decodeURIComponent(name.slice(0, -".ndjson".length))
    if (Either.isRight(checkDatabaseName(collection))) onDisk.add(collection)
  }
  const pathOf = (collection: string) => `${dir}/${fileName(collection)}`
  const tables = new Map<string, Table>()
  // One load at a time: two fibers reading the same file must not both install a table.
  const loading = yield* Effect.makeSemaphore(1)
  const fileOf = (collection: string) => collectionFile(fs, pathOf(collection), store)
  const load = (collection: string) =>
    Effect.gen(function* () {
      if (tables.has(collection) || !onDisk.has(collection)) return
      tables.set(collection, yield* fileOf(collection).load)
    }).pipe(loading.withPermits(1))
  const streamed = (collection: string, options?: ListOptions) =>
    Stream.unwrap(
      Effect.gen(function* () {
        const file = fileOf(collection)
        if (yield* file.scan) return file.stream
        yield* load(collection)
        return inner.list(collection, options)
      }),
    )

  const persist = (collection: string, table: Table) => {
    const text = [...table.entries()]
      .sort(([a], [b]) => codePointOrder(a, b))
      .map(([id, entry]) => `${lineOf(id, entry)}\n`)
      .join("")
    return replaceFile(fs, pathOf(collection), text).pipe(
      Effect.tap(() => Effect.sync(() => onDisk.add(collection))),
      Effect.mapError(unavailable),
    )
  }

  const inner = yield* makeTableStore(store, tables, persist)
  const loaded =
    <A, E>(f: (collection: string) => Effect.Effect<A, E>) =>
    (collection: string) =>
      load(collection).pipe(Effect.zipRight(f(collection)))
  const self: DocumentStoreShape = {
    ...inner,
    save: (c, id, doc) => loaded((c) => inner.save(c, id, doc))(c),
    saveMany: (c, docs) => loaded((c) => inner.saveMany(c, docs))(c),
    saveReplicated: (c, docs) => loaded((c) => inner.saveReplicated(c, docs))(c),
    get: (c, id) => loaded((c) => inner.get(c, id))(c),
    getMany: (c, ids) => loaded((c) => inner.getMany(c, ids))(c),
    delete: (c, id) => loaded((c) => inner.delete(c, id))(c),
    list: (c, options) =>
      tables.has(c) || !onDisk.has(c) || Either.isLeft(checkDatabaseName(c))
        ? inner.list(c, options)
        : streamed(c, options),
    collections: Effect.sync(() => [...new Set([...onDisk, ...tables.keys()])].sort()),
  }
  return self
})
