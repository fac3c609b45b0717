import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Either, Schema } from "effect"
import { fileProblem } from "../shared/files.ts"
import { DocNotFound, StoreUnavailable } from "./errors.ts"
import { streamLines } from "./lines.ts"
import type { Doc, DocumentStoreShape, SaveResult } from "./store.ts"
import { bodyOf, checkCollection, nextRev } from "./table.ts"

/**
 * The backup file of @cloudant/couchbackup 2.11 (includes/backup.js, backupMappings.js,
 * restoreMappings.js): newline-delimited, a header line `{"name":"@cloudant/couchbackup",
 * "version","mode":"full","attachments":false}`, then one JSON array of docs per line (its
 * `bufferSize`, 500), each with `_id`, `_rev` and `_revisions`. couchrestore skips blank lines and
 * the `{"marker":"@cloudant/couchbackup:resume"}` line; so does this reader.
 */
export const header = { name: "@cloudant/couchbackup", version: "2.11.12", mode: "full", attachments: false }
export const linesOf = 500

const BackupDoc = Schema.Struct(
  { _id: Schema.String, _rev: Schema.optional(Schema.String) },
  Schema.Record({ key: Schema.String, value: Schema.Unknown }),
)
// A line is a batch of docs, or (skipped) the header or couchrestore's resume marker.
const decodeBatch = Schema.decodeUnknownEither(Schema.parseJson(Schema.Array(BackupDoc)))
const decodeOther = Schema.decodeUnknownEither(
  Schema.parseJson(
    Schema.Union(
      Schema.Struct({ name: Schema.String, version: Schema.String, mode: Schema.String }),
      Schema.Struct({ marker: Schema.String }),
    ),
  ),
)

/**
 * `_revisions` for a doc that has none: its current rev only (a restore keeps `_rev` exactly). A
 * document with no revision yet (a plain file line) gets its first one, as a save would give it.
 */
const withRevisions = (doc: Doc): Doc => {
  if (doc._revisions !== undefined) return doc
  const rev = doc._rev ?? nextRev(undefined, false, bodyOf(doc))
  const dash = rev.indexOf("-")
  return { ...doc, _rev: rev, _revisions: { start: Number.parseInt(rev, 10), ids: [rev.slice(dash + 1)] } }
}

/**
 * A couchbackup file as a store of one collection: read as a stream (a line at a time, memory
 * flat), or, opened for writing, truncated to its header and appended a line per batch.
 */
export const makeCouchbackupStore = Effect.fn("Docs.couchbackupStore")(function* (
  path: string,
  mode: "read" | "write",
) {
  const fs = yield* FileSystem.FileSystem
  const describe = `couchbackup file ${path}`
  const unavailable = (e: PlatformError) =>
    new StoreUnavailable({ store: describe, reason: fileProblem(e), retryable: false })
  const lock = yield* Effect.makeSemaphore(1)
  if (mode === "write") {
    yield* fs.writeFileString(path, `${JSON.stringify(header)}\n`).pipe(Effect.mapError(unavailable))
  }
  const append = (docs: ReadonlyArray<Doc>) =>
    lock.withPermits(1)(
      fs.writeFileString(path, `${JSON.stringify(docs)}\n`, { flag: "a" }).pipe(Effect.mapError(unavailable)),
    )
  const written = (docs: ReadonlyArray<Doc>) =>
    Effect.suspend(() => {
      const revised = docs.map(withRevisions)
      return append(revised).pipe(
        Effect.as(revised.map((d): SaveResult => ({ id: d._id, ok: true, rev: d._rev ?? "" }))),
      )
    })
  const readOnly = (what: string) =>
    Effect.fail(
      new StoreUnavailable({ store: describe, reason: `${what} is not supported`, retryable: false }),
    )

  const store: DocumentStoreShape = {
    describe,
    keepsRevisions: true,
    save: () => readOnly("saving one document"),
    saveMany: (collection, docs) => checkCollection(collection).pipe(Effect.zipRight(written(docs))),
    saveReplicated: (collection, docs) => checkCollection(collection).pipe(Effect.zipRight(written(docs))),
    get: (collection, id) => Effect.fail(new DocNotFound({ store: describe, collection, id })),
    // A backup file is written whole: nothing in it counts as already there.
    getMany: () => Effect.succeed(new Map()),
    list: () =>
      streamLines(fs, path, describe, (line, lineNo) => {
        const batch = decodeBatch(line)
        if (Either.isRight(batch))
          return Either.right(batch.right.filter((d) => !d._id.startsWith("_design/")))
        // The header line (and any other object line couchbackup writes) holds no documents.
        return Either.isRight(decodeOther(line))
          ? Either.right([])
          : Either.left(`line ${lineNo} is not a couchbackup line (a JSON array of documents)`)
      }),
    delete: () => readOnly("deleting"),
    collections: Effect.succeed([]),
  }
  return store
})
