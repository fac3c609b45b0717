/**
 * TLS as operators have it, for the tests: a certificate authority made with openssl for the
 * test alone, a server certificate for localhost and 127.0.0.1 signed by it, and TLS proxies that
 * put it in front of the CouchDB-API server (HTTPS) and PostgreSQL (its in-protocol TLS upgrade).
 */
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { connect, createServer, type Server, type Socket } from "node:net"
import { join } from "node:path"
import { createSecureContext, TLSSocket } from "node:tls"

export interface TestCa {
  /** The CA certificate (PEM file), what a client is told to trust. */
  readonly caFile: string
  readonly cert: string
  readonly key: string
}

const openssl = (args: ReadonlyArray<string>, cwd: string) => {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`)
}

/** A CA and a server certificate (localhost, 127.0.0.1) signed by it, in `dir`. */
export const makeCa = (dir: string, name = "dbsweep test CA"): TestCa => {
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"].concat([
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    ]),
    dir,
  )
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr"].concat([
      "-subj",
      "/CN=localhost",
    ]),
    dir,
  )
  writeFileSync(
    join(dir, "ext.cnf"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  )
  openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"].concat([
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ]),
    dir,
  )
  return {
    caFile: join(dir, "ca.pem"),
    cert: readFileSync(join(dir, "server.pem"), "utf8"),
    key: readFileSync(join(dir, "server.key"), "utf8"),
  }
}

/** HTTPS on 127.0.0.1 in front of `target` (an http:// base URL); its https:// base URL. */
export const httpsProxy = (target: string, ca: TestCa) => {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: ca.cert, key: ca.key },
    fetch: async (request) => {
      const url = new URL(request.url)
      const body =
        request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer()
      const answer = await fetch(`${target}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body,
        redirect: "manual",
      })
      const headers = new Headers(answer.headers)
      headers.delete("content-encoding")
      headers.delete("content-length")
      return new Response(await answer.arrayBuffer(), { status: answer.status, headers })
    },
  })
  return { url: `https://localhost:${server.port}`, stop: () => server.stop(true) }
}

/**
 * PostgreSQL's TLS in front of a plain server: answers the client's SSLRequest with 'S', takes the
 * TLS handshake with the test certificate, and passes the plain protocol on to `host:port`.
 */
export const pgTlsProxy = async (host: string, port: number, ca: TestCa) => {
  const context = createSecureContext({ cert: ca.cert, key: ca.key })
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.once("close", () => sockets.delete(client))
    client.once("data", (first: Buffer) => {
      // SSLRequest: length 8, code 80877103.
      if (first.length < 8 || first.readUInt32BE(4) !== 80877103) return client.destroy()
      client.write("S")
      const secure = new TLSSocket(client, { isServer: true, secureContext: context })
      const upstream = connect(port, host)
      sockets.add(upstream)
      upstream.once("close", () => sockets.delete(upstream))
      secure.pipe(upstream).pipe(secure)
      secure.on("error", () => upstream.destroy())
      upstream.on("error", () => secure.destroy())
    })
    client.on("error", () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const proxyPort = typeof address === "object" && address !== null ? address.port : 0
  return {
    port: proxyPort,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
