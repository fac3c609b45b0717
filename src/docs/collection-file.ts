import type { FileSystem } from "@effect/platform"
import { Effect, Either, Stream } from "effect"
import type { StoreUnavailable } from "./errors.ts"
import { streamLines } from "./lines.ts"
import type { Doc } from "./store.ts"
import { bodyOf, codePointOrder, type Table } from "./table.ts"

/**
 * One collection as an NDJSON file: one JSON document a line with a string `_id`. A line with
 * `_rev` is that revision of the document (a tombstone with `"_deleted": true`); a line without
 * `_rev` is a document that has no revision yet (an app's export, `jq -c '.[]'`): a save gives it
 * `1-…`. What the file store keeps per collection, and what `ndjson:FILE` reads.
 */

const revision = /^[0-9]+-\S+$/

/** The line's document, or why it is not one (said after "FILE line N"). */
export const docOfLine = (line: string): Either.Either<Doc, string> => {
  const value = Either.try((): unknown => JSON.parse(line))
  if (Either.isLeft(value)) return Either.left("is not valid JSON")
  const doc = value.right
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    return Either.left("is not a JSON object")
  const fields = doc as Record<string, unknown>
  if (fields._id === undefined) return Either.left('has no "_id"')
  if (typeof fields._id !== "string" || fields._id === "")
    return Either.left('has an "_id" that is not a text')
  if (fields._rev !== undefined && (typeof fields._rev !== "string" || !revision.test(fields._rev))) {
    return Either.left('has a "_rev" that is not a revision (N-…)')
  }
  if (fields._deleted !== undefined && typeof fields._deleted !== "boolean") {
    return Either.left('has a "_deleted" that is not true or false')
  }
  return Either.right(fields as Doc)
}

const lineProblem = (path: string, lineNo: number, reason: string) =>
  `${path} line ${lineNo} ${reason}: each line must be one JSON document with an "_id"`

const repeated = (path: string, lineNo: number, id: string) =>
  `${path} line ${lineNo} repeats the _id ${JSON.stringify(id)}: each document may appear once`

const listed = (doc: Doc) => doc._deleted !== true && !doc._id.startsWith("_design/")

export interface CollectionFile {
  /**
   * Reads every line once before anything uses the file, so a bad line or a repeated id fails
   * naming the line before a migration has written anything. Says whether the ids are in
   * CouchDB's order: such a file is listed by streaming it, memory flat.
   */
  readonly scan: Effect.Effect<boolean, StoreUnavailable>
  /** The live documents but `_design/` ones, in file order, a MiB of the file at a time. */
  readonly stream: Stream.Stream<Doc, StoreUnavailable>
  /** The whole file as a table (a repeated id fails naming its line). */
  readonly load: Effect.Effect<Table, StoreUnavailable>
}

export const collectionFile = (fs: FileSystem.FileSystem, path: string, store: string): CollectionFile => ({
  scan: Effect.suspend(() => {
    let previous: string | undefined
    let sorted = true
    return streamLines(fs, path, store, (line, lineNo) => {
      const doc = docOfLine(line)
      if (Either.isLeft(doc)) return Either.left(lineProblem(path, lineNo, doc.left))
      const id = doc.right._id
      if (sorted && previous !== undefined) {
        const order = codePointOrder(previous, id)
        if (order === 0) return Either.left(repeated(path, lineNo, id))
        if (order > 0) sorted = false
      }
      previous = id
      return Either.right([])
    }).pipe(
      Stream.runDrain,
      Effect.map(() => sorted),
    )
  }),
  stream: streamLines(fs, path, store, (line, lineNo) =>
    Either.match(docOfLine(line), {
      onLeft: (reason) => Either.left(lineProblem(path, lineNo, reason)),
      onRight: (doc) => Either.right(listed(doc) ? [doc] : []),
    }),
  ),
  load: Effect.suspend(() => {
    const table: Table = new Map()
    return streamLines(fs, path, store, (line, lineNo) => {
      const doc = docOfLine(line)
      if (Either.isLeft(doc)) return Either.left(lineProblem(path, lineNo, doc.left))
      const { _id, _rev, _deleted } = doc.right
      if (table.has(_id)) return Either.left(repeated(path, lineNo, _id))
      const deleted = _deleted === true
      table.set(_id, { rev: _rev, deleted, body: deleted ? {} : bodyOf(doc.right) })
      return Either.right([])
    }).pipe(
      Stream.runDrain,
      Effect.map(() => table),
    )
  }),
})
