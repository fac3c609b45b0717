import { Effect } from "effect"
import type { Context, MiddlewareHandler } from "hono"
import { bodyLimit } from "hono/body-limit"
import { BadBody } from "../errors.ts"
import { errorResponse, type HttpEnv, type HttpSettings } from "./respond.ts"

/** Refuses a body over the limit with 413 (also a chunked one, counted as it arrives). */
export const limitBody = (settings: HttpSettings): MiddlewareHandler<HttpEnv> =>
  bodyLimit({
    maxSize: settings.maxBodyBytes,
    onError: (c) =>
      errorResponse(
        c,
        new BadBody({ reason: `the body is larger than ${settings.maxBodyBytes} bytes`, tooLarge: true }),
      ),
  })

/**
 * The body as JSON (an empty body is `{}`: every option has a default). Only `application/json`
 * is taken: a form or text/plain post from another site's page is refused.
 */
export const jsonBody = (c: Context<HttpEnv>): Effect.Effect<unknown, BadBody> =>
  Effect.gen(function* () {
    const text = yield* Effect.promise(() => c.req.text())
    if (text.trim() === "") return {}
    const type = c.req.header("content-type") ?? ""
    if (!/^application\/json\b/i.test(type)) {
      return yield* new BadBody({
        reason: "send the body as Content-Type: application/json",
        tooLarge: false,
      })
    }
    return yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (e) =>
        new BadBody({ reason: `the body is not JSON: ${String(e).split("\n")[0]}`, tooLarge: false }),
    })
  })
