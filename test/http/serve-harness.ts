import { BunContext } from "@effect/platform-bun"
import { ConfigProvider, Duration, Layer, Logger, LogLevel, ManagedRuntime, Option, Redacted } from "effect"
import { serveApp } from "../../src/app.ts"
import { DocumentStore, type DocumentStoreShape } from "../../src/docs/store.ts"
import { httpApp } from "../../src/http/app.ts"
import type { ServeRuntime } from "../../src/http/respond.ts"
import { defaultRetryPolicy } from "../../src/shared/retry.ts"
import type { CouchTarget } from "../support/couch-target.ts"

export const TOKEN = "test-token-0123456789abcdef"

export interface Serve {
  readonly runtime: ServeRuntime
  /** A request as if from `remote` (loopback unless given). */
  readonly request: (path: string, init?: RequestInit, remote?: string) => Promise<Response>
  /** The same app on a real port (for the browser and SSE), stopped by `close`. */
  readonly listen: () => string
  readonly close: () => Promise<void>
}

import type { StoreSpec } from "../../src/docs/stores.ts"

/** The serve app in this process: purge against `couch` when given, a fake or real store when given. */
export const startServe = async (
  options: {
    couch?: CouchTarget
    store?: DocumentStoreShape
    /** A real store the factory opens (shared with the migrate job), instead of a fake one. */
    storeSpec?: StoreSpec
    /** A PostgreSQL URL: cleanup available. */
    pg?: string
    /** With `pg`: the cleanup history table (as --cleanup-history-table). */
    cleanupHistoryTable?: string
    token?: string | undefined
    publicStatus?: boolean
    maxBodyBytes?: number
  } = {},
): Promise<Serve> => {
  const t = options.couch
  const config = ConfigProvider.fromMap(new Map(t === undefined ? [] : [["COUCHDB_PASSWORD", t.password]]))
  const layer = serveApp({
    couch:
      t === undefined
        ? undefined
        : { url: Option.some(t.url), user: Option.some(t.user), timeout: Duration.seconds(10) },
    pg:
      options.pg === undefined
        ? undefined
        : {
            settings: {
              url: Option.some(Redacted.make(options.pg)),
              host: Option.none(),
              port: Option.none(),
              database: Option.none(),
              user: Option.none(),
              password: Option.none(),
              sslmode: Option.none(),
              connectTimeout: Duration.seconds(10),
              poolSize: 4,
            },
            retry: defaultRetryPolicy,
            historyTable: options.cleanupHistoryTable,
          },
    store: options.store === undefined ? options.storeSpec : Layer.succeed(DocumentStore, options.store),
  }).pipe(
    Layer.provide(
      Layer.mergeAll(
        BunContext.layer,
        Layer.setConfigProvider(config),
        Logger.minimumLogLevel(LogLevel.Error),
      ),
    ),
  )
  const runtime: ServeRuntime = ManagedRuntime.make(layer)
  await runtime.runtime()
  const app = httpApp(runtime, {
    token:
      "token" in options && options.token === undefined ? undefined : Redacted.make(options.token ?? TOKEN),
    publicStatus: options.publicStatus ?? false,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
  })
  let server: ReturnType<typeof Bun.serve> | undefined
  return {
    runtime,
    request: async (path, init, remote = "127.0.0.1") =>
      app.request(path, init, { remoteAddress: () => remote }),
    listen: () => {
      server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        idleTimeout: 0,
        fetch: (r, s) => app.fetch(r, { remoteAddress: () => s.requestIP(r)?.address }),
      })
      return server.url.href.replace(/\/$/, "")
    },
    close: async () => {
      await server?.stop(true)
      await runtime.dispose()
    },
  }
}

export const auth = (token = TOKEN) => ({
  authorization: `Bearer ${token}`,
  "content-type": "application/json",
})

export const post = (s: Serve, path: string, body: unknown, headers: Record<string, string> = auth()) =>
  s.request(path, { method: "POST", headers, body: JSON.stringify(body) })

/** Polls GET /jobs/:id until the run is no longer running. */
export const waitForRun = async (s: Serve, id: string, timeoutMs = 30_000) => {
  const until = Date.now() + timeoutMs
  for (;;) {
    const status = (await (await s.request(`/jobs/${id}`)).json()) as {
      state: string
      summary: Record<string, unknown>
    }
    if (status.state !== "running") return status
    if (Date.now() > until) throw new Error(`run ${id} still running`)
    await Bun.sleep(20)
  }
}
