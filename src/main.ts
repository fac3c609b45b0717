#!/usr/bin/env bun
// The Bun entry point (the compiled binary). `--help` and `--version` are answered from texts
// recorded at build time without loading the CLI; anything else loads it.
import { quickAnswer } from "./cli/quick.ts"

/** The job worker's path inside the binary (scripts/build.ts defines it); absent from the sources. */
declare const DBSWEEP_JOB_WORKER: string | undefined

const quick = quickAnswer(process.argv.slice(2), {
  isTerminal: process.stdout.isTTY === true,
  env: process.env,
})
if (quick !== undefined) {
  process.stdout.write(quick)
} else {
  const command = process.argv.slice(2).find((a) => !a.startsWith("-"))
  if (command === "serve") {
    // The binary starts with the JIT reluctant (scripts/build.ts: a short CLI run spends more on
    // compiling than compiled code saves). The HTTP mode runs for long: normal policy from the start.
    Bun.unsafe.setJITPolicy(1)
  } else {
    // JavaScriptCore collects lazily: a long purge or migrate left garbage standing until peak RSS
    // grew with the run (121 MB at 100k tombstones, 180 MB at 400k), though the live heap stays near
    // 24 MB. A full collection keeps it flat. Not in the HTTP mode, where each pause would land on
    // requests being answered.
    // Only once the heap has grown by a good step since the last one: a short run collects never.
    // Looked at four times a second: once a second, the heap of a purge of a million tombstones rose
    // to 24-30 MB between looks (peak RSS 107-118 MB, against 88-96 MB at 100,000); at 250 ms it
    // stays under about 20 MB (99-104 MB), with the same 8 MB step and no more CPU than the noise.
    // The first look only notes the heap (the CLI and its modules loaded by then): measured from
    // the process's start, every run of over a second paid for a full collection of them.
    let after: number | undefined
    setInterval(() => {
      if (after === undefined) {
        after = process.memoryUsage().heapUsed
        return
      }
      if (process.memoryUsage().heapUsed - after < 8 * 1024 * 1024) return
      Bun.gc(true)
      after = process.memoryUsage().heapUsed
    }, 250).unref()
  }
  // No top-level await: the binary's bytecode is a CommonJS module.
  // Only the services the CLI uses: BunContext would also load a command executor (node:child_process)
  // and workers, which no command needs.
  Promise.all([
    import("@effect/platform-bun/BunFileSystem"),
    import("@effect/platform-bun/BunPath"),
    import("@effect/platform-bun/BunTerminal"),
    import("@effect/platform-bun/BunRuntime"),
    import("effect/Layer"),
    import("./cli/run.ts"),
  ]).then(([BunFileSystem, BunPath, BunTerminal, BunRuntime, Layer, { runCli }]) =>
    runCli({
      argv: process.argv,
      runMain: BunRuntime.runMain,
      context: Layer.mergeAll(BunFileSystem.layer, BunPath.layer, BunTerminal.layer),
      listen: (handler, { hostname, port }) => {
        const server = Bun.serve({
          hostname,
          port,
          // Event streams stay open as long as their run goes: no idle cut-off.
          idleTimeout: 0,
          fetch: (request, server) => handler(request, () => server.requestIP(request)?.address),
        })
        return { url: server.url.href.replace(/\/$/, ""), close: () => server.stop(true) }
      },
      // `dbsweep serve` runs purges on workers, off the thread that answers HTTP. The binary carries
      // the worker as a second entry point, found by its path inside the binary (the bytecode's
      // import.meta.url is the build machine's path); from the sources it sits beside this file.
      jobWorker: () =>
        new Worker(
          typeof DBSWEEP_JOB_WORKER === "string"
            ? DBSWEEP_JOB_WORKER
            : new URL("./http/job-worker.ts", import.meta.url).href,
        ),
      printError: (line) => console.error(line),
    }),
  )
}
