import type { ArchiveFileError } from "../cleanup/archive-file.ts"
import type { BadInputFile, CouchNeedsAdmin } from "../couch/admin-errors.ts"
import type { CouchError } from "../couch/errors.ts"
import type { DocsError } from "../docs/errors.ts"
import type { HttpError } from "../http/errors.ts"
import type { PgError } from "../pg/errors.ts"
import type { ConfigError, JobFailed } from "./errors.ts"

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
  /** Worth another attempt of the same request (under the retry policy). */
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

const meaning = (
  retryable: boolean,
  stopsSchedule: boolean,
  exitCode: number,
  httpStatus: number,
): Meaning => ({ retryable, stopsSchedule, exitCode, httpStatus })

type Rule<K extends AppError["_tag"]> =
  | Meaning
  | ((error: Extract<AppError, { readonly _tag: K }>) => Meaning)

/**
 * The one table. It must name every tag of `AppError`: a new error without a row fails to compile.
 * Settings are refused before any work (2); a server that cannot be reached or refuses the login is
 * 3; a run that ended with some work failed is 1.
 */
export const meanings = {
  BadConfig: meaning(false, true, ExitCode.usage, 400),
  JobFailed: meaning(false, false, ExitCode.failures, 500),
  ArchiveFileError: meaning(false, true, ExitCode.failures, 500),
  CouchUnauthorized: meaning(false, true, ExitCode.connect, 502),
  CouchForbidden: meaning(false, true, ExitCode.connect, 502),
  CouchNotFound: meaning(false, true, ExitCode.usage, 404),
  CouchBadRequest: meaning(false, false, ExitCode.failures, 400),
  CouchConflict: meaning(false, false, ExitCode.failures, 409),
  // Never reached the server at all: a connection problem (3); a 5xx/429 after every retry is a
  // server failing under load (1).
  CouchUnavailable: (e) =>
    meaning(true, false, e.kind === "status" ? ExitCode.failures : ExitCode.connect, 503),
  CouchProtocolError: meaning(false, false, ExitCode.connect, 502),
  // It will be refused again: not retried; fixed by trusting its CA (or the right server).
  UntrustedCertificate: meaning(false, true, ExitCode.connect, 502),
  PgConnectError: meaning(true, false, ExitCode.connect, 503),
  PgAuthError: meaning(false, true, ExitCode.connect, 502),
  // Something else answers at the PostgreSQL address (an HTTP server, another service).
  PgProtocolError: meaning(false, true, ExitCode.connect, 502),
  PgMissingObject: meaning(false, true, ExitCode.usage, 400),
  PgPermissionError: meaning(false, true, ExitCode.usage, 502),
  PgLockTimeout: meaning(true, false, ExitCode.failures, 503),
  PgStatementTimeout: meaning(true, false, ExitCode.failures, 504),
  PgConflict: meaning(true, false, ExitCode.failures, 409),
  PgQueryError: meaning(false, false, ExitCode.failures, 500),
  DocNotFound: meaning(false, false, ExitCode.usage, 404),
  DocConflict: meaning(false, false, ExitCode.failures, 409),
  InvalidCollection: meaning(false, true, ExitCode.usage, 400),
  InvalidDocument: meaning(false, false, ExitCode.usage, 400),
  CouchNeedsAdmin: meaning(false, true, ExitCode.connect, 502),
  BadInputFile: meaning(false, true, ExitCode.usage, 400),
  // A server that may come back is a connection problem (3); a file that cannot be read or is
  // damaged is the user's to fix (2).
  StoreUnavailable: (e) => meaning(e.retryable, false, e.retryable ? ExitCode.connect : ExitCode.usage, 503),
  // The HTTP mode's own answers (never reached by a job: the CLI's codes are for completeness).
  Unauthorized: meaning(false, false, ExitCode.usage, 401),
  Forbidden: meaning(false, false, ExitCode.usage, 403),
  NotFound: meaning(false, false, ExitCode.usage, 404),
  JobConflict: meaning(false, false, ExitCode.usage, 409),
  JobUnavailable: meaning(false, true, ExitCode.usage, 503),
  BadBody: (e) => meaning(false, false, ExitCode.usage, e.tooLarge ? 413 : 400),
} satisfies { readonly [K in AppError["_tag"]]: Rule<K> }

const unknownError = meaning(false, false, ExitCode.failures, 500)

/** What `error` means. */
export const classify = (error: AppError): Meaning => {
  const rule = meanings[error._tag] as Rule<AppError["_tag"]>
  return typeof rule === "function" ? (rule as (e: AppError) => Meaning)(error) : rule
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

/** The retry policy's judge: only errors the table calls retryable are tried again. */
export const isRetryable = (error: { readonly _tag: string }): boolean => classifyUnknown(error).retryable
