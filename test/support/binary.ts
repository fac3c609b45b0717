import { existsSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dir, "..", "..")
export const binaryPath = join(root, "dist", "dbsweep")

/** Builds dist/dbsweep once if missing (make test builds it first). */
export const ensureBinary = () => {
  if (existsSync(binaryPath)) return
  const r = Bun.spawnSync(["make", "build"], { cwd: root, stdout: "inherit", stderr: "inherit" })
  if (r.exitCode !== 0) throw new Error("make build failed")
}

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface SpawnOptions {
  env?: Record<string, string>
  cwd?: string
}

/**
 * Starts the compiled binary with only the given environment (plus PATH), in `cwd` (the repo root
 * unless given), with stdout and stderr piped.
 */
export const spawnBinary = (args: ReadonlyArray<string>, options: SpawnOptions = {}) => {
  ensureBinary()
  return Bun.spawn([binaryPath, ...args], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  })
}

/**
 * Runs the compiled binary to its end (killed after `timeoutMs`). `onStart` sees the process, e.g.
 * to send it a signal.
 */
export const runBinary = async (
  args: ReadonlyArray<string>,
  options: SpawnOptions & {
    onStart?: (proc: { kill: (signal?: number | NodeJS.Signals) => void }) => void
    timeoutMs?: number
  } = {},
): Promise<RunResult> => {
  const proc = spawnBinary(args, options)
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 60_000)
  options.onStart?.(proc)
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Reads a server's stderr until its "listening on" line: the URL it names, and the text so far. */
export const listeningUrl = async (stderr: ReadableStream<Uint8Array>) => {
  const reader = stderr.getReader()
  const decoder = new TextDecoder()
  let text = ""
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    text += decoder.decode(r.value, { stream: true })
    const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(text)
    if (m) {
      reader.releaseLock()
      return { url: m[1]!, text }
    }
  }
  throw new Error(`the server never said where it listens: ${text}`)
}
