import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Either, Schema } from "effect"
import { checkDatabaseName } from "../couch/names.ts"
import { fileProblem, replaceFile } from "../shared/files.ts"
import { StoreUnavailable } from "./errors.ts"
import { streamLines } from "./lines.ts"
import { makeTableStore } from "./memory.ts"
import type { DocumentStoreShape } from "./store.ts"
import { bodyOf, codePointOrder, type Entry, type Table } from "./table.ts"

/** One line of a `<collection>.ndjson` file: a document or a tombstone, with its rev. */
const Line = Schema.parseJson(
  Schema.Struct(
    { _id: Schema.String, _rev: Schema.String, _deleted: Schema.optional(Schema.Boolean) },
    Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  ),
)
const decodeLine = Schema.decodeUnknownEither(Line)

// A collection name may hold `/`, `+`, `$`: encoded, the file name stays one path segment.
const fileName = (collection: string) => `${encodeURIComponent(collection)}.ndjson`

const lineOf = (id: string, e: Entry): string =>
  JSON.stringify(e.deleted ? { _id: id, _rev: e.rev, _deleted: true } : { _id: id, _rev: e.rev, ...e.body })

const parseTable = (text: string, path: string): Either.Either<Table, string> => {
  const table: Table = new Map()
  const lines = text.split("\n")
  for (const [n, line] of lines.entries()) {
    if (line.trim() === "") continue
    const doc = decodeLine(line)
    if (Either.isLeft(doc)) return Either.left(`${path} line ${n + 1} is not a document with _id and _rev`)
    const { _id, _rev, _deleted } = doc.right
    table.set(_id, {
      rev: _rev,
      deleted: _deleted === true,
      body: _deleted === true ? {} : bodyOf(doc.right),
    })
  }
  return Either.right(table)
}

/**
 * The file adapter: a directory of `<collection>.ndjson` files (ids in CouchDB's order, tombstones
 * kept so revisions keep counting), rewritten whole after each change: a temp file, fsync, rename,
 * so a crash leaves the old file or the new one, never half of one. A collection is read into
 * memory only when it is written or looked up; listing one that is not is streamed from its file
 * a line at a time (the file is kept sorted), so a migration out of files keeps memory flat.
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
  const load = (collection: string) =>
    Effect.gen(function* () {
      if (tables.has(collection) || !onDisk.has(collection)) return
      const path = pathOf(collection)
      const text = yield* fs.readFileString(path).pipe(Effect.mapError(unavailable))
      const table = parseTable(text, path)
      if (Either.isLeft(table))
        return yield* new StoreUnavailable({ store, reason: table.left, retryable: false })
      tables.set(collection, table.right)
    }).pipe(loading.withPermits(1))
  const streamed = (collection: string) => {
    const path = pathOf(collection)
    return streamLines(fs, path, store, (line, lineNo) =>
      Either.match(decodeLine(line), {
        onLeft: () => Either.left(`${path} line ${lineNo} is not a document with _id and _rev`),
        onRight: (doc) => Either.right(doc._deleted === true || doc._id.startsWith("_design/") ? [] : [doc]),
      }),
    )
  }

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
        : streamed(c),
    collections: Effect.sync(() => [...new Set([...onDisk, ...tables.keys()])].sort()),
  }
  return self
})
