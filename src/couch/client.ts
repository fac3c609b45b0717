import type { HttpBody, HttpClientRequest } from "@effect/platform"
import { Context, Duration, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { ConfigError } from "../shared/errors.ts"
import { UntrustedCertificate } from "../shared/tls.ts"
import { basicAuth, maxAnswerBytes, notJson, parseJsonText, redactor } from "./answer.ts"
import { type Decoder, decodeChangesPage, decodePurgeAnswer, schemaDecoder } from "./decode.ts"
import {
  CouchBadRequest,
  CouchConflict,
  type CouchError,
  CouchForbidden,
  CouchNotFound,
  CouchProtocolError,
  CouchUnauthorized,
  CouchUnavailable,
  noDatabase,
} from "./errors.ts"
import {
  type ExchangeLimits,
  type ExchangeProblem,
  type Incoming,
  type Outgoing,
  startExchange,
} from "./exchange.ts"
import {
  AllDbs,
  type ChangesPage,
  DbInfo,
  ErrorBody,
  type PurgeAnswer,
  PutAnswer,
  ServerInfo,
} from "./schema.ts"

/** Where and how to reach CouchDB. A password may come inside the URL; it never leaves this module. */
export interface CouchConnection {
  readonly url: string
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly timeout: Duration.Duration
}

interface ParsedUrl {
  readonly base: string
  readonly user: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
}

/** Splits credentials out of a CouchDB URL; the error never repeats the URL (it may hold a password). */
export const parseCouchUrl = (raw: string): Either.Either<ParsedUrl, string> => {
  if (!URL.canParse(raw)) return Either.left("COUCHDB_URL is not a URL: expected e.g. http://127.0.0.1:5984")
  const url = new URL(raw)
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(`COUCHDB_URL must start with http:// or https:// (got ${url.protocol}//)`)
  }
  const user = url.username === "" ? undefined : decodeURIComponent(url.username)
  const password = url.password === "" ? undefined : Redacted.make(decodeURIComponent(url.password))
  url.username = ""
  url.password = ""
  url.search = ""
  url.hash = ""
  return Either.right({ base: url.toString().replace(/\/+$/, ""), user, password })
}

export interface ChangesParams {
  readonly since: string
  readonly limit: number
  readonly style: "all_docs" | "main_only"
  /**
   * Only every Nth row carries its seq (the others null): a clustered CouchDB computes a seq per
   * row otherwise, which is most of what a page costs it.
   * https://docs.couchdb.org/en/stable/api/database/changes.html (seq_interval)
   */
  readonly seqInterval?: number
}

export interface PurgeResult {
  /** 201, or 202 when the purge was accepted without reaching quorum. */
  readonly status: number
  readonly answer: PurgeAnswer
}

export interface CouchClientShape {
  /** The server's URL without credentials: safe to print. */
  readonly server: string
  /**
   * Any request (its path relative to the server), under the timeout, its 2xx answer decoded with
   * `schema` and every other answer a typed error: what the document store and the admin calls
   * are built on. `db` names the database in a 404's message.
   */
  readonly request: <A, I>(
    operation: string,
    db: string | undefined,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I>,
  ) => Effect.Effect<{ readonly status: number; readonly body: A }, CouchError>
  readonly serverInfo: Effect.Effect<ServerInfo, CouchError>
  readonly dbInfo: (db: string) => Effect.Effect<DbInfo, CouchError>
  readonly allDbs: Effect.Effect<ReadonlyArray<string>, CouchError>
  readonly changes: (db: string, params: ChangesParams) => Effect.Effect<ChangesPage, CouchError>
  readonly purge: (
    db: string,
    revs: Record<string, ReadonlyArray<string>>,
  ) => Effect.Effect<PurgeResult, CouchError>
  /** A `_local/` document's body, or none. */
  readonly getLocal: (db: string, id: string) => Effect.Effect<Option.Option<unknown>, CouchError>
  /** Writes a `_local/` document (CouchDB wants the current `_rev` in the body); returns the new rev. */
  readonly putLocal: (
    db: string,
    id: string,
    body: Record<string, unknown>,
  ) => Effect.Effect<string, CouchError>
}

export class CouchClient extends Context.Tag("dbsweep/CouchClient")<CouchClient, CouchClientShape>() {
  static readonly layer = (connection: CouchConnection) =>
    Layer.effect(CouchClient, makeCouchClient(connection))
}

const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/** Error bodies are short JSON; more than this is read no further. */
const errorBodyBytes = 64 * 1024

const dbPath = (db: string) => `/${encodeURIComponent(db)}`

const utf8 = new TextDecoder()

const anyJson = schemaDecoder(Schema.Unknown)

const putAnswer = schemaDecoder(PutAnswer)

/** Each Schema's decoder, made once: the stores and admin calls pass the same few schemas. */
const decoders = new WeakMap<object, Decoder<unknown>>()
const decoderOf = <A, I>(schema: Schema.Schema<A, I>): Decoder<A> => {
  const known = decoders.get(schema) as Decoder<A> | undefined
  if (known !== undefined) return known
  const made = schemaDecoder(schema)
  decoders.set(schema, made as Decoder<unknown>)
  return made
}

