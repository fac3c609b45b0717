import { createHash, timingSafeEqual } from "node:crypto"
import { Redacted } from "effect"
import type { MiddlewareHandler } from "hono"
import { Forbidden, Unauthorized } from "../errors.ts"
import { errorResponse, type HttpEnv, type HttpSettings } from "./respond.ts"

const digest = (text: string) => createHash("sha256").update(text).digest()

/**
 * Compares in constant time: both sides are hashed first, so neither the length nor the first
 * differing byte of the token shows in how long the comparison takes.
 */
export const sameToken = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected))

const loopback = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost"])

/** A request from this host; an address the adapter could not tell is treated as remote. */
export const fromLoopback = (address: string | undefined) =>
  address !== undefined && (loopback.has(address) || address.startsWith("127."))

const bearer = (header: string | undefined) => /^Bearer\s+(.+)$/i.exec(header ?? "")?.[1]?.trim()

type Verdict = "ok" | "missing" | "wrong"

const verdict = (settings: HttpSettings, header: string | undefined): Verdict => {
  const given = bearer(header)
  if (settings.token === undefined) return "missing"
  if (given === undefined) return "missing"
  return sameToken(given, Redacted.value(settings.token)) ? "ok" : "wrong"
}

/**
 * Routes that change something: the bearer token. A server started without a token (it then
 * binds loopback only) lets loopback callers through, so a newcomer can try it at once; bodies
 * must be JSON, so a web page elsewhere cannot post to it without a CORS preflight.
 */
export const requireToken =
  (settings: HttpSettings): MiddlewareHandler<HttpEnv> =>
  async (c, next) => {
    if (settings.token === undefined && fromLoopback(c.env?.remoteAddress?.())) return next()
    const v = verdict(settings, c.req.header("authorization"))
    if (v === "ok") return next()
    return errorResponse(
      c,
      new Unauthorized({
        reason: v === "wrong" ? "the bearer token is wrong" : "this route needs a bearer token",
      }),
    )
  }

/** Status, metrics and reads: loopback, the token, or anyone with `--public-status`. */
export const requireStatusAccess =
  (settings: HttpSettings): MiddlewareHandler<HttpEnv> =>
  async (c, next) => {
    if (settings.publicStatus || fromLoopback(c.env?.remoteAddress?.())) return next()
    if (verdict(settings, c.req.header("authorization")) === "ok") return next()
    return errorResponse(c, new Forbidden())
  }
