import { Cause, Effect, Exit, type ManagedRuntime, Option, type Redacted } from "effect"
import type { Context } from "hono"
import type { ContentfulStatusCode } from "hono/utils/http-status"
import type { ServeServices } from "../app.ts"
import { type AppError, classify } from "../errors.ts"
import type { JobRunner } from "../jobs/runner.ts"

/** What every handler's program may use: the runner and what the server was configured with. */
export type Services = JobRunner | ServeServices

/** The app's runtime: built once from the app layer, closed (runs stopped gracefully) at shutdown. */
export type ServeRuntime = ManagedRuntime.ManagedRuntime<Services, AppError>

/** What the Hono app is handed besides the runtime. */
export interface HttpSettings {
  /** The bearer token; undefined when none is configured (then only loopback may change anything). */
  readonly token: Redacted.Redacted<string> | undefined
  /** Status and metrics readable from any host without the token. */
  readonly publicStatus: boolean
  /** Largest request body accepted, in bytes. */
  readonly maxBodyBytes: number
}

/** Where a request came from (the server adapter passes it: Hono has no portable way). */
export interface Bindings {
  /** Asked only by routes that check it: looking the address up costs on every request. */
  readonly remoteAddress?: () => string | undefined
}

export type HttpEnv = { Bindings: Bindings }

export interface ErrorBody {
  readonly error: string
  readonly message: string
}

/** An error as the caller sees it: its tag and its one-line message, the status from the one table. */
export const errorResponse = (c: Context<HttpEnv>, error: AppError) =>
  c.json<ErrorBody>(
    { error: error._tag, message: error.message.split("\n")[0]! },
    classify(error).httpStatus as ContentfulStatusCode,
  )

/**
 * Runs one program through the app runtime and answers with its value as JSON, or its error
 * mapped through `classify`. A defect is logged on the server and answered with a bare 500: its
 * text may hold anything (a stack, a connection string).
 */
export const respond = async <A>(
  runtime: ServeRuntime,
  c: Context<HttpEnv>,
  program: Effect.Effect<A, AppError, Services>,
  status: ContentfulStatusCode = 200,
): Promise<Response> => {
  const exit = await runtime.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return c.json(exit.value, status)
  return Option.match(Cause.failureOption(exit.cause), {
    onSome: (error) => errorResponse(c, error),
    onNone: () => {
      runtime.runFork(Effect.logError("request failed", exit.cause))
      return c.json<ErrorBody>({ error: "InternalError", message: "internal error: see the server log" }, 500)
    },
  })
}
