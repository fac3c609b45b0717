import { Data, Schema } from "effect"
import { leasesDb } from "./lease-doc.ts"

/**
 * The lease database could not be used: created, read or written. `refused` when CouchDB said no
 * to this account (403), which every other database of the run would meet too; otherwise the
 * server failed (5xx after the retries, an answer that is not CouchDB's) on this database's lease.
 */
export class LeaseStoreError extends Schema.TaggedError<LeaseStoreError>()("LeaseStoreError", {
  server: Schema.String,
  /** The database whose lease was being taken or kept. */
  db: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
  refused: Schema.Boolean,
}) {
  override get message() {
    const where = `${this.server}/${leasesDb}`
    return this.refused
      ? `cannot take the purge lease of ${this.db}: CouchDB refused ${this.operation} (${this.reason}): the purge account must be able to create and write the ${leasesDb} database (a server admin can; or create it once with PUT ${where} and give the account access)`
      : `cannot take the purge lease of ${this.db} in ${where}: ${this.operation} failed (${this.reason}): try again later`
  }
}

/**
 * This purger no longer holds the database's lease (another purger took it, or it could not be
 * renewed in time): it must not write the checkpoint any more. Raised by the guarded checkpoint
 * store and recorded by the run as why its checkpoint stayed where it was; it never reaches a user
 * as an error (the run's summary says the lease was lost), so it has no row in the error table.
 */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{
  readonly db: string
  readonly reason: string
}> {
  override get message() {
    return `the lease on ${this.db} was lost (${this.reason}), so its checkpoint is left to the new holder`
  }
}
