/** What the benchmarks share: their flags, and the CouchDB-API test server in a process of its own. */
import { readFileSync } from "node:fs"
import { join } from "node:path"

export const root = join(import.meta.dir, "..")
/** The binary measured: dist/dbsweep, or `--bin PATH` (another build, to compare). */
export const bin = (() => {
  const i = process.argv.indexOf("--bin")
  return i >= 0 ? process.argv[i + 1]! : join(root, "dist", "dbsweep")
})()

/** `--name N` from the command line, or `fallback`. */
export const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

export const user = "admin"
export const password = "bench-password"

/**
 * Starts `cmd` and waits for the first output line of `from` that matches `pattern` (its first
 * group), e.g. the URL a server prints when it listens.
 */
export const startAndRead = async (
  cmd: Array<string>,
  env: Record<string, string>,
  pattern: RegExp,
  from: "stdout" | "stderr",
) => {
  const proc = Bun.spawn(cmd, {
    env: { PATH: process.env.PATH ?? "", ...env },
    // The stream read is piped; the other goes to the terminal (an unread pipe can fill and block).
    stdout: from === "stdout" ? "pipe" : "inherit",
    stderr: from === "stderr" ? "pipe" : "inherit",
  })
  const stream = from === "stdout" ? proc.stdout : proc.stderr
  if (!(stream instanceof ReadableStream)) throw new Error(`${cmd[0]}: its ${from} is not piped`)
  const reader = stream.getReader()
  let text = ""
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    text += new TextDecoder().decode(r.value)
    const m = pattern.exec(text)
    if (m) {
      reader.releaseLock()
      return { proc, match: m[1]! }
    }
  }
  throw new Error(`${cmd.join(" ")} ended: ${text}`)
}

/** JSON requests to a CouchDB as one admin: `request` answers whatever came, `call` must succeed. */
const caller = (url: string, admin: string, secret: string) => {
  const authorization = `Basic ${btoa(`${admin}:${secret}`)}`
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: await res.text() }
  }
  /** A request that must succeed; its JSON answer. */
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await request(method, path, body)
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`)
    return JSON.parse(r.body) as unknown
  }
  return { request, call }
}

/** The CouchDB-API test server (admin `user`/`password`), its URL and a JSON caller as that admin. */
export const startTestCouch = async (extraArgs: ReadonlyArray<string> = []) => {
  const { proc, match: url } = await startAndRead(
    [
      process.execPath,
      join(root, "test/support/couch-server.ts"),
      "--port",
      "0",
      "--admin",
      `${user}:${password}`,
      ...extraArgs,
    ],
    {},
    /^(http:\/\/\S+)/m,
    "stdout",
  )
  return { proc, url, ...caller(url, user, password) }
}

/**
 * The CouchDB a benchmark measures: a real one when COUCHDB_URL (with COUCHDB_USER and
 * COUCHDB_PASSWORD of an admin) is set, else the test server in its own process (`extraArgs`),
 * with `latencyMs` per request once `setLatency` is called. `where` says which, for the output.
 */
export const couchTarget = async (extraArgs: ReadonlyArray<string> = []) => {
  const external = process.env.COUCHDB_URL
  if (external !== undefined && external !== "") {
    const url = external.replace(/\/+$/, "")
    const admin = process.env.COUCHDB_USER ?? "admin"
    const secret = process.env.COUCHDB_PASSWORD ?? ""
    return {
      real: true,
      url,
      user: admin,
      password: secret,
      ...caller(url, admin, secret),
      setLatency: async (_ms: number) => {},
      /** The server's process (to read its CPU time), when it runs here. */
      pid: undefined as number | undefined,
      stop: async () => {},
      where: `the real CouchDB at ${url}`,
    }
  }
  const couch = await startTestCouch(extraArgs)
  return {
    real: false,
    url: couch.url,
    user,
    password,
    request: couch.request,
    call: couch.call,
    setLatency: async (latencyMs: number) => {
      await couch.call("PUT", "/_dbsweep_test/faults", { latencyMs })
    },
    pid: couch.proc.pid as number | undefined,
    stop: async () => {
      couch.proc.kill()
      await couch.proc.exited
    },
    where: "the CouchDB-API test server in its own process",
  }
}

/**
 * Runs dbsweep's binary with `args` and `env` to its end, sampling its peak RSS (VmHWM) while it
 * runs; CPU from the child's own resource usage (user + sys; maxRSS there would also count the
 * fork). Throws with its output when it exits non-zero.
 */
export const runBinary = async (args: ReadonlyArray<string>, env: Record<string, string>, binary = bin) => {
  const started = performance.now()
  const proc = Bun.spawn([binary, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "pipe",
    stderr: "inherit",
  })
  let peakKb = 0
  const sampler = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))
      if (m) peakKb = Math.max(peakKb, Number(m[1]))
    } catch {}
  }, 20)
  const out = await new Response(proc.stdout).text()
  const code = await proc.exited
  clearInterval(sampler)
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`dbsweep exited ${code}: ${out.slice(0, 2000)}`)
  const cpu = proc.resourceUsage()?.cpuTime
  return {
    out,
    seconds,
    peakMb: peakKb / 1024,
    cpuSeconds: cpu === undefined ? Number.NaN : Number(cpu.user + cpu.system) / 1e6,
    userSeconds: cpu === undefined ? Number.NaN : Number(cpu.user) / 1e6,
  }
}

/** The median of `xs` (the mean of the middle two when their number is even). */
export const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
