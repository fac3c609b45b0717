import { Cause, Chunk, Effect, Option, Schema, Stream } from "effect"
import { Hono } from "hono"
import { stream as streamBody } from "hono/streaming"
import { ServeServices } from "../app.ts"
import type { DocumentStoreShape } from "../docs/store.ts"
import { BadBody, JobUnavailable } from "../errors.ts"
import { requireStatusAccess, requireToken } from "./auth.ts"
import { jsonBody, limitBody } from "./body.ts"
import { errorResponse, type HttpEnv, type HttpSettings, respond, type ServeRuntime } from "./respond.ts"

const storeOf = ServeServices.pipe(
  Effect.flatMap((s) =>
    Option.match(s.store, {
      onNone: () =>
        Effect.fail(
          new JobUnavailable({
            job: "the document API",
            needs: "no document store is configured on this server",
          }),
        ),
      onSome: (store) => Effect.succeed(store),
    }),
  ),
)

/** A document body: a JSON object (its `_id`, if any, is the path's). */
const DocBody = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** `?limit=` and `?after=` of a paged listing. */
const PageQuery = Schema.Struct({
  limit: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)), {
    default: () => 100,
  }),
  after: Schema.optional(Schema.String),
})

const badQuery = (e: { readonly message: string }) =>
  new BadBody({ reason: `bad query: ${e.message.split("\n").slice(-1)[0]?.trim()}`, tooLarge: false })

export const saveDoc = Effect.fn("Http.saveDoc")(function* (collection: string, id: string, body: unknown) {
  const doc = yield* Schema.decodeUnknown(DocBody)(body).pipe(
    Effect.mapError(() => new BadBody({ reason: "the document must be a JSON object", tooLarge: false })),
  )
  const store = yield* storeOf
  return yield* store.save(collection, id, doc)
})

/** One page of a collection, in id order, after the id `after` (paged by key, never by skip). */
export const pageOf = Effect.fn("Http.pageOf")(function* (collection: string, query: unknown) {
  const q = yield* Schema.decodeUnknown(PageQuery)(query).pipe(Effect.mapError(badQuery))
  const store = yield* storeOf
  const docs = yield* store.list(collection).pipe(
    Stream.dropWhile((d) => q.after !== undefined && d._id <= q.after),
    Stream.take(q.limit + 1),
    Stream.runCollect,
  )
  const all = Chunk.toReadonlyArray(docs)
  const page = all.slice(0, q.limit)
  return { docs: page, next: all.length > q.limit ? page[page.length - 1]?._id : undefined }
})

const ndjson = (store: DocumentStoreShape, collection: string) =>
  store.list(collection).pipe(Stream.map((d) => `${JSON.stringify(d)}\n`))

/** `/docs`: the document store port over HTTP. Writes need the token. */
export const docRoutes = (runtime: ServeRuntime, settings: HttpSettings) => {
  const write = requireToken(settings)
  const read = requireStatusAccess(settings)
  return new Hono<HttpEnv>()
    .get("/", read, (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(storeOf, (s) => s.collections),
      ),
    )
    .get("/:collection", read, async (c) => {
      const collection = c.req.param("collection")
      const wantsNdjson = (c.req.header("accept") ?? "").includes("application/x-ndjson")
      if (!wantsNdjson) return respond(runtime, c, pageOf(collection, c.req.query()))
      // The first document is read before answering, so a missing collection is still a 404.
      const first = await runtime.runPromiseExit(
        Effect.flatMap(storeOf, (store) => Stream.runDrain(Stream.take(store.list(collection), 1))),
      )
      if (first._tag === "Failure") {
        return Option.match(Cause.failureOption(first.cause), {
          onSome: (e) => errorResponse(c, e),
          onNone: () => respond(runtime, c, Effect.die("list failed")),
        })
      }
      const lines = Stream.unwrap(Effect.map(storeOf, (store) => ndjson(store, collection))).pipe(
        // A failure after the answer has begun can only be told in the body: one last error line.
        Stream.catchAll((e) => Stream.make(`${JSON.stringify({ error: e._tag, message: e.message })}\n`)),
      )
      const iterable = Stream.toAsyncIterableRuntime(lines, await runtime.runtime())
      c.header("content-type", "application/x-ndjson")
      return streamBody(c, async (out) => {
        for await (const line of iterable) {
          if (out.aborted) break
          await out.write(line)
        }
      })
    })
    .get("/:collection/:id", read, (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(storeOf, (s) => s.get(c.req.param("collection"), c.req.param("id"))),
      ),
    )
    .put("/:collection/:id", write, limitBody(settings), (c) =>
      respond(
        runtime,
        c,
        jsonBody(c).pipe(
          Effect.flatMap((body) => saveDoc(c.req.param("collection"), c.req.param("id"), body)),
        ),
      ),
    )
    .delete("/:collection/:id", write, (c) =>
      respond(
        runtime,
        c,
        Effect.flatMap(storeOf, (s) => s.delete(c.req.param("collection"), c.req.param("id"))),
      ),
    )
}