/** The body of a request description, as `fetch` sends it (dbsweep only ever sends JSON). */
const fetchBody = (body: HttpBody.HttpBody): Outgoing["body"] => {
  switch (body._tag) {
    case "Uint8Array":
      return utf8.decode(body.body)
    case "Raw":
      return typeof body.body === "string" ? body.body : undefined
    case "FormData":
      return body.formData
    default:
      return undefined
  }
}

/** A request description as `fetch` sends it: the base URL, the client's headers, a JSON body. */
const outgoingOf = (
  base: string,
  headers: Record<string, string>,
  request: HttpClientRequest.HttpClientRequest,
): Outgoing => {
  const query =
    request.urlParams.length === 0 ? "" : `?${new URLSearchParams(request.urlParams.map(([k, v]) => [k, v]))}`
  const out: Outgoing = {
    method: request.method,
    url: `${base}${request.url}${query}`,
    headers: { ...headers, ...request.headers },
    body: fetchBody(request.body),
  }
  if (out.body !== undefined && out.headers["content-type"] === undefined) {
    out.headers["content-type"] = request.body.contentType ?? "application/json"
  }
  return out
}

/** The typed error a non-2xx status means (`reason` already cleaned of credentials). */
const errorFor = (
  status: number,
  at: {
    readonly server: string
    readonly operation: string
    readonly db: string | undefined
    readonly reason: string
  },
): CouchError => {
  const { server, operation, reason } = at
  switch (status) {
    case 400:
      return new CouchBadRequest({ server, operation, reason })
    case 401:
      return new CouchUnauthorized({ server, operation, reason })
    case 403:
      return new CouchForbidden({ server, operation, reason })
    case 404:
      return new CouchNotFound({ server, database: at.db, path: operation, reason })
    case 409:
      return new CouchConflict({ server, path: operation })
    default:
      return status === 408 || status === 429 || status >= 500
        ? new CouchUnavailable({ server, operation, kind: "status", status, reason })
        : new CouchProtocolError({ server, operation, reason: `HTTP ${status} ${reason}` })
  }
}

/** The typed error of an exchange that got no answer to decode. */
const unreachable = (
  server: string,
  operation: string,
  problem: ExchangeProblem,
  clean: (text: string) => string,
): CouchError => {
  switch (problem._tag) {
    case "TooLarge":
      return new CouchProtocolError({
        server,
        operation,
        reason: `an answer of more than ${maxAnswerBytes / 1024 / 1024} MiB, more than CouchDB sends`,
      })
    case "Timeout":
      return new CouchUnavailable({ server, operation, kind: "timeout", reason: "timed out" })
    default:
      return problem.certificate !== undefined
        ? new UntrustedCertificate({ server, reason: problem.certificate })
        : new CouchUnavailable({ server, operation, kind: "network", reason: clean(problem.reason) })
  }
}

