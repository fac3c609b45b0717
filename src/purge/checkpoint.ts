import { Context, type Effect, type Option } from "effect"
import type { CouchError } from "../couch/errors.ts"
import type { ConfigError } from "../shared/errors.ts"

/**
 * Where purge remembers the last seq it fully handled, per database. Seqs are opaque: stored and
 * given back exactly as CouchDB sent them.
 */
export interface CheckpointStoreShape {
  /** Human-readable location, for logs and the summary. */
  readonly describe: (db: string) => string
  readonly load: (db: string) => Effect.Effect<Option.Option<string>, CouchError | ConfigError>
  readonly save: (db: string, seq: string) => Effect.Effect<void, CouchError | ConfigError>
}

export class CheckpointStore extends Context.Tag("dbsweep/CheckpointStore")<
  CheckpointStore,
  CheckpointStoreShape
>() {}
