/**
 * A server that accepts connections on 127.0.0.1 and never says a word: every request to it waits
 * for the client's timeout and retries (minutes with dbsweep's defaults). For tests of what a
 * Ctrl-C does meanwhile.
 */
import { expect } from "bun:test"
import { runBinary, type SpawnOptions } from "./binary.ts"

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
   * Runs the binary, sends it SIGINT once it has connected here (and waited a moment), and expects
   * it to end at once: exit 130, the one line "dbsweep: interrupted", nothing on stdout. Killed
   * after 20 s, well under one request's timeout (30 s): a binary that waits for its requests
   * then does not exit 130.
   */
  const expectInterruptedAtOnce = async (args: ReadonlyArray<string>, options: SpawnOptions) => {
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
    expect(accepted).toBeGreaterThan(before)
    expect(r.code).toBe(130)
    expect(r.stderr.trim().split("\n")).toEqual(["dbsweep: interrupted"])
    expect(r.stdout).toBe("")
  }
  return {
    url: `http://127.0.0.1:${server.port}`,
    expectInterruptedAtOnce,
    stop: () => server.stop(true),
  }
}
