import { type Effect, type Option, Schema } from "effect"
import { ArchiveFileError } from "./cleanup/archive-file.ts"
import { BadInputFile, CouchNeedsAdmin } from "./couch/admin-errors.ts"
import {
  CouchBadRequest,
  CouchConflict,
  type CouchError,
  CouchForbidden,
  CouchNotFound,
  CouchProtocolError,
  CouchUnauthorized,
  CouchUnavailable,
  isRetryable as couchRetryable,
} from "./couch/errors.ts"
import {
  DocConflict,
  DocNotFound,
  type DocsError,
  InvalidCollection,
  InvalidDocument,
  StoreUnavailable,
  isRetryable as storeRetryable,
} from "./docs/errors.ts"
import {
  PgAuthError,
  PgConflict,
  PgConnectError,
  type PgError,
  PgLockTimeout,
  PgMissingObject,
  PgPermissionError,
  PgProtocolError,
  PgQueryError,
  PgStatementTimeout,
  isRetryable as pgRetryable,
} from "./pg/errors.ts"
import { LeaseStoreError } from "./purge/lease-errors.ts"
import { ConfigError, JobFailed } from "./shared/errors.ts"
import { UntrustedCertificate } from "./shared/tls.ts"

/**
 * What an error means to a user, decided in one table above the jobs: exit code, HTTP status, and
 * whether it stops a schedule. Whether it is worth retrying is judged where it is made (the
 * clients' and the stores' error modules) and only read here.
 */

/** Errors only the HTTP mode meets, one per answer a caller can act on. */

/** No token, or the wrong one, on a route that needs it. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  reason: Schema.String,
}) {
  override get message() {
    return `${this.reason}: send Authorization: Bearer <token> (the server's DBSWEEP_TOKEN)`
  }
}

/** Status and metrics asked for from another host while the server keeps them to loopback. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {}) {
  override get message() {
    return "status and metrics are readable from this host only: start the server with --public-status, or send the token"
  }
}

/** No run, schedule or route by that name. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  what: Schema.String,
}) {
  override get message() {
    return `${this.what} not found`
  }
}

/** A run of the same job and target is already going. */
export class JobConflict extends Schema.TaggedError<JobConflict>()("JobConflict", {
  job: Schema.String,
  target: Schema.String,
  runningId: Schema.String,
}) {
  override get message() {
    return `${this.job} of ${this.target} is already running as ${this.runningId}: watch it at /jobs/${this.runningId} or cancel it first`
  }
}

/** A job whose backend the server was not configured with. */
export class JobUnavailable extends Schema.TaggedError<JobUnavailable>()("JobUnavailable", {
  job: Schema.String,
  needs: Schema.String,
}) {
  override get message() {
    return `${this.job} is not available on this server: ${this.needs}`
  }
}

/** A body that is not JSON, or larger than the server takes. */
export class BadBody extends Schema.TaggedError<BadBody>()("BadBody", {
  reason: Schema.String,
  tooLarge: Schema.Boolean,
}) {
  override get message() {
    return this.reason
  }
}

export type HttpError = Unauthorized | Forbidden | NotFound | JobConflict | JobUnavailable | BadBody

/** Every error a job or a client can end in: what the CLI, the runner and the HTTP mode must judge. */
export type AppError =
  | CouchError
  | PgError
  | ConfigError
  | JobFailed
  | ArchiveFileError
  | DocsError
  | CouchNeedsAdmin
  | BadInputFile
  | LeaseStoreError
  | HttpError

/** dbsweep's exit codes: the contract with scripts and schedulers. */
export const ExitCode = {
  ok: 0,
  failures: 1,
  usage: 2,
  connect: 3,
  interrupted: 130,
} as const

/** What an error means, decided once. */
export interface Meaning {
  /** Worth another attempt of the same request (under the retry policy): the client's judgement. */
  readonly retryable: boolean
  /**
   * No later run of a schedule can succeed until someone changes the configuration: the schedule
   * stops and reports instead of trying again (a wrong password retried every hour would lock
   * the account out of CouchDB).
   */
  readonly stopsSchedule: boolean
  readonly exitCode: number
  /** The status the HTTP mode answers with. Upstream refusals are 502: the caller's request was fine. */
  readonly httpStatus: number
}

/** A row of the table: everything but `retryable`, which the error's own module judges. */
type Row = Omit<Meaning, "retryable">

const meaning = (stopsSchedule: boolean, exitCode: number, httpStatus: number): Row => ({
  stopsSchedule,
  exitCode,
  httpStatus,
})

type Rule<K extends AppError["_tag"]> = Row | ((error: Extract<AppError, { readonly _tag: K }>) => Row)

/**
 * The one table. It must name every tag of `AppError`: a new error without a row fails to compile.
 * Settings are refused before any work (2); a server that cannot be reached or refuses the login is
 * 3; a run that ended with some work failed is 1.
 */
