// The Deno entry point: the whole CLI, `serve` on Deno.serve.
//   deno run --allow-all src/deno.ts serve --port 8080
import { nodeContext, nodeRunMain } from "./cli/node-platform.ts"
import { runCli } from "./cli/run.ts"
import type { Listen } from "./http/listen.ts"

/** The part of Deno's API used here (this project is typechecked against Bun's types). */
declare const Deno: {
  serve(
    options: {
      hostname: string
      port: number
      onListen?: (addr: { hostname: string; port: number }) => void
    },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): { addr: { hostname: string; port: number }; shutdown(): Promise<void> }
}

const listen: Listen = (handler, { hostname, port }) => {
  const server = Deno.serve({ hostname, port, onListen: () => {} }, (request, info) =>
    handler(request, () => info.remoteAddr.hostname),
  )
  const host = server.addr.hostname.includes(":") ? `[${server.addr.hostname}]` : server.addr.hostname
  return {
    url: `http://${host}:${server.addr.port}`,
    // Shutting down waits for open requests, and event streams never end on their own: wait 2 s at most.
    close: () => Promise.race([server.shutdown(), new Promise<void>((done) => setTimeout(done, 2000))]),
  }
}

runCli({
  argv: process.argv,
  runMain: nodeRunMain,
  context: nodeContext,
  listen,
  printError: (line) => console.error(line),
})
