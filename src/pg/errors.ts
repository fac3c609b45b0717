import { Predicate, Schema } from "effect"

/**
 * Errors a PostgreSQL operation can end in, one per thing a user can act on. `target` is
 * `user@host:port/database`: it never holds a password.
 */
export class PgConnectError extends Schema.TaggedError<PgConnectError>()("PgConnectError", {
  target: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `cannot connect to PostgreSQL at ${this.target} (${this.reason}): is the server running, and are DATABASE_URL (or PGHOST/PGPORT/PGDATABASE) right?`
  }
}

/**
 * Something answers at the address, but not as PostgreSQL (an HTTP server, another service on the
 * port). Not retried: no later attempt will make it speak the protocol.
 */
export class PgProtocolError extends Schema.TaggedError<PgProtocolError>()("PgProtocolError", {
  target: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.target} did not answer as PostgreSQL (${this.reason}): check the host and port in DATABASE_URL (or PGHOST/PGPORT)`
  }
}

export class PgAuthError extends Schema.TaggedError<PgAuthError>()("PgAuthError", {
  target: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `PostgreSQL at ${this.target} refused the login (${this.reason}): check the user and password in DATABASE_URL (or PGUSER/PGPASSWORD)`
  }
}

/** A table, column or schema named by the configuration does not exist. */
export class PgMissingObject extends Schema.TaggedError<PgMissingObject>()("PgMissingObject", {
  target: Schema.String,
  kind: Schema.Literal("database", "schema", "table", "column", "primary key"),
  name: Schema.String,
  /** The flag or variable that names it. */
  setting: Schema.String,
}) {
  override get message() {
    switch (this.kind) {
      case "primary key":
        return `table ${this.name} in ${this.target} has no single-column primary key, which dbsweep needs to report what it deletes: add one or pick another table (${this.setting})`
      case "database":
        return `PostgreSQL at ${this.target} says: ${this.name}: check ${this.setting}`
      default:
        return `${this.kind} ${this.name} does not exist in ${this.target}: check ${this.setting}`
    }
  }
}

export class PgPermissionError extends Schema.TaggedError<PgPermissionError>()("PgPermissionError", {
  target: Schema.String,
  privilege: Schema.String,
  name: Schema.String,
  user: Schema.String,
}) {
  override get message() {
    return `user "${this.user}" may not ${this.privilege} ${this.name} on ${this.target}: GRANT ${this.privilege} ON ${this.name} TO "${this.user}" or use another user`
  }
}

export class PgLockTimeout extends Schema.TaggedError<PgLockTimeout>()("PgLockTimeout", {
  operation: Schema.String,
}) {
  override get message() {
    return `${this.operation} waited too long for a lock (lock_timeout): another session holds the table; try again or raise --lock-timeout`
  }
}

export class PgStatementTimeout extends Schema.TaggedError<PgStatementTimeout>()("PgStatementTimeout", {
  operation: Schema.String,
}) {
  override get message() {
    return `${this.operation} ran past statement_timeout: lower --batch or raise --statement-timeout`
  }
}

/** Serialization failure or deadlock: the transaction lost a race and can simply run again. */
export class PgConflict extends Schema.TaggedError<PgConflict>()("PgConflict", {
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.operation} lost a race with another transaction (${this.reason}): run again`
  }
}

/** Any other failure the server reported. */
export class PgQueryError extends Schema.TaggedError<PgQueryError>()("PgQueryError", {
  operation: Schema.String,
  code: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.operation} failed (${this.code} ${this.reason})`
  }
}

export type PgError =
  | PgConnectError
  | PgProtocolError
  | PgAuthError
  | PgMissingObject
  | PgPermissionError
  | PgLockTimeout
  | PgStatementTimeout
  | PgConflict
  | PgQueryError

const codeOf = (cause: unknown): string =>
  Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : ""

const reasonOf = (cause: unknown): string => {
  const text = cause instanceof Error ? cause.message : String(cause)
  // Driver messages start with "write CONNECTION_CLOSED host:port"; keep the line short and single.
  return text.split("\n")[0]!.replace(/^write /, "")
}

/** Driver-side codes that mean the connection is gone or never came up. */
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  // a unix socket that is not there, or not ours to open
  "ENOENT",
  "EACCES",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ConnectionRefused",
  "ConnectionClosed",
])

/** Maps whatever the driver threw to a PgError; `operation` says what we were doing. */
export const fromDriver = (cause: unknown, target: string, operation: string): PgError => {
  const code = codeOf(cause)
  const reason = reasonOf(cause)
  if (connectionCodes.has(code)) return new PgConnectError({ target, reason })
  // 08: connection exception; 57P01-03: the server shut the session down or is starting/stopping;
  // 53300: too many connections.
  if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300") {
    return new PgConnectError({ target, reason })
  }
  if (code === "28P01" || code === "28000" || code === "SASL_SIGNATURE_MISMATCH") {
    return new PgAuthError({ target, reason })
  }
  if (code === "3D000") {
    return new PgMissingObject({
      target,
      kind: "database",
      name: reason,
      setting: "DATABASE_URL or PGDATABASE",
    })
  }
  if (code === "55P03") return new PgLockTimeout({ operation })
  if (code === "57014") return new PgStatementTimeout({ operation })
  if (code === "40001" || code === "40P01") return new PgConflict({ operation, reason })
  return new PgQueryError({ operation, code: code === "" ? "error" : code, reason })
}

const retryableTags: ReadonlySet<string> = new Set([
  "PgConnectError",
  "PgLockTimeout",
  "PgStatementTimeout",
  "PgConflict",
])

/**
 * Whether a failed PostgreSQL operation is worth another attempt under the retry policy: a server
 * not reachable yet, a lock or statement timeout, a serialization conflict. A refused login, a
 * missing table or a query error stays what it is however often it is sent.
 */
export const isRetryable = (error: { readonly _tag: string }): boolean => retryableTags.has(error._tag)
