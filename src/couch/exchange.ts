import { Either } from "effect"
import { certificateProblem } from "../shared/tls.ts"
import { networkReason } from "./answer.ts"

/** One HTTP request as `fetch` takes it: the URL is whole (base, path and query). */
export interface Outgoing {
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly body: string | FormData | undefined
}

/** What came back: the status, the content type and the whole body as text. */
export interface Incoming {
  readonly status: number
  readonly contentType: string | undefined
  readonly text: string
}

/** The bounds of one exchange: the whole of it (answer and body) within `timeoutMs`. */
export interface ExchangeLimits {
  readonly timeoutMs: number
  /** The largest body read of a 2xx answer; an error answer's body is read up to `errorBytes`. */
  readonly maxBytes: number
  readonly errorBytes: number
}

/** Why an exchange ended without an answer to decode. */
export type ExchangeProblem =
  | {
      readonly _tag: "Network"
      readonly reason: string
      /** Why the server's TLS certificate was refused, when that is what failed. */
      readonly certificate?: string | undefined
    }
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "TooLarge"; readonly bytes: number }

type TooLarge = Extract<ExchangeProblem, { readonly _tag: "TooLarge" }>

const network = (error: unknown): ExchangeProblem => ({
  _tag: "Network",
  reason: networkReason(error),
  certificate: certificateProblem(error),
})

const utf8 = new TextDecoder()

/**
 * The body as text, refusing more than `max` bytes: by Content-Length before reading, or while it
 * streams (CouchDB sends `_changes` chunked, in pieces of about 1.5 KB: chttpd's
 * `chunked_response_buffer`, 1490 bytes by default).
 */
const readBounded = async (res: Response, max: number): Promise<string | TooLarge> => {
  const declared = Number(res.headers.get("content-length") ?? Number.NaN)
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel()
    return { _tag: "TooLarge", bytes: declared }
  }
  if (Number.isFinite(declared) || res.body === null) return res.text()
  const reader = res.body.getReader()
  const parts: Array<Uint8Array> = []
  let bytes = 0
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    bytes += r.value.byteLength
    if (bytes > max) {
      await reader.cancel()
      return { _tag: "TooLarge", bytes }
    }
    parts.push(r.value)
  }
  if (parts.length === 1) return utf8.decode(parts[0])
  const all = new Uint8Array(bytes)
  let at = 0
  for (const part of parts) {
    all.set(part, at)
    at += part.byteLength
  }
  return utf8.decode(all)
}

/**
 * One request and its whole answer in one promise: `fetch`, then the body read within its bound,
 * all under the timeout. `done` is called once, with the answer or the problem, unless the
 * returned abort is called first (then never). No effect runs per chunk or per step: this is the
 * path every CouchDB request takes, thousands of times a run.
 */
export const startExchange = (
  out: Outgoing,
  limits: ExchangeLimits,
  done: (result: Either.Either<Incoming, ExchangeProblem>) => void,
): (() => void) => {
  const abort = new AbortController()
  let timedOut = false
  let settled = false
  const timer = setTimeout(() => {
    timedOut = true
    abort.abort()
  }, limits.timeoutMs)
  const settle = (result: Either.Either<Incoming, ExchangeProblem>) => {
    clearTimeout(timer)
    if (settled) return
    settled = true
    done(result)
  }
  fetch(out.url, { method: out.method, headers: out.headers, body: out.body, signal: abort.signal })
    .then(async (res) => {
      const contentType = res.headers.get("content-type") ?? undefined
      if (res.status < 200 || res.status >= 300) {
        // An error body is read for its reason only: when it is too large or breaks off, the
        // status alone says what happened.
        const text = await readBounded(res, limits.errorBytes).catch(() => "")
        return settle(
          Either.right({ status: res.status, contentType, text: typeof text === "string" ? text : "" }),
        )
      }
      const text = await readBounded(res, limits.maxBytes)
      if (typeof text !== "string") return settle(Either.left(text))
      settle(Either.right({ status: res.status, contentType, text }))
    })
    .catch((error: unknown) => settle(Either.left(timedOut ? { _tag: "Timeout" } : network(error))))
  return () => {
    clearTimeout(timer)
    settled = true
    abort.abort()
  }
}
