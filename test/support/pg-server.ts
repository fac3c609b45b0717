/**
 * A real PostgreSQL for the tests: one server per test process (initdb into a temp dir on a random
 * 127.0.0.1 port, fsync off, run as the `postgres` OS user when we are root), or the server named by
 * DATABASE_URL. Each test gets its own database, cloned from a template. Everything is stopped and
 * removed when the process ends, also when tests fail or the run is interrupted.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import postgres from "postgres"

const bin = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin"
export const pgPassword = "dbsweep-test-secret"

export interface PgServer {
  /** Superuser URL of the maintenance database. */
  readonly adminUrl: string
  readonly host: string
  readonly port: number
  /** Kills the server (tests of "server down" use a fresh port instead). */
  readonly stop: () => void
}

let started: Promise<PgServer> | undefined
let child: ChildProcess | undefined
let dir: string | undefined
let counter = 0

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** A port on 127.0.0.1 where nothing listens. */
export const unusedPort = freePort

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

const asPostgres = (cmd: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  isRoot() ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, [...args]]

const stopServer = () => {
  if (child !== undefined && child.exitCode === null && dir !== undefined) {
    // runuser forks, so killing it would orphan the postmaster: ask pg_ctl for an immediate stop.
    const [cmd, args] = asPostgres(join(bin, "pg_ctl"), ["stop", "-m", "immediate", "-D", join(dir, "data")])
    spawnSync(cmd, args, { stdio: "ignore", timeout: 10_000 })
    if (child.exitCode === null) child.kill("SIGKILL")
  }
  child = undefined
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  dir = undefined
}

/** Stops the shared server and removes its directory (idempotent). */
export const stopPgServer = () => {
  stopServer()
  started = undefined
}
const cleanup = stopPgServer

// Under bun test the server is shared by every test file and stopped once, after all of them, by
// the preloaded test/support/teardown.ts (bun test does not always run exit hooks). The hooks
// below cover scripts (the benchmark, the demo) and interrupted runs.
process.on("exit", cleanup)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanup()
    process.exit(130)
  })
}

const waitReady = async (url: string) => {
  const deadline = Date.now() + 30_000
  for (;;) {
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => undefined })
    try {
      await sql`select 1`
      await sql.end()
      return
    } catch (error) {
      await sql.end({ timeout: 0 })
      if (Date.now() > deadline) throw error
      await Bun.sleep(100)
    }
  }
}

const startLocal = async (): Promise<PgServer> => {
  dir = mkdtempSync(join(tmpdir(), "dbsweep-pg-"))
  chmodSync(dir, 0o700)
  const data = join(dir, "data")
  const pwfile = join(dir, "pw")
  writeFileSync(pwfile, pgPassword)
  if (isRoot()) {
    const pw = spawnSync("id", ["-u", "postgres"]).stdout.toString().trim()
    const gr = spawnSync("id", ["-g", "postgres"]).stdout.toString().trim()
    chownSync(dir, Number(pw), Number(gr))
    chownSync(pwfile, Number(pw), Number(gr))
  }
  const [initCmd, initArgs] = asPostgres(join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "--pwfile",
    pwfile,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-sync",
    "--no-instructions",
    "-E",
    "UTF8",
    "--locale=C",
  ])
  const init = spawnSync(initCmd, initArgs, { encoding: "utf8" })
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const port = await freePort()
  const [cmd, args] = asPostgres(join(bin, "postgres"), [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200",
    "-c",
    "shared_buffers=256MB",
  ])
  child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], detached: false })
  let log = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000)
  })
  // The server must not keep the test process alive; the exit hook stops it.
  child.unref()
  const stderr = child.stderr
  if (stderr !== null && "unref" in stderr && typeof stderr.unref === "function") stderr.unref()
  const adminUrl = `postgres://postgres:${pgPassword}@127.0.0.1:${port}/postgres`
  try {
    await waitReady(adminUrl)
  } catch (error) {
    throw new Error(`PostgreSQL did not start: ${String(error)}\n${log}`)
  }
  return { adminUrl, host: "127.0.0.1", port, stop: cleanup }
}

const fromEnv = (url: string): PgServer => {
  const parsed = new URL(url)
  return { adminUrl: url, host: parsed.hostname, port: Number(parsed.port || 5432), stop: () => undefined }
}

/** The shared server of this test process, started on first use. */
export const pgServer = (): Promise<PgServer> => {
  if (started === undefined) {
    const url = process.env.DATABASE_URL
    started = url !== undefined && url !== "" ? Promise.resolve(fromEnv(url)) : startLocal()
  }
  return started
}

export const urlFor = (server: PgServer, database: string): string => {
  const url = new URL(server.adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** A fresh, empty database for one test; returns its URL. */
export const freshDatabase = async (prefix = "t"): Promise<string> => {
  const server = await pgServer()
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => undefined })
  counter += 1
  const name = `dbsweep_${prefix}_${process.pid}_${counter}`
  try {
    await admin`drop database if exists ${admin(name)}`
    await admin`create database ${admin(name)} template template0`
  } finally {
    await admin.end()
  }
  return urlFor(server, name)
}
