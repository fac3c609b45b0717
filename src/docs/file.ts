import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Either, Schema } from "effect"
import { checkDatabaseName } from "../couch/names.ts"
import { fileProblem } from "../shared/files.ts"
import { StoreUnavailable } from "./errors.ts"
import { makeTableStore } from "./memory.ts"
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
 * kept so revisions keep counting), read once and rewritten whole after each change: a temp file,
 * fsync, rename, so a crash leaves the old file or the new one, never half of one.
 */
export const makeFileStore = Effect.fn("Docs.fileStore")(function* (dir: string) {
  const fs = yield* FileSystem.FileSystem
  const store = `file store ${dir}`
  const unavailable = (e: PlatformError) =>
    new StoreUnavailable({ store, reason: fileProblem(e), retryable: false })
  yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(unavailable))
  const tables = new Map<string, Table>()
  for (const name of yield* fs.readDirectory(dir).pipe(Effect.mapError(unavailable))) {
    if (!name.endsWith(".ndjson")) continue
    const collection = decodeURIComponent(name.slice(0, -".ndjson".length))
    if (Either.isLeft(checkDatabaseName(collection))) continue
    const path = `${dir}/${name}`
    const text = yield* fs.readFileString(path).pipe(Effect.mapError(unavailable))
    const table = parseTable(text, path)
    if (Either.isLeft(table))
      return yield* new StoreUnavailable({ store, reason: table.left, retryable: false })
    tables.set(collection, table.right)
  }

  const persist = (collection: string, table: Table) =>
    Effect.scoped(
      Effect.gen(function* () {
        const path = `${dir}/${fileName(collection)}`
        const temp = `${path}.tmp-${Math.random().toString(36).slice(2, 10)}`
        const ids = [...table.keys()].sort(codePointOrder)
        const text = ids.map((id) => `${lineOf(id, table.get(id) as Entry)}\n`).join("")
        const file = yield* fs.open(temp, { flag: "w" })
        yield* file.writeAll(new TextEncoder().encode(text))
        yield* file.sync
        yield* fs.rename(temp, path)
      }),
    ).pipe(Effect.mapError(unavailable))

  return yield* makeTableStore(store, tables, persist)
})
