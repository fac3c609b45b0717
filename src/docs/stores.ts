import { FileSystem } from "@effect/platform"
import { Context, Effect, Layer, Option } from "effect"
import { CouchClient } from "../couch/client.ts"
import { type CouchSettings, couchLayer } from "../couch/connection.ts"
import { ConfigError } from "../shared/errors.ts"
import { makeCouchbackupStore } from "./couchbackup.ts"
import { makeCouchStore } from "./couchdb.ts"
import { makeFileStore } from "./file.ts"
import { makeMemoryStore } from "./memory.ts"
import { makeNdjsonStore } from "./ndjson.ts"
import type { DocumentStoreShape, StoreError } from "./store.ts"

/** Where documents live: `memory`, `couchdb` or `file:DIR` (flag `--store`, env DATABASE_PROVIDER). */
export type StoreSpec =
  | { readonly kind: "memory" }
  | { readonly kind: "couchdb" }
  | { readonly kind: "file"; readonly dir: string }
  /** One NDJSON file, one collection: a source (read only). */
  | { readonly kind: "ndjson"; readonly file: string }
  /** A @cloudant/couchbackup backup file: one collection, for `migrate --from` / `--to`. */
  | { readonly kind: "couchbackup"; readonly file: string }

export const storeSpecHelp = "memory, couchdb, file:DIR, ndjson:FILE (read only) or couchbackup:FILE"

export const parseStoreSpec = (raw: string, setting: string): Effect.Effect<StoreSpec, ConfigError> => {
  const value = raw.trim()
  if (value === "memory") return Effect.succeed({ kind: "memory" })
  if (value === "couchdb") return Effect.succeed({ kind: "couchdb" })
  if (value.startsWith("file:") && value.length > 5)
    return Effect.succeed({ kind: "file", dir: value.slice(5) })
  if (value.startsWith("ndjson:") && value.length > 7)
    return Effect.succeed({ kind: "ndjson", file: value.slice(7) })
  if (value.startsWith("couchbackup:") && value.length > 12) {
    return Effect.succeed({ kind: "couchbackup", file: value.slice(12) })
  }
  return Effect.fail(
    new ConfigError({ message: `${setting} ${JSON.stringify(raw)} is not a store: use ${storeSpecHelp}` }),
  )
}

/** Why a store could not be opened: its settings, or the store itself. */
export type OpenError = ConfigError | StoreError

/**
 * Opens the stores a command or a migration names. Each is opened once per process: the memory
 * store is one map shared by every user of the factory (so a migration into memory can be read
 * back), the CouchDB client is built only when a `couchdb` store is asked for.
 */
export interface StoreFactoryShape {
  /** `write`: a couchbackup file is started afresh (its header), as a migration's target. */
  readonly open: (spec: StoreSpec, mode?: "read" | "write") => Effect.Effect<DocumentStoreShape, OpenError>
}

export class StoreFactory extends Context.Tag("dbsweep/StoreFactory")<StoreFactory, StoreFactoryShape>() {
  static readonly layer = (couch: CouchSettings) =>
    Layer.scoped(
      StoreFactory,
      Effect.gen(function* () {
        const scope = yield* Effect.scope
        const fs = yield* FileSystem.FileSystem
        const memory = yield* makeMemoryStore()
        const couchStore = yield* Effect.cached(
          Layer.buildWithScope(couchLayer(couch), scope).pipe(
            Effect.map((ctx) => makeCouchStore(Context.get(ctx, CouchClient))),
            Effect.provideService(FileSystem.FileSystem, fs),
            // Config's own errors (an unreadable variable) are settings refused, like ours.
            Effect.mapError((e) =>
              e instanceof ConfigError ? e : new ConfigError({ message: `CouchDB settings: ${e.message}` }),
            ),
          ),
        )
        const files = new Map<string, DocumentStoreShape>()
        const openFile = (dir: string) =>
          Option.match(Option.fromNullable(files.get(dir)), {
            onSome: Effect.succeed,
            onNone: () =>
              makeFileStore(dir).pipe(
                Effect.provideService(FileSystem.FileSystem, fs),
                Effect.tap((store) => Effect.sync(() => files.set(dir, store))),
              ),
          })
        return StoreFactory.of({
          open: (spec, mode = "read") => {
            switch (spec.kind) {
              case "memory":
                return Effect.succeed(memory)
              case "couchdb":
                return couchStore
              case "file":
                return openFile(spec.dir)
              case "ndjson":
                return makeNdjsonStore(spec.file).pipe(Effect.provideService(FileSystem.FileSystem, fs))
              case "couchbackup":
                return makeCouchbackupStore(spec.file, mode).pipe(
                  Effect.provideService(FileSystem.FileSystem, fs),
                )
            }
          },
        })
      }),
    )
}

/** Runs `f` with the store `spec` names. */
export const withStore = <A, E>(
  spec: StoreSpec,
  f: (store: DocumentStoreShape) => Effect.Effect<A, E>,
): Effect.Effect<A, E | OpenError, StoreFactory> =>
  StoreFactory.pipe(
    Effect.flatMap((factory) => factory.open(spec)),
    Effect.flatMap(f),
  )
