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

/**
 * Runs the compiled binary with only the given environment (plus PATH), in `cwd` (a temp dir, so no
 * stray .env is read). `onStart` sees the process, e.g. to send it a signal.
 */
export const runBinary = async (
  args: ReadonlyArray<string>,
  options: {
    env?: Record<string, string>
    cwd?: string
    onStart?: (proc: { kill: (signal?: number | NodeJS.Signals) => void }) => void
    timeoutMs?: number
  } = {},
): Promise<RunResult> => {
  ensureBinary()
  const proc = Bun.spawn([binaryPath, ...args], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  })
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
