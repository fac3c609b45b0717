import { Schema } from "effect"
import type { UntrustedCertificate } from "../shared/tls.ts"

/**
 * Errors a CouchDB request can end in, one per thing a user can act on. `server` is the base URL
 * with any credentials removed; no field ever holds a password.
 */
export class CouchUnauthorized extends Schema.TaggedError<CouchUnauthorized>()("CouchUnauthorized", {
  server: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    // CouchDB answers 401 "You are not a server admin." to a valid non-admin user on admin-only
    // endpoints such as _purge (apache/couchdb#1877), not 403.
    return /not a server admin/i.test(this.reason)
      ? `CouchDB at ${this.server} refused ${this.operation} (401 ${this.reason}): this needs a CouchDB server admin: use an admin account in COUCHDB_USER`
      : `CouchDB at ${this.server} rejected the credentials (401 ${this.reason}): check COUCHDB_USER and COUCHDB_PASSWORD (or --user / COUCHDB_PASSWORD_FILE)`
  }
}

export class CouchForbidden extends Schema.TaggedError<CouchForbidden>()("CouchForbidden", {
  server: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    // Since CouchDB 3.4, after 5 failed logins from one address the account is locked for about
    // 5 minutes, and even the right password gets this 403 meanwhile (COUCHDB-FACTS §11).
    if (/temporarily locked/i.test(this.reason)) {
      return `CouchDB at ${this.server} has locked the account for a while after repeated failed logins (403 ${this.reason}): fix the password in COUCHDB_PASSWORD (or COUCHDB_PASSWORD_FILE), then wait about 5 minutes before trying again`
    }
    const hint = this.operation.includes("_purge")
      ? "_purge needs a CouchDB server admin: use an admin account"
      : "use an account with access to it"
    return `CouchDB at ${this.server} refused ${this.operation} (403 ${this.reason}): ${hint}`
  }
}

/** CouchDB's 404 reason when the database itself is missing, not a document in it. */
export const noDatabase = "Database does not exist"

/** A 404 saying the database does not exist (a missing document says "missing" or "deleted"). */
export const isDbMissing = (error: { readonly _tag: string }): boolean =>
  error._tag === "CouchNotFound" && (error as CouchNotFound).reason.includes(noDatabase)

/** A 412 to `PUT /{db}`: the database exists already (another creator was first), as good as created. */
export const isDbExisting = (error: { readonly _tag: string }): boolean =>
  error._tag === "CouchProtocolError" && (error as CouchProtocolError).reason.startsWith("HTTP 412")

export class CouchNotFound extends Schema.TaggedError<CouchNotFound>()("CouchNotFound", {
  server: Schema.String,
  database: Schema.optional(Schema.String),
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return this.database !== undefined && isDbMissing(this)
      ? `database "${this.database}" does not exist on ${this.server}: check --db / COUCHDB_DB_NAME (GET /_all_dbs lists the databases)`
      : `${this.path} not found on ${this.server} (404 ${this.reason})`
  }
}

export class CouchBadRequest extends Schema.TaggedError<CouchBadRequest>()("CouchBadRequest", {
  server: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `CouchDB at ${this.server} rejected ${this.operation} as a bad request (400 ${this.reason})`
  }
}

export class CouchConflict extends Schema.TaggedError<CouchConflict>()("CouchConflict", {
  server: Schema.String,
  path: Schema.String,
}) {
  override get message() {
    return `conflict writing ${this.path} on ${this.server} (409): the document changed meanwhile; run again`
  }
}

/** Network failure, timeout, 5xx or 429: the only kind worth retrying. */
export class CouchUnavailable extends Schema.TaggedError<CouchUnavailable>()("CouchUnavailable", {
  server: Schema.String,
  operation: Schema.String,
  kind: Schema.Literal("network", "timeout", "status"),
  status: Schema.optional(Schema.Number),
  reason: Schema.String,
}) {
  override get message() {
    switch (this.kind) {
      case "network":
        return `cannot reach CouchDB at ${this.server} (${this.reason}): is the server running and COUCHDB_URL right?`
      case "timeout":
        return `CouchDB at ${this.server} did not answer ${this.operation} in time: check the server's load or raise --timeout`
      default:
        return `CouchDB at ${this.server} failed ${this.operation} (${this.status} ${this.reason}): try again later`
    }
  }
}

/** The server answered something that is not the JSON CouchDB sends. */
export class CouchProtocolError extends Schema.TaggedError<CouchProtocolError>()("CouchProtocolError", {
  server: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `unexpected answer from ${this.server} to ${this.operation}: ${this.reason}; is COUCHDB_URL a CouchDB server?`
  }
}

export type CouchError =
  | CouchUnauthorized
  | CouchForbidden
  | CouchNotFound
  | CouchBadRequest
  | CouchConflict
  | CouchUnavailable
  | CouchProtocolError
  | UntrustedCertificate

/**
 * Whether a failed CouchDB request is worth another attempt under the retry policy: only a network
 * failure, a timeout, a 5xx or a 429 (`CouchUnavailable`) can pass by waiting.
 */
export const isRetryable = (error: { readonly _tag: string }): boolean => error._tag === "CouchUnavailable"

/**
 * Whether every other database of the server would fail the same way: the credentials refused, an
 * account locked, a server not reached, a certificate not trusted. A run over many databases stops
 * on one of these (one line, exit 3) instead of failing each database in turn; anything else (a
 * 500, a database gone, a database refused to this account) is that database's own failure.
 */
export const concernsServer = (error: CouchError): boolean => {
  switch (error._tag) {
    case "CouchUnauthorized":
    case "UntrustedCertificate":
      return true
    case "CouchForbidden":
      return /temporarily locked/i.test(error.reason)
    case "CouchUnavailable":
      return error.kind === "network"
    default:
      return false
  }
}
