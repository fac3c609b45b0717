import { Context, Effect } from "effect"

/** A request handler as every runtime's server calls it, told the peer's address when asked. */
export type FetchHandler = (
  request: Request,
  remoteAddress: () => string | undefined,
) => Response | Promise<Response>

/** A server that is listening: its base URL (no trailing slash) and how to stop it. */
export interface Listening {
  readonly url: string
  /** Stops accepting and closes open connections (event streams never end on their own). */
  readonly close: () => Promise<void>
}

/**
 * Starts an HTTP server: the one runtime-specific part of the HTTP mode. Each entry point gives its
 * own: `Bun.serve` (main.ts), `Deno.serve` (deno.ts), `@hono/node-server` (node.ts). Throws (or
 * rejects) when it cannot listen.
 */
export type Listen = (
  handler: FetchHandler,
  options: { readonly hostname: string; readonly port: number },
) => Listening | Promise<Listening>

/** The entry point's `Listen`, for `dbsweep serve`. */
export class Listener extends Context.Tag("dbsweep/Listener")<Listener, Listen>() {}

/** Serves `handler` until the scope closes. */
export const listenScoped = (listen: Listen, handler: FetchHandler, hostname: string, port: number) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: async () => listen(handler, { hostname, port }), catch: (e) => e }),
    (server) => Effect.promise(() => server.close()),
  )

/**
 * Starts a job worker (src/http/job-worker.ts) as a Web Worker: given by the entry points that can
 * (Bun's, whose binary carries the worker). Without it, `dbsweep serve` runs jobs in its own thread.
 */
export class JobWorkers extends Context.Tag("dbsweep/JobWorkers")<JobWorkers, () => Worker>() {}
