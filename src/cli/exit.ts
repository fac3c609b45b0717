import { HelpDoc, ValidationError } from "@effect/cli"
import { Cause, ConfigError, Context, type Effect, Exit, Predicate } from "effect"
import { classifyUnknown, ExitCode } from "../errors.ts"
import { stripAnsi } from "./console.ts"

export { ExitCode }

/**
 * Lets a command say that an interrupt (SIGINT/SIGTERM) is its normal way to stop: a daemon ends
 * its schedule after the current batch and exits 0, where a single run would exit 130.
 */
export class CleanStop extends Context.Tag("dbsweep/CleanStop")<
  CleanStop,
  { readonly declare: Effect.Effect<void> }
>() {}

/** The exit code of a failure: the parser's and Config's are usage errors; the rest per the one table. */
const codeOf = (error: unknown): number => {
  if (ValidationError.isValidationError(error) || ConfigError.isConfigError(error)) return ExitCode.usage
  return classifyUnknown(error).exitCode
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
  /** A line for stderr; absent when there is nothing to say. */
  readonly line: string | undefined
}

/**
 * The parser's message on one line. "Received unknown argument" also covers a flag given twice or
 * without its value (the parser takes the first and leaves the rest over): say which it was.
 */
export const usageLine = (error: ValidationError.ValidationError, argv: ReadonlyArray<string>): string => {
  const text = stripAnsi(HelpDoc.toAnsiText(error.error))
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ")
  const unknown = /^Received unknown argument: '(.*)'$/s.exec(text)
  if (unknown === null) return text
  const arg = unknown[1]!
  if (!arg.startsWith("--")) {
    return `unexpected argument ${JSON.stringify(arg)}: see --help for the flags (a value with spaces needs quotes)`
  }
  const flag = arg.split("=")[0]!
  const uses = argv.filter((a) => a === flag || a.startsWith(`${flag}=`)).length
  if (uses > 1) return `${flag} is given ${uses} times: give it once`
  const at = argv.indexOf(flag)
  const next = argv[at + 1]
  if (at >= 0 && (next === undefined || next.startsWith("--"))) {
    return `${flag} needs a value (e.g. ${flag} VALUE), or it is not a flag of this command: see --help`
  }
  return `unknown flag ${flag}: see --help for the flags of this command`
}

/** Maps the end of the program to an exit code and the line to print. */
export const outcomeOf = (
  exit: Exit.Exit<unknown, unknown>,
  argv: ReadonlyArray<string> = [],
  cleanStop = false,
): Outcome => {
  if (Exit.isSuccess(exit))
    return { code: typeof exit.value === "number" ? exit.value : ExitCode.ok, line: undefined }
  const cause = exit.cause
  if (Cause.isInterruptedOnly(cause)) {
    return cleanStop
      ? { code: ExitCode.ok, line: undefined }
      : { code: ExitCode.interrupted, line: "dbsweep: interrupted" }
  }
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (ValidationError.isValidationError(error)) {
      return { code: ExitCode.usage, line: `dbsweep: ${usageLine(error, argv)}` }
    }
    return { code: codeOf(error), line: `dbsweep: ${messageOf(error)}` }
  }
  const defect = Cause.squash(cause)
  return { code: ExitCode.failures, line: `dbsweep: internal error: ${messageOf(defect)} (please report it)` }
}