export const meanings = {
  BadConfig: meaning(true, ExitCode.usage, 400),
  JobFailed: meaning(false, ExitCode.failures, 500),
  ArchiveFileError: meaning(true, ExitCode.failures, 500),
  CouchUnauthorized: meaning(true, ExitCode.connect, 502),
  CouchForbidden: meaning(true, ExitCode.connect, 502),
  CouchNotFound: meaning(true, ExitCode.usage, 404),
  CouchBadRequest: meaning(false, ExitCode.failures, 400),
  CouchConflict: meaning(false, ExitCode.failures, 409),
  // Never reached the server at all: a connection problem (3); a 5xx/429 after every retry is a
  // server failing under load (1).
  CouchUnavailable: (e) => meaning(false, e.kind === "status" ? ExitCode.failures : ExitCode.connect, 503),
  CouchProtocolError: meaning(false, ExitCode.connect, 502),
  // A TLS certificate this machine does not trust: refused again on every try, so never retried,
  // and no later run of a schedule gets past it until its CA is trusted.
  UntrustedCertificate: meaning(true, ExitCode.connect, 502),
  PgConnectError: meaning(false, ExitCode.connect, 503),
  PgAuthError: meaning(true, ExitCode.connect, 502),
  // Something else answers at the PostgreSQL address (an HTTP server, another service).
  PgProtocolError: meaning(true, ExitCode.connect, 502),
  PgMissingObject: meaning(true, ExitCode.usage, 400),
  PgPermissionError: meaning(true, ExitCode.usage, 502),
  PgLockTimeout: meaning(false, ExitCode.failures, 503),
  PgStatementTimeout: meaning(false, ExitCode.failures, 504),
  PgConflict: meaning(false, ExitCode.failures, 409),
  PgQueryError: meaning(false, ExitCode.failures, 500),
  DocNotFound: meaning(false, ExitCode.usage, 404),
  DocConflict: meaning(false, ExitCode.failures, 409),
  InvalidCollection: meaning(true, ExitCode.usage, 400),
  InvalidDocument: meaning(false, ExitCode.usage, 400),
  CouchNeedsAdmin: meaning(true, ExitCode.connect, 502),
  BadInputFile: meaning(true, ExitCode.usage, 400),
  // The lease database refused to this account is an access problem (3) no later run gets past;
  // a server failing on one database's lease is that database's failure (1).
  LeaseStoreError: (e) => meaning(e.refused, e.refused ? ExitCode.connect : ExitCode.failures, 502),
  // A server that may come back is a connection problem (3); a file that cannot be read or is
  // damaged is the user's to fix (2).
  StoreUnavailable: (e) => meaning(false, e.retryable ? ExitCode.connect : ExitCode.usage, 503),
  // The HTTP mode's own answers (never reached by a job: the CLI's codes are for completeness).
  Unauthorized: meaning(false, ExitCode.usage, 401),
  Forbidden: meaning(false, ExitCode.usage, 403),
  NotFound: meaning(false, ExitCode.usage, 404),
  JobConflict: meaning(false, ExitCode.usage, 409),
  JobUnavailable: meaning(true, ExitCode.usage, 503),
  BadBody: (e) => meaning(false, ExitCode.usage, e.tooLarge ? 413 : 400),
} satisfies { readonly [K in AppError["_tag"]]: Rule<K> }

const unknownError: Meaning = { retryable: false, ...meaning(false, ExitCode.failures, 500) }

/** Whether `error` is worth another attempt, as the module that made it judges. */
const retryableOf = (error: AppError): boolean =>
  couchRetryable(error) || pgRetryable(error) || storeRetryable(error)

/** What `error` means. */
export const classify = (error: AppError): Meaning => {
  const rule = meanings[error._tag] as Rule<AppError["_tag"]>
  const row = typeof rule === "function" ? (rule as (e: AppError) => Row)(error) : rule
  return { retryable: retryableOf(error), ...row }
}

const isAppError = (error: unknown): error is AppError =>
  typeof error === "object" &&
  error !== null &&
  "_tag" in error &&
  typeof error._tag === "string" &&
  Object.hasOwn(meanings, error._tag)

/** What any failure means; anything that is not one of dbsweep's errors is a plain failure (1). */
export const classifyUnknown = (error: unknown): Meaning =>
  isAppError(error) ? classify(error) : unknownError

/**
 * The runner's judge for schedules (given to `JobRunner.layer`): an error no later run can fix
 * stops its schedule.
 */
export const stopsSchedule = (error: { readonly _tag: string }): boolean =>
  classifyUnknown(error).stopsSchedule

/**
 * Every error a job or a client can end in, as one Schema: a run on a job worker sends its error
 * across encoded with it, and the main thread decodes the same tagged error back.
 */
export const AppErrorSchema = Schema.Union(
  ConfigError,
  JobFailed,
  ArchiveFileError,
  CouchUnauthorized,
  CouchForbidden,
  CouchNotFound,
  CouchBadRequest,
  CouchConflict,
  CouchUnavailable,
  CouchProtocolError,
  UntrustedCertificate,
  PgConnectError,
  PgProtocolError,
  PgAuthError,
  PgMissingObject,
  PgPermissionError,
  PgLockTimeout,
  PgStatementTimeout,
  PgConflict,
  PgQueryError,
  DocNotFound,
  DocConflict,
  InvalidCollection,
  InvalidDocument,
  StoreUnavailable,
  CouchNeedsAdmin,
  BadInputFile,
  LeaseStoreError,
  Unauthorized,
  Forbidden,
  NotFound,
  JobConflict,
  JobUnavailable,
  BadBody,
)

/** The Schema names exactly the errors of `AppError`: one added to either fails to compile. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const schemaCoversAppError: Same<typeof AppErrorSchema.Type, AppError> = true
void schemaCoversAppError

/** One of dbsweep's errors as plain data (structured-clone safe), or none for anything else. */
export const encodeAppError = (error: unknown): Option.Option<unknown> =>
  Schema.encodeUnknownOption(AppErrorSchema)(error)

/** The tagged error back from `encodeAppError`'s data. */
export const decodeAppError = (encoded: unknown): Effect.Effect<AppError, unknown> =>
  Schema.decodeUnknown(AppErrorSchema)(encoded)
