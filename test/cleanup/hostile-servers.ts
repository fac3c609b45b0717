/**
 * Small servers that listen where PostgreSQL should and are not PostgreSQL, for the tests of a
 * DATABASE_URL pointing at the wrong port. Each counts the connections it accepts: dbsweep must
 * not retry a wrong server in a tight loop.
 */
import { createServer, type Server, type Socket } from "node:net"

export type HostileKind =
  /** answers whatever it is sent with an HTTP 400 and closes, as an HTTP server does */
  | "http"
  /** writes text at once and keeps the connection open */
  | "garbage"
  /** accepts and never says anything */
  | "silent"

export interface HostileServer {
  readonly port: number
  /** Connections accepted so far. */
  readonly connections: () => number
  readonly close: () => Promise<void>
}

export const startHostileServer = (kind: HostileKind): Promise<HostileServer> =>
  new Promise((resolve, reject) => {
    let accepted = 0
    const sockets = new Set<Socket>()
    const server: Server = createServer((socket) => {
      accepted += 1
      sockets.add(socket)
      socket.on("error", () => undefined)
      socket.on("close", () => sockets.delete(socket))
      if (kind === "http") {
        socket.once("data", () =>
          socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        )
      } else if (kind === "garbage") {
        socket.write("garbage, not the PostgreSQL protocol\n")
      }
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        port,
        connections: () => accepted,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          }),
      })
    })
  })
