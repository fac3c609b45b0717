import { createConnection } from "node:net"
import { Duration, Effect } from "effect"
import type { PgEndpoint } from "./config.ts"
import { fromDriver, PgConnectError, type PgError, PgProtocolError } from "./errors.ts"

/** SSLRequest (length 8, code 80877103): the one message every PostgreSQL server and pooler answers at once. */
const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])

/** Where the endpoint listens: a unix socket when the host is a directory, as in libpq. */
const addressOf = (endpoint: PgEndpoint) =>
  endpoint.host.startsWith("/")
    ? { path: `${endpoint.host}/.s.PGSQL.${endpoint.port}` }
    : { host: endpoint.host, port: endpoint.port }

/**
 * A PostgreSQL server answers an SSLRequest with exactly one byte, `S` or `N`, and then waits; a
 * server too old for it, or out of processes, answers with an error (`E`). Anything else is not
 * PostgreSQL.
 */
const isPostgresAnswer = (chunk: Buffer) =>
  chunk[0] === 0x45 || (chunk.length === 1 && (chunk[0] === 0x53 || chunk[0] === 0x4e))

const describe = (chunk: Buffer) => {
  const text = chunk.subarray(0, 40).toString("latin1")
  if (text.startsWith("HTTP/")) return "it answered like an HTTP server"
  if (chunk[0] === 0x15 || chunk[0] === 0x16) return "it answered like a TLS server"
  const printable = text.replace(/[^\x20-\x7e]/g, "?").trim()
  return printable === "" ? `it sent ${chunk.length} bytes of binary` : `it sent "${printable}"`
}

/**
 * Asks whatever listens at the endpoint whether it speaks PostgreSQL, on one connection that
 * carries no credentials, before the driver opens any. The driver itself reconnects without end
 * while a server closes its connections during startup (an HTTP server does), so a wrong port
 * must be caught here.
 */
export const probe = Effect.fn("Pg.probe")(function* (endpoint: PgEndpoint, timeout: Duration.Duration) {
  const where = endpoint.host.startsWith("/")
    ? `${endpoint.host}/.s.PGSQL.${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`
  let connected = false
  return yield* Effect.async<void, PgError>((resume) => {
    const socket = createConnection(addressOf(endpoint))
    let settled = false
    const close = () => {
      socket.removeAllListeners()
      // A late error on a socket being torn down is of no interest, but must have a listener.
      socket.on("error", () => undefined)
      socket.destroy()
    }
    const done = (result: Effect.Effect<void, PgError>) => {
      if (settled) return
      settled = true
      close()
      resume(result)
    }
    socket.once("connect", () => {
      connected = true
      socket.write(sslRequest)
    })
    socket.once("data", (chunk: Buffer) =>
      done(
        isPostgresAnswer(chunk)
          ? Effect.void
          : Effect.fail(new PgProtocolError({ target: where, reason: describe(chunk) })),
      ),
    )
    socket.once("error", (e) => done(Effect.fail(fromDriver(e, endpoint.display, "connecting"))))
    socket.once("close", () =>
      done(
        Effect.fail(
          new PgConnectError({
            target: endpoint.display,
            reason: `${where} closed the connection without answering`,
          }),
        ),
      ),
    )
    return Effect.sync(close)
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new PgConnectError({
          target: endpoint.display,
          reason: connected
            ? `${where} accepted the connection but did not answer as PostgreSQL within ${Duration.format(timeout)} (PGCONNECT_TIMEOUT)`
            : `${where} did not accept a connection within ${Duration.format(timeout)} (PGCONNECT_TIMEOUT)`,
        }),
    }),
  )
})