export const makeCouchClient = Effect.fn("Couch.make")(function* (connection: CouchConnection) {
  const parsed = parseCouchUrl(connection.url)
  if (Either.isLeft(parsed)) return yield* new ConfigError({ message: parsed.left })
  const { base } = parsed.right
  const user = Option.getOrUndefined(connection.user) ?? parsed.right.user
  const password = Option.getOrUndefined(connection.password) ?? parsed.right.password
  if (user !== undefined && password === undefined) {
    return yield* new ConfigError({
      message: `a CouchDB user (${user}) is set but no password: set COUCHDB_PASSWORD or COUCHDB_PASSWORD_FILE`,
    })
  }
  const server = base
  const headers: Record<string, string> = { accept: "application/json" }
  if (user !== undefined && password !== undefined) {
    headers.authorization = basicAuth(user, Redacted.value(password))
  }
  const jsonHeaders = { ...headers, "content-type": "application/json" }
  const limits: ExchangeLimits = {
    timeoutMs: Duration.toMillis(connection.timeout),
    maxBytes: maxAnswerBytes,
    errorBytes: errorBodyBytes,
  }
  const clean = redactor(user, password === undefined ? undefined : Redacted.value(password))

  /** The typed error of a non-2xx answer, its reason from CouchDB's error body when it sent one. */
  const failure = (operation: string, db: string | undefined, res: Incoming): CouchError => {
    const body = Option.getOrElse(Option.flatMap(parseJsonText(res.text), decodeErrorBody), () => ({
      error: undefined,
      reason: undefined,
    }))
    const reason = clean(body.reason ?? body.error ?? `HTTP ${res.status}`)
    return errorFor(res.status, { server, operation, db, reason })
  }

  /** What an exchange ended in: a decoded 2xx answer, or the typed error a user can act on. */
  const settle = <A>(
    operation: string,
    db: string | undefined,
    res: Incoming,
    decode: Decoder<A>,
  ): Either.Either<{ readonly status: number; readonly body: A }, CouchError> => {
    if (res.status < 200 || res.status >= 300) return Either.left(failure(operation, db, res))
    const protocol = (reason: string) => new CouchProtocolError({ server, operation, reason })
    let json: unknown
    try {
      json = JSON.parse(res.text)
    } catch {
      return Either.left(protocol(notJson(res.text, res.contentType)))
    }
    return Either.match(decode(json), {
      onLeft: (reason) => Either.left(protocol(reason)),
      onRight: (body) => Either.right({ status: res.status, body }),
    })
  }

  /**
   * The one way out: sends one request under the timeout and hands its answer to `onAnswer`; an
   * exchange that got no answer is a typed error. One `Effect.async` per request and nothing else
   * on the happy path: what the answer means (decoded body or typed error) is settled in the
   * exchange's own callback, not in further effects. Interrupting it aborts the request.
   */
  const run = <B>(
    operation: string,
    out: Outgoing,
    onAnswer: (res: Incoming) => Either.Either<B, CouchError>,
  ): Effect.Effect<B, CouchError> =>
    Effect.async<B, CouchError>((resume) => {
      const abort = startExchange(out, limits, (result) => {
        if (Either.isLeft(result))
          return resume(Either.left(unreachable(server, operation, result.left, clean)))
        let settled: Either.Either<B, CouchError>
        try {
          settled = onAnswer(result.right)
        } catch (defect) {
          // A bug in a decoder, not a user's error: the fiber dies with it instead of hanging.
          return resume(Effect.die(defect))
        }
        resume(settled)
      })
      return Effect.sync(abort)
    })

  /** `run` with a 2xx answer decoded by `decode`; every other outcome a typed error. */
  const call = <A>(
    operation: string,
    db: string | undefined,
    out: Outgoing,
    decode: Decoder<A>,
  ): Effect.Effect<{ readonly status: number; readonly body: A }, CouchError> =>
    run(operation, out, (res) => settle(operation, db, res, decode))

  /** `call` answering the decoded body alone. */
  const callBody = <A>(
    operation: string,
    db: string | undefined,
    out: Outgoing,
    decode: Decoder<A>,
  ): Effect.Effect<A, CouchError> =>
    run(operation, out, (res) => Either.map(settle(operation, db, res, decode), (r) => r.body))

  /** A request description (the stores' and admin calls') sent through `call`. */
  const send = <A, I>(
    operation: string,
    db: string | undefined,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I>,
  ): Effect.Effect<{ readonly status: number; readonly body: A }, CouchError> => {
    // No caller streams a request body; one that did would be a programming error, not a user's.
    if (request.body._tag === "Stream") return Effect.dieMessage("CouchDB requests take no streamed body")
    return call(operation, db, outgoingOf(base, headers, request), decoderOf(schema))
  }

  /** A request without a body to `path` (relative to the server). */
  const getOut = (path: string): Outgoing => ({
    method: "GET",
    url: `${base}${path}`,
    headers,
    body: undefined,
  })

  /** A request with `body` as JSON to `path` (relative to the server). */
  const jsonOut = (method: "POST" | "PUT", path: string, body: unknown): Outgoing => ({
    method,
    url: `${base}${path}`,
    headers: jsonHeaders,
    body: JSON.stringify(body),
  })

  const localPath = (db: string, id: string) => `${dbPath(db)}/_local/${encodeURIComponent(id)}`

  const get = <A, I>(operation: string, db: string | undefined, path: string, schema: Schema.Schema<A, I>) =>
    callBody(operation, db, getOut(path), decoderOf(schema))

  const client: CouchClientShape = {
    server,
    request: send,
    serverInfo: get("GET /", undefined, "/", ServerInfo),
    dbInfo: (db) => get(`GET /${db}`, db, dbPath(db), DbInfo),
    allDbs: get("GET /_all_dbs", undefined, "/_all_dbs", AllDbs),
    changes: (db, params) =>
      callBody(
        `GET /${db}/_changes`,
        db,
        getOut(
          `${dbPath(db)}/_changes?${new URLSearchParams({
            feed: "normal",
            style: params.style,
            since: params.since,
            limit: String(params.limit),
            ...(params.seqInterval === undefined ? {} : { seq_interval: String(params.seqInterval) }),
          })}`,
        ),
        decodeChangesPage,
      ),
    purge: (db, revs) => {
      const operation = `POST /${db}/_purge`
      return run(operation, jsonOut("POST", `${dbPath(db)}/_purge`, revs), (res) =>
        Either.map(settle(operation, db, res, decodePurgeAnswer), (r) => ({
          status: r.status,
          answer: r.body,
        })),
      )
    },
    getLocal: (db, id) => {
      const operation = `GET /${db}/_local/${id}`
      // A missing document is the usual answer (a database never purged): none, without the
      // typed error a 404 makes elsewhere. A missing database is that error, as always.
      return run(operation, getOut(localPath(db, id)), (res) =>
        res.status === 404 && !res.text.includes(noDatabase)
          ? Either.right(Option.none())
          : Either.map(settle(operation, db, res, anyJson), (r) => Option.some(r.body)),
      )
    },
    putLocal: (db, id, body) => {
      const operation = `PUT /${db}/_local/${id}`
      return run(operation, jsonOut("PUT", localPath(db, id), body), (res) =>
        Either.map(settle(operation, db, res, putAnswer), (r) => r.body.rev),
      )
    },
  }
  return client
})
