import { Effect } from "effect"
import { Hono } from "hono"
import { NotFound } from "../errors.ts"
import { docRoutes } from "./docs.ts"
import { healthRoutes } from "./health.ts"
import { jobRoutes } from "./jobs.ts"
import { openApiRoutes } from "./openapi.ts"
import { pageRoutes } from "./page.ts"
import { errorResponse, type HttpEnv, type HttpSettings, type ServeRuntime } from "./respond.ts"

/**
 * The HTTP mode: one Hono app over the app runtime. Each part is its own sub-app; handlers only
 * decode, run one program and answer.
 */
export const httpApp = (runtime: ServeRuntime, settings: HttpSettings) =>
  new Hono<HttpEnv>()
    .route("/", healthRoutes(runtime, settings))
    .route("/", pageRoutes(runtime, settings))
    .route("/", openApiRoutes(settings))
    .route("/jobs", jobRoutes(runtime, settings))
    .route("/docs", docRoutes(runtime, settings))
    .notFound((c) => errorResponse(c, new NotFound({ what: `route ${c.req.method} ${c.req.path}` })))
    // A throw escaping a handler: never its text in the body (it may hold a stack or a secret).
    .onError((error, c) => {
      runtime.runFork(Effect.logError("request failed", error))
      return c.json({ error: "InternalError", message: "internal error: see the server log" }, 500)
    })
