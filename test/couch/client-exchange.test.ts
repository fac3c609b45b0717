import { afterAll, describe, expect, test } from "bun:test"
import { Duration, Effect, Either, Fiber, Option, Redacted } from "effect"
import { makeCouchClient } from "../../src/couch/client.ts"

/**
 * The one exchange every CouchDB request takes (one `Effect.async`, the answer settled in its
 * callback): an interrupted request is aborted, a slow one times out, an answer of each kind ends
 * as its typed error, and the password never reaches a message.
 */
const arrived: Array<string> = []
const aborted: Array<string> = []
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) => {
    const path = new URL(req.url).pathname
    arrived.push(path)
    if (path === "/hang") {
      return new Promise<Response>((resolve) => {
        req.signal.addEventListener("abort", () => {
          aborted.push(path)
          resolve(new Response("gone"))
        })
      })
    }
    if (path === "/db/_local/none")
      return Response.json({ error: "not_found", reason: "missing" }, { status: 404 })
    if (path === "/gone/_local/none")
      return Response.json({ error: "not_found", reason: "Database does not exist." }, { status: 404 })
    if (path === "/denied") {
      return Response.json({ error: "forbidden", reason: "no S3cret-Pass for you" }, { status: 403 })
    }
    if (path === "/html") return new Response("<html>", { headers: { "content-type": "text/html" } })
    if (path === "/db/_local/doc") return Response.json({ ok: true, id: "_local/doc", rev: "0-2" })
    return Response.json({ ok: true })
  },
})
afterAll(() => server.stop(true))

const client = (timeout = Duration.seconds(10)) =>
  Effect.runPromise(
    makeCouchClient({
      url: `http://127.0.0.1:${server.port}`,
      user: Option.some("admin"),
      password: Option.some(Redacted.make("S3cret-Pass")),
      timeout,
    }),
  )

describe("the CouchDB client's exchange", () => {
  test("an interrupted request is aborted at the server", async () => {
    const couch = await client()
    const fiber = Effect.runFork(couch.dbInfo("hang"))
    for (let i = 0; i < 200 && !arrived.includes("/hang"); i++) await Bun.sleep(5)
    expect(arrived).toContain("/hang")
    await Effect.runPromise(Fiber.interrupt(fiber))
    for (let i = 0; i < 200 && !aborted.includes("/hang"); i++) await Bun.sleep(5)
    expect(aborted).toContain("/hang")
  })

  test("a request slower than the timeout is a timeout", async () => {
    const couch = await client(Duration.millis(100))
    const r = await Effect.runPromise(Effect.either(couch.dbInfo("hang")))
    expect(Either.isLeft(r) && r.left._tag === "CouchUnavailable" && r.left.kind === "timeout").toBe(true)
  })

  test("answers settle as a value or as their typed error, without the password", async () => {
    const couch = await client()
    expect(await Effect.runPromise(couch.getLocal("db", "none"))).toEqual(Option.none())
    const gone = await Effect.runPromise(Effect.either(couch.getLocal("gone", "none")))
    expect(Either.isLeft(gone) && gone.left._tag).toBe("CouchNotFound")
    expect(await Effect.runPromise(couch.putLocal("db", "doc", { v: 1 }))).toBe("0-2")
    const denied = await Effect.runPromise(Effect.either(couch.dbInfo("denied")))
    expect(Either.isLeft(denied) && denied.left._tag).toBe("CouchForbidden")
    if (Either.isLeft(denied)) expect(denied.left.message).not.toContain("S3cret-Pass")
    const html = await Effect.runPromise(Effect.either(couch.dbInfo("html")))
    expect(Either.isLeft(html) && html.left._tag).toBe("CouchProtocolError")
    if (Either.isLeft(html)) expect(html.left.message).toContain("not JSON (text/html)")
    // A 2xx answer of the wrong shape: refused, naming the field.
    const shape = await Effect.runPromise(Effect.either(couch.putLocal("db", "other", {})))
    expect(Either.isLeft(shape) && shape.left._tag).toBe("CouchProtocolError")
    if (Either.isLeft(shape)) expect(shape.left.message).toContain("id")
  })
})
