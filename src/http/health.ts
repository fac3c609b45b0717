import { Effect } from "effect"
import { Hono } from "hono"
import { ServeServices } from "../app.ts"
import { JobRunner } from "../jobs/runner.ts"
import { prometheusText } from "../shared/metrics.ts"
import { requireStatusAccess } from "./auth.ts"
import type { HttpEnv, HttpSettings, ServeRuntime } from "./respond.ts"
import { respond } from "./respond.ts"

/** Every configured backend answers; 503 (listing which does not) otherwise. */
export const readiness = Effect.fn("Http.readiness")(function* () {
  const services = yield* ServeServices
  const backends = yield* services.ready
  return { ready: backends.every((b) => b.ok), backends }
})

/** `/healthz`, `/readyz` (probes: open to all), `/metrics` and `/schedules` (status access). */
export const healthRoutes = (runtime: ServeRuntime, settings: HttpSettings) =>
  new Hono<HttpEnv>()
    // Answers without touching the runtime: a liveness probe must not wait behind anything.
    .get("/healthz", (c) => c.json({ ok: true }))
    .get("/readyz", async (c) => {
      const r = await runtime.runPromise(readiness())
      return c.json(r, r.ready ? 200 : 503)
    })
    .get("/metrics", requireStatusAccess(settings), async (c) =>
      c.text(await runtime.runPromise(prometheusText), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      }),
    )
    .get("/schedules", requireStatusAccess(settings), (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(JobRunner, (r) => r.schedules),
      ),
    )
