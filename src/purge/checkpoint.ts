import { Context, type Effect, type Option } from "effect"
import type { CouchError } from "../couch/errors.ts"
import type { ConfigError } from "../shared/errors.ts"
import type { Observation } from "./grace.ts"
import type { LeaseLost } from "./lease-errors.ts"

/**
 * Where purge remembers the last seq it fully handled, per database. Seqs are opaque: stored and
 * given back exactly as CouchDB sent them.
 */
export interface CheckpointStoreShape {
  /** Human-readable location, for logs and the summary. */
  readonly describe: (db: string) => string
  /**
   * Fails (a ConfigError, exit 2) when the checkpoint could not be saved, checked before anything
   * is purged: a purge is irreversible, and a checkpoint that cannot be kept would repeat it blind.
   */
  readonly check: (db: string) => Effect.Effect<void, CouchError | ConfigError>
  readonly load: (db: string) => Effect.Effect<Option.Option<string>, CouchError | ConfigError>
  /** Fails with LeaseLost when this purger no longer holds the database's lease (lease.ts). */
  readonly save: (db: string, seq: string) => Effect.Effect<void, CouchError | ConfigError | LeaseLost>
  /**
   * `--grace`'s history of (time, update_seq) observations kept beside the checkpoint; absent on
   * a store that cannot keep one (a checkpoint file holds the bare seq).
   */
  readonly observations?: {
    readonly load: (db: string) => Effect.Effect<ReadonlyArray<Observation>, CouchError | ConfigError>
    /** Adds one (thinned to a bounded history); never changes the checkpoint the store holds. */
    readonly record: (db: string, observation: Observation) => Effect.Effect<void, CouchError | ConfigError>
  }
}

export class CheckpointStore extends Context.Tag("dbsweep/CheckpointStore")<
  CheckpointStore,
  CheckpointStoreShape
>() {}
