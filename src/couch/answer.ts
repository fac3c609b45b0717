import type { HttpClientError } from "@effect/platform"
import { Option, ParseResult, Predicate } from "effect"

/**
 * Reading what a server sent, defensively: dbsweep may be pointed at something that is not CouchDB,
 * or at a CouchDB behind a proxy that misbehaves. Every text that reaches a message is one short
 * line, and never holds the credentials.
 */

/**
 * The largest answer read (64 MiB). A `_changes` page of 10,000 rows with a few leaves each is a
 * few MiB; anything near this bound is not an answer dbsweep asked for, and reading on would
 * only grow memory (a 2 GB body once pushed RSS to 7 GB).
 */
export const maxAnswerBytes = 64 * 1024 * 1024

/** The parsed JSON, or none when the text is not JSON. */
export const parseJsonText = (text: string): Option.Option<unknown> =>
  Option.liftThrowable((t: string): unknown => JSON.parse(t))(text)

/** "not JSON (text/html)": what a non-JSON answer was, for messages. */
export const notJson = (text: string, contentType: string | undefined) =>
  text.trim() === ""
    ? "an empty body, not JSON"
    : `not JSON (${(contentType ?? "no content type").split(";")[0]})`

const networkPhrases: ReadonlyArray<readonly [RegExp, string]> = [
  [/ECONNREFUSED|ConnectionRefused/i, "connection refused"],
  [/ECONNRESET|ConnectionReset/i, "connection reset by the server"],
  [/ENOTFOUND|EAI_AGAIN|getaddrinfo|DNS/i, "host name not found"],
  [/ETIMEDOUT|timed out/i, "connection timed out"],
  [/EHOSTUNREACH|ENETUNREACH|unreachable/i, "host unreachable"],
  [/socket connection was closed|closed unexpectedly|ECONNCLOSED|EPIPE/i, "the server closed the connection"],
  [/certificate|TLS|SSL|self.signed/i, "TLS failed (certificate or protocol)"],
  [/Malformed_HTTP_Response|HTTP\/|parse error|invalid HTTP/i, "the answer was not HTTP"],
  [/URL|InvalidUrl/i, "the URL is not valid"],
]

/**
 * A transport failure in a few plain words, without the runtime's own text ("TypeError: …",
 * "pass `verbose: true` …"), which names nothing a user can act on.
 */
export const networkReason = (error: HttpClientError.HttpClientError | unknown): string => {
  const parts: Array<string> = []
  let at: unknown = error
  for (let depth = 0; depth < 4 && at !== undefined && at !== null; depth++) {
    if (Predicate.hasProperty(at, "code") && typeof at.code === "string") parts.push(at.code)
    if (Predicate.hasProperty(at, "message") && typeof at.message === "string") parts.push(at.message)
    if (Predicate.hasProperty(at, "reason") && typeof at.reason === "string") parts.push(at.reason)
    at = Predicate.hasProperty(at, "cause") ? at.cause : undefined
  }
  const text = parts.join(" ")
  for (const [pattern, phrase] of networkPhrases) if (pattern.test(text)) return phrase
  return "the request failed before an answer came"
}

/** One line saying which part of an answer did not have the expected form. */
export const shapeMismatch = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "the answer does not have the expected form"
  const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")
  const where = path === "" ? "the answer" : `field ${path.replace(/^\./, "")}`
  return issue._tag === "Missing" ? `${where} is missing` : `${where} does not have the expected form`
}

/** Base64 of the UTF-8 bytes, as HTTP Basic auth sends `user:password`. */
const base64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)))

/** The Authorization header of HTTP Basic auth (RFC 7617, UTF-8). */
export const basicAuth = (user: string, password: string) => `Basic ${base64(`${user}:${password}`)}`

/**
 * Removes the credentials from text a server sent back (a proxy or server may echo the
 * Authorization header in its error): the password as is and percent-encoded, `user:password` in
 * base64, and any Basic/Bearer token.
 */
export const redactor = (user: string | undefined, password: string | undefined) => {
  const secrets: Array<string> = []
  if (password !== undefined && password !== "") {
    secrets.push(password, encodeURIComponent(password))
    if (user !== undefined) {
      const b64 = base64(`${user}:${password}`)
      secrets.push(b64, b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""))
    }
  }
  const unique = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)
  return (text: string): string => {
    let out = text.replace(/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+/gi, "$1 [redacted]")
    for (const secret of unique) out = out.split(secret).join("[redacted]")
    // One line, of a readable length.
    out = out.replace(/\s+/g, " ").trim()
    return out.length > 200 ? `${out.slice(0, 197)}...` : out
  }
}
