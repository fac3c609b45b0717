import { ValidationError } from "@effect/cli"
import { Cause, Exit, Predicate } from "effect"

/** dbsweep's exit codes: the contract with scripts and schedulers. */
export const ExitCode = {
  ok: 0,
  failures: 1,
  usage: 2,
  connect: 3,
  interrupted: 130,
} as const

/**
 * The one table from an error's tag to an exit code. Errors not named here end with 1.
 * Usage and config mistakes are 2; failing to reach or log in to a server is 3.
 */
const codeByTag: Record<string, number> = {
  BadConfig: ExitCode.usage,
  // effect's own ConfigError (a variable read through Config had the wrong form)
  ConfigError: ExitCode.usage,
  JobFailed: ExitCode.failures,
  CouchUnauthorized: ExitCode.connect,
  CouchForbidden: ExitCode.connect,
  CouchNotFound: ExitCode.usage,
  CouchBadRequest: ExitCode.failures,
  CouchConflict: ExitCode.failures,
  CouchProtocolError: ExitCode.connect,
  PgConnectError: ExitCode.connect,
  PgAuthError: ExitCode.connect,
  // something else answers at the PostgreSQL address (an HTTP server, another service)
  PgProtocolError: ExitCode.connect,
  PgMissingObject: ExitCode.usage,
  PgPermissionError: ExitCode.usage,
}

const codeOf = (error: unknown): number => {
  if (ValidationError.isValidationError(error)) return ExitCode.usage
  if (Predicate.hasProperty(error, "_tag") && typeof error._tag === "string") {
    if (error._tag === "CouchUnavailable") {
      // Never reached the server at all: a connection problem; otherwise it failed under load.
      return Predicate.hasProperty(error, "kind") && error.kind === "status"
        ? ExitCode.failures
        : ExitCode.connect
    }
    return codeByTag[error._tag] ?? ExitCode.failures
  }
  return ExitCode.failures
}

/** One line, no stack: what went wrong and what to do. */
export const messageOf = (error: unknown): string => {
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== "") {
    return error.message.split("\n")[0]!
  }
  return String(error)
}

export interface Outcome {
  readonly code: number
  /** A line for stderr, absent when the error was already shown (as @effect/cli does for usage errors). */
  readonly line: string | undefined
}

/** Maps the end of the program to an exit code and the line to print. */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit))
    return { code: typeof exit.value === "number" ? exit.value : ExitCode.ok, line: undefined }
  const cause = exit.cause
  if (Cause.isInterruptedOnly(cause)) return { code: ExitCode.interrupted, line: "dbsweep: interrupted" }
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (ValidationError.isValidationError(error)) return { code: ExitCode.usage, line: undefined }
    return { code: codeOf(error), line: `dbsweep: ${messageOf(error)}` }
  }
  const defect = Cause.squash(cause)
  return { code: ExitCode.failures, line: `dbsweep: internal error: ${messageOf(defect)} (please report it)` }
}
