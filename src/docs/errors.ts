import { Schema } from "effect"
import { databaseNameRule } from "../couch/names.ts"

/** Errors a document store ends in, one per thing a user can act on; in the one error table. */
export class DocNotFound extends Schema.TaggedError<DocNotFound>()("DocNotFound", {
  store: Schema.String,
  collection: Schema.String,
  id: Schema.optional(Schema.String),
}) {
  override get message() {
    return this.id === undefined
      ? `collection "${this.collection}" does not exist in ${this.store}`
      : `document "${this.id}" not found in collection "${this.collection}" of ${this.store}`
  }
}

/** A save that still conflicted after its retries: someone else keeps changing the document. */
export class DocConflict extends Schema.TaggedError<DocConflict>()("DocConflict", {
  store: Schema.String,
  collection: Schema.String,
  id: Schema.String,
  attempts: Schema.Number,
  /** From the first attempt to the last. */
  seconds: Schema.Number,
}) {
  override get message() {
    return `document "${this.id}" in "${this.collection}" kept changing while it was saved (${this.attempts} attempts over ${this.seconds.toFixed(1)} s, ${this.store}): try again`
  }
}

/** A collection name the store (CouchDB's rule, for every adapter) does not accept. */
export class InvalidCollection extends Schema.TaggedError<InvalidCollection>()("InvalidCollection", {
  collection: Schema.String,
}) {
  override get message() {
    return `${JSON.stringify(this.collection)} is not a valid collection name: ${databaseNameRule}`
  }
}

/** A document body that is not a JSON object, or an id the store refuses. */
export class InvalidDocument extends Schema.TaggedError<InvalidDocument>()("InvalidDocument", {
  collection: Schema.String,
  id: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `document "${this.id}" for "${this.collection}" was refused: ${this.reason}`
  }
}

/** The store cannot be read or written (a file, a server): retried under the policy when it can pass. */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  store: Schema.String,
  reason: Schema.String,
  retryable: Schema.Boolean,
}) {
  override get message() {
    return `${this.store} cannot be used (${this.reason}): check it and try again`
  }
}

export type DocsError = DocNotFound | DocConflict | InvalidCollection | InvalidDocument | StoreUnavailable

/** Whether a store's failure can pass by trying again: a `StoreUnavailable` that says so. */
export const isRetryable = (error: { readonly _tag: string }): boolean =>
  error._tag === "StoreUnavailable" && "retryable" in error && error.retryable === true
