// The Node entry point: the whole CLI, `serve` on @hono/node-server. Node 20 does not run
// TypeScript: `make node` bundles this file into dist/node/dbsweep.mjs (bun build --target=node).
import type { AddressInfo } from "node:net"
import { serve } from "@hono/node-server"
import { nodeContext, nodeRunMain } from "./cli/node-platform.ts"
import { runCli } from "./cli/run.ts"
import type { Listen } from "./http/listen.ts"

const listen: Listen = (handler, { hostname, port }) =>
  new Promise((resolve, reject) => {
    const server = serve(
      {
        hostname,
        port,
        fetch: (request, env) => handler(request, () => env.incoming.socket.remoteAddress),
      },
      (info: AddressInfo) => {
        const host = info.family === "IPv6" ? `[${info.address}]` : info.address
        resolve({
          url: `http://${host}:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done())
              // Event streams never end on their own.
              if ("closeAllConnections" in server) server.closeAllConnections()
            }),
        })
      },
    )
    server.once("error", reject)
  })

runCli({
  argv: process.argv,
  runMain: nodeRunMain,
  context: nodeContext,
  listen,
  printError: (line) => console.error(line),
})
