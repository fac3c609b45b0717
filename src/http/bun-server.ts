import { Effect } from "effect"
import type { Hono } from "hono"
import type { HttpEnv } from "./respond.ts"

export interface Listening {
  readonly url: string
}

/**
 * Serves `app` with `Bun.serve` until the scope closes: then it stops accepting and closes open
 * connections (event streams never end on their own). The only Bun-specific part of the HTTP mode.
 */
export const serveWithBun = (app: Hono<HttpEnv>, hostname: string, port: number) =>
  Effect.acquireRelease(
    Effect.try({
      try: () =>
        Bun.serve({
          hostname,
          port,
          // Event streams stay open as long as their run goes: no idle cut-off.
          idleTimeout: 0,
          fetch: (request, server) =>
            app.fetch(request, { remoteAddress: () => server.requestIP(request)?.address }),
        }),
      catch: (e) => e,
    }),
    (server) => Effect.promise(() => server.stop(true)),
  ).pipe(Effect.map((server): Listening => ({ url: server.url.href.replace(/\/$/, "") })))
