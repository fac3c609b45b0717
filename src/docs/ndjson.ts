import { FileSystem } from "@effect/platform"
import { Effect, Either, Stream } from "effect"
import { checkDatabaseName } from "../couch/names.ts"
import { fileProblem } from "../shared/files.ts"
import { collectionFile } from "./collection-file.ts"
import { StoreUnavailable } from "./errors.ts"
import { makeTableStore } from "./memory.ts"
import type { DocumentStoreShape } from "./store.ts"
import { checkCollection, type Table } from "./table.ts"

const extensions = /\.(ndjson|jsonl|json)$/i

/**
 * The collection an NDJSON file names by itself: its file name without the directory and the
 * `.ndjson` / `.jsonl` / `.json` ending (`exports/tickets.ndjson` → `tickets`), when that is a
 * valid collection name.
 */
export const collectionOfFile = (path: string): Either.Either<string, string> => {
  const name = (path.split(/[\\/]/).pop() ?? path).replace(extensions, "")
  return Either.isRight(checkDatabaseName(name))
    ? Either.right(name)
    : Either.left(`the file name ${JSON.stringify(name)} is not a collection name`)
}

/**
 * `ndjson:FILE`: one NDJSON file read as a store of one collection (a migration's source). Its
 * collection is the one the caller names, by default the file's name. Listing streams the file
 * (checked whole first; one not in id order is read whole); a lookup reads it whole once. It
 * cannot be written: the file store (`file:DIR`) is the writable form of the same lines.
 */
export const makeNdjsonStore = Effect.fn("Docs.ndjsonStore")(function* (path: string) {
  const fs = yield* FileSystem.FileSystem
  const describe = `ndjson file ${path}`
  const info = yield* fs
    .stat(path)
    .pipe(
      Effect.mapError(
        (e) => new StoreUnavailable({ store: describe, reason: fileProblem(e), retryable: false }),
      ),
    )
  if (info.type !== "File") {
    return yield* new StoreUnavailable({ store: describe, reason: "it is not a file", retryable: false })
  }
  const file = collectionFile(fs, path, describe)
  // The table store holds the file under one key, whatever name the caller uses for it.
  const key = "file"
  const tables = new Map<string, Table>()
  const inner = yield* makeTableStore(describe, tables, () => Effect.void)
  const loading = yield* Effect.makeSemaphore(1)
  const loaded = <A, E>(collection: string, f: () => Effect.Effect<A, E>) =>
    checkCollection(collection).pipe(
      Effect.zipRight(
        Effect.suspend(() =>
          tables.has(key)
            ? Effect.void
            : file.load.pipe(
                Effect.tap((table) => Effect.sync(() => tables.set(key, table))),
                Effect.asVoid,
              ),
        ).pipe(loading.withPermits(1)),
      ),
      Effect.zipRight(Effect.suspend(f)),
    )
  const readOnly = () =>
    Effect.fail(
      new StoreUnavailable({
        store: describe,
        reason: "it is read only: write to file:DIR (one <collection>.ndjson per collection)",
        retryable: false,
      }),
    )
  const store: DocumentStoreShape = {
    describe,
    save: readOnly,
    saveMany: readOnly,
    saveReplicated: readOnly,
    delete: readOnly,
    get: (collection, id) => loaded(collection, () => inner.get(key, id)),
    getMany: (collection, ids) => loaded(collection, () => inner.getMany(key, ids)),
    list: (collection, options) =>
      Stream.unwrap(
        checkCollection(collection).pipe(
          Effect.zipRight(tables.has(key) ? Effect.succeed(false) : file.scan),
          Effect.map((sorted) =>
            sorted
              ? file.stream
              : Stream.unwrap(loaded(collection, () => Effect.succeed(inner.list(key, options)))),
          ),
        ),
      ),
    collections: Effect.succeed(
      Either.getOrElse(
        Either.map(collectionOfFile(path), (c) => [c]),
        () => [],
      ),
    ),
  }
  return store
})
