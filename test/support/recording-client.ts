/**
 * A CouchDB client whose requests pass through a proxy in front of the target that records each
 * one (method, decoded path, query), for tests that check which requests a piece of code made.
 * HTTP only: works against the test server and a real CouchDB alike.
 */
import { Duration, type Layer, Option, Redacted } from "effect"
import { CouchClient } from "../../src/couch/client.ts"
import type { ConfigError } from "../../src/shared/errors.ts"
import type { CouchTarget } from "./couch-target.ts"

export interface SeenRequest {
  readonly method: string
  /** The path, percent-decoded: `/dbsweep_leases/purge:db`. */
  readonly path: string
  /** The query as `URLSearchParams` writes it, without `?`. */
  readonly query: string
}

export interface RecordingClient {
  readonly layer: Layer.Layer<CouchClient, ConfigError>
  /** The requests so far, in the order the proxy saw them. */
  readonly seen: Array<SeenRequest>
  readonly stop: () => Promise<void>
}

/** A proxy in front of `target` (a URL) that records each request it passes on, in order. */
export const recordingProxy = (target: string) => {
  const seen: Array<SeenRequest> = []
  const proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const url = new URL(req.url)
      seen.push({
        method: req.method,
        path: decodeURIComponent(url.pathname),
        query: url.searchParams.toString(),
      })
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer()
      return fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body,
      })
    },
  })
  return { url: `http://127.0.0.1:${proxy.port}`, seen, stop: () => proxy.stop(true) }
}

export const recordingClient = (t: CouchTarget): RecordingClient => {
  const proxy = recordingProxy(t.url)
  const layer = CouchClient.layer({
    url: proxy.url,
    user: Option.some(t.user),
    password: Option.some(Redacted.make(t.password)),
    timeout: Duration.seconds(10),
  })
  return { layer, seen: proxy.seen, stop: proxy.stop }
}
