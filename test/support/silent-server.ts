/**
 * A server that accepts connections on 127.0.0.1 and never says a word: every request to it waits
 * for the client's timeout and retries (minutes with dbsweep's defaults). For tests of what a
 * Ctrl-C does meanwhile.
 */
import { type RunResult, runBinary, type SpawnOptions } from "./binary.ts"

export const startSilentServer = () => {
  let accepted = 0
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: () => {
        accepted++
      },
      data: () => {},
    },
  })
  /**
   * Runs the binary and sends it SIGINT once it has connected here (and waited a moment). Killed
   * after 20 s, well under one request's timeout (30 s): a binary that waits for its requests
   * then does not exit 130.
   */
  const interruptWhileWaiting = async (
    args: ReadonlyArray<string>,
    options: SpawnOptions,
  ): Promise<RunResult & { readonly connected: boolean }> => {
    const before = accepted
    const r = await runBinary(args, {
      ...options,
      timeoutMs: 20_000,
      onStart: (p) => {
        const interrupt = async () => {
          for (let i = 0; i < 1000 && accepted === before; i++) await Bun.sleep(10)
          await Bun.sleep(200)
          p.kill("SIGINT")
        }
        void interrupt()
      },
    })
    return { ...r, connected: accepted > before }
  }
  return {
    url: `http://127.0.0.1:${server.port}`,
    interruptWhileWaiting,
    stop: () => server.stop(true),
  }
}
