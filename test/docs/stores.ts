/** The three adapters as the tests build them: memory, file (a temp dir), couchdb (the test target). */
import { BunContext } from "@effect/platform-bun"
import { Duration, Effect, Option, Redacted } from "effect"
import { makeCouchClient } from "../../src/couch/client.ts"
import { makeCouchbackupStore } from "../../src/docs/couchbackup.ts"
import { type CouchStoreSettings, defaultCouchStoreSettings, makeCouchStore } from "../../src/docs/couchdb.ts"
import { makeFileStore } from "../../src/docs/file.ts"
import { makeMemoryStore } from "../../src/docs/memory.ts"
import { makeNdjsonStore } from "../../src/docs/ndjson.ts"
import type { DocumentStoreShape } from "../../src/docs/store.ts"
import type { StoreFactoryShape } from "../../src/docs/stores.ts"
import { type CouchTarget, testDbName } from "../support/couch-target.ts"
import { tempDir as tempDirOf } from "../support/temp-dirs.ts"

export const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)

/** The failure's tag, or "ok". */
export const outcome = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  run(
    effect.pipe(
      Effect.as("ok"),
      Effect.catchAll((e) => Effect.succeed(e._tag)),
    ),
  )

export const memoryStore = () => run(makeMemoryStore())

export const tempDir = (prefix = "dbsweep-docs-") => tempDirOf(prefix)

export const fileStore = (dir = tempDir()) =>
  run(makeFileStore(dir).pipe(Effect.provide(BunContext.layer), Effect.orDie))

export const ndjsonStore = (file: string) =>
  run(makeNdjsonStore(file).pipe(Effect.provide(BunContext.layer), Effect.orDie))

export const couchbackupStore = (file: string, mode: "read" | "write") =>
  run(makeCouchbackupStore(file, mode).pipe(Effect.provide(BunContext.layer), Effect.orDie))

export const couchStore = (t: CouchTarget, settings: CouchStoreSettings = defaultCouchStoreSettings) =>
  run(
    makeCouchClient({
      url: t.url,
      user: Option.some(t.user),
      password: Option.some(Redacted.make(t.password)),
      timeout: Duration.seconds(30),
    }).pipe(
      Effect.map((client): DocumentStoreShape => makeCouchStore(client, settings)),
      Effect.orDie,
    ),
  )

let n = 0
/** A fresh collection name (CouchDB's rule), unique across runs against a shared server. */
export const freshCollection = (prefix = "docs") =>
  testDbName(
    `${prefix}-${Date.now().toString(36)}-${(n++).toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
  )

/** A factory over stores the test made: `memory`, `couchdb`, `file:DIR`, `couchbackup:FILE`. */
export const factory = async (couch: DocumentStoreShape): Promise<StoreFactoryShape> => {
  const memory = await memoryStore()
  return {
    open: (spec, mode) =>
      spec.kind === "memory"
        ? Effect.succeed(memory)
        : spec.kind === "couchdb"
          ? Effect.succeed(couch)
          : spec.kind === "file"
            ? Effect.promise(() => fileStore(spec.dir))
            : spec.kind === "ndjson"
              ? Effect.promise(() => ndjsonStore(spec.file))
              : Effect.promise(() => couchbackupStore(spec.file, mode ?? "read")),
  }
}
