/**
 * Small misbehaving servers for the bad-input suites: each listens on 127.0.0.1 on a random port,
 * counts the connections it gets, and is stopped by the test.
 */
import { createServer, type Socket } from "node:net"

export interface Hostile {
  readonly port: number
  readonly url: string
  /** Connections accepted so far. */
  readonly connections: () => number
  readonly stop: () => Promise<void>
}

/** A raw TCP server: `onConnect` decides what each connection gets (garbage, silence, …). */
export const tcpServer = async (onConnect: (socket: Socket) => void): Promise<Hostile> => {
  let count = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    count += 1
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => undefined)
    onConnect(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Writes bytes that are neither HTTP nor PostgreSQL, then closes. */
export const garbageServer = () =>
  tcpServer((socket) => {
    socket.write(Buffer.from("\u0000\u00ffGARBAGE\r\n\u0013\u0037 not a protocol at all\r\n\r\n"))
    setTimeout(() => socket.end(), 20)
  })

/** Accepts connections and never says anything. */
export const silentServer = () => tcpServer(() => undefined)

/** An HTTP server answering every request with `handler` (Bun.serve on 127.0.0.1). */
export const httpServer = (handler: (req: Request) => Response | Promise<Response>): Hostile => {
  let count = 0
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      count += 1
      return handler(req)
    },
  })
  return {
    port: server.port ?? 0,
    url: `http://127.0.0.1:${server.port}`,
    connections: () => count,
    stop: async () => {
      await server.stop(true)
    },
  }
}

/** An HTML page, as a web server or proxy in the wrong place would send. */
export const htmlServer = () =>
  httpServer(
    () =>
      new Response("<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>", {
        headers: { "content-type": "text/html" },
      }),
  )

/** A body that claims to be JSON and is not. */
export const invalidJsonServer = () =>
  httpServer(
    () =>
      new Response('{"couchdb": "Welcome", "version": ', { headers: { "content-type": "application/json" } }),
  )

/** Valid JSON of the wrong shape for every request. */
export const wrongShapeServer = () =>
  httpServer(
    () =>
      new Response(JSON.stringify({ hello: "world", version: 3 }), {
        headers: { "content-type": "application/json" },
      }),
  )

/**
 * A streamed body of `bytes` (no Content-Length), far more than any answer dbsweep asks for.
 * `sent()` tells how much the client actually pulled.
 */
export const hugeBodyServer = (bytes: number): Hostile & { readonly sent: () => number } => {
  const chunk = new TextEncoder().encode(`${"x".repeat(65_535)}\n`)
  let sent = 0
  const server = httpServer(() => {
    let mine = 0
    return new Response(
      new ReadableStream({
        pull(controller) {
          if (mine >= bytes) return controller.close()
          controller.enqueue(chunk)
          mine += chunk.byteLength
          sent += chunk.byteLength
        },
      }),
      { headers: { "content-type": "application/json" } },
    )
  })
  return { ...server, sent: () => sent }
}

/** Answers 401 and echoes the request's Authorization header (and the URL) in the reason. */
export const echoAuthServer = () =>
  httpServer(
    (req) =>
      new Response(
        JSON.stringify({
          error: "unauthorized",
          reason: `bad credentials: ${req.headers.get("authorization") ?? "(none)"} for ${req.url}`,
        }),
        { status: 401, headers: { "content-type": "application/json" } },
      ),
  )
