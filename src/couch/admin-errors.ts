import { Effect, Schema } from "effect"
import {
  CouchBadRequest,
  type CouchError,
  CouchForbidden,
  CouchNotFound,
  CouchProtocolError,
  CouchUnauthorized,
  CouchUnavailable,
} from "./errors.ts"

/**
 * A valid login that is not an admin of what it asked for. CouchDB answers 401 "You are not a
 * server or db admin." for `_compact` (COUCHDB-FACTS §11), which reads like wrong credentials;
 * this says what is really missing.
 */
export class CouchNeedsAdmin extends Schema.TaggedError<CouchNeedsAdmin>()("CouchNeedsAdmin", {
  server: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `CouchDB at ${this.server} refused ${this.operation} (${this.reason}): this needs a server or database admin: use an admin account in COUCHDB_USER`
  }
}

/** A file given to a `couch` command that cannot be used (unreadable, not JSON, not a design doc). */
export class BadInputFile extends Schema.TaggedError<BadInputFile>()("BadInputFile", {
  message: Schema.String,
}) {}

/** Turns the misleading 401 of an admin-only call made by a non-admin into CouchNeedsAdmin. */
export const needsAdmin = <A, R>(
  self: Effect.Effect<A, CouchError, R>,
): Effect.Effect<A, CouchError | CouchNeedsAdmin, R> =>
  Effect.mapError(self, (e): CouchError | CouchNeedsAdmin =>
    e._tag === "CouchUnauthorized" && /not a (server|db)/i.test(e.reason)
      ? new CouchNeedsAdmin({ server: e.server, operation: e.operation, reason: `401 ${e.reason}` })
      : e,
  )

/**
 * The same error with `clean` applied to what the server said: for calls that carry secrets of
 * their own (a replication's endpoint passwords), which the client's redactor does not know.
 */
export const scrubbed =
  (clean: (text: string) => string) =>
  (e: CouchError | CouchNeedsAdmin): CouchError | CouchNeedsAdmin => {
    switch (e._tag) {
      case "CouchUnauthorized":
        return new CouchUnauthorized({ server: e.server, operation: e.operation, reason: clean(e.reason) })
      case "CouchForbidden":
        return new CouchForbidden({ server: e.server, operation: e.operation, reason: clean(e.reason) })
      case "CouchBadRequest":
        return new CouchBadRequest({ server: e.server, operation: e.operation, reason: clean(e.reason) })
      case "CouchProtocolError":
        return new CouchProtocolError({ server: e.server, operation: e.operation, reason: clean(e.reason) })
      case "CouchNeedsAdmin":
        return new CouchNeedsAdmin({ server: e.server, operation: e.operation, reason: clean(e.reason) })
      case "CouchNotFound":
        return new CouchNotFound({
          server: e.server,
          database: e.database,
          path: e.path,
          reason: clean(e.reason),
        })
      case "CouchUnavailable":
        return new CouchUnavailable({
          server: e.server,
          operation: e.operation,
          kind: e.kind,
          status: e.status,
          reason: clean(e.reason),
        })
      case "CouchConflict":
      case "UntrustedCertificate":
        return e
    }
  }
