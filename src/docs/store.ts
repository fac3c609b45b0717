import { Context, type Effect, type Stream } from "effect"
import type { CouchError } from "../couch/errors.ts"
import type { DocsError } from "./errors.ts"

/** A JSON document as stored: `_id` and `_rev` beside the application's fields. */
export type Doc = Readonly<Record<string, unknown>> & { readonly _id: string; readonly _rev?: string }

export interface Saved {
  readonly id: string
  readonly rev: string
}

/** One document's outcome in a bulk save: saved, or why not. */
export type SaveResult =
  | { readonly id: string; readonly ok: true; readonly rev: string }
  | { readonly id: string; readonly ok: false; readonly error: string; readonly reason: string }

export interface ListOptions {
  /** Documents per page read from the store (paged by key, never by skip). */
  readonly pageSize?: number
}

export type StoreError = DocsError | CouchError

/**
 * The document store port: collections of JSON documents with CouchDB's revision semantics. A
 * save without `_rev` updates the current revision (the store looks it up), so the caller never
 * sees a 409 for that; a real conflict is retried and ends as `DocConflict`. Adapters: memory
 * (the default), couchdb, file (NDJSON per collection). Collection names follow CouchDB's rule
 * in every adapter.
 */
export interface DocumentStoreShape {
  /** Where the documents are, safe to print (no credentials). */
  readonly describe: string
  /** A target that records documents with the revisions they carry (a backup file): written replicated. */
  readonly keepsRevisions?: boolean
  readonly save: (
    collection: string,
    id: string,
    doc: Readonly<Record<string, unknown>>,
  ) => Effect.Effect<Saved, StoreError>
  /** Bulk save (the collection is created when missing); one result per document, in order. */
  readonly saveMany: (
    collection: string,
    docs: ReadonlyArray<Doc>,
  ) => Effect.Effect<ReadonlyArray<SaveResult>, StoreError>
  /**
   * Writes documents with the revisions they carry (`_rev`, `_revisions`), as a replication or a
   * couchbackup restore does (CouchDB's `new_edits: false`): nothing is a conflict.
   */
  readonly saveReplicated: (
    collection: string,
    docs: ReadonlyArray<Doc>,
  ) => Effect.Effect<ReadonlyArray<SaveResult>, StoreError>
  readonly get: (collection: string, id: string) => Effect.Effect<Doc, StoreError>
  /**
   * The documents among `ids`, deleted ones as tombstones (`{_id, _rev, _deleted: true}`), missing
   * ones absent; a missing collection is empty.
   */
  readonly getMany: (
    collection: string,
    ids: ReadonlyArray<string>,
  ) => Effect.Effect<ReadonlyMap<string, Doc>, StoreError>
  /** Every document but `_design/` ones, in id order (CouchDB's raw code point order). */
  readonly list: (collection: string, options?: ListOptions) => Stream.Stream<Doc, StoreError>
  readonly delete: (collection: string, id: string) => Effect.Effect<Saved, StoreError>
  readonly collections: Effect.Effect<ReadonlyArray<string>, StoreError>
}

export class DocumentStore extends Context.Tag("dbsweep/DocumentStore")<
  DocumentStore,
  DocumentStoreShape
>() {}
