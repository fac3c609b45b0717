import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Context, type Duration, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { ConfigError } from "../shared/errors.ts"
import {
  boundedText,
  maxAnswerBytes,
  networkReason,
  notJson,
  parseJsonText,
  redactor,
  shapeMismatch,
} from "./answer.ts"
import {
  CouchBadRequest,
  CouchConflict,
  type CouchError,
  CouchForbidden,
  CouchNotFound,
  CouchProtocolError,
  CouchUnauthorized,
  CouchUnavailable,
} from "./errors.ts"
import {
  AllDbs,
  ChangesPage,
  DbInfo,
  ErrorBody,
  type PurgeAnswer,
  PurgeAnswer as PurgeAnswerSchema,
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

/** Error bodies are short JSON; more than this is read no further. */
const errorBodyBytes = 64 * 1024

const dbPath = (db: string) => `/${encodeURIComponent(db)}`

/** CouchDB's `{error, reason}` of a failed answer; empty when it sent something else. */
const errorBodyOf = (res: HttpClientResponse.HttpClientResponse) =>
  boundedText(res, errorBodyBytes).pipe(
    Effect.map((text) =>
      parseJsonText(text).pipe(
        Option.flatMap(Schema.decodeUnknownOption(ErrorBody)),
        Option.getOrElse(() => ({ error: undefined, reason: undefined })),
      ),
    ),
    Effect.orElseSucceed(() => ({ error: undefined, reason: undefined })),
  )

/** The error a non-2xx status means (`reason` already cleaned of credentials). */
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
  const http = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest((req) => {
      const withBase = HttpClientRequest.prependUrl(req, base)
      const json = HttpClientRequest.acceptJson(withBase)
      return user !== undefined && password !== undefined
        ? HttpClientRequest.basicAuth(json, user, Redacted.value(password))
        : json
    }),
  )

  const clean = redactor(user, password === undefined ? undefined : Redacted.value(password))

  const failure = (
    operation: string,
    db: string | undefined,
    res: HttpClientResponse.HttpClientResponse,
  ): Effect.Effect<never, CouchError> =>
    errorBodyOf(res).pipe(
      Effect.flatMap((body) =>
        Effect.fail(
          errorFor(res.status, {
            server,
            operation,
            db,
            reason: clean(body.reason ?? body.error ?? `HTTP ${res.status}`),
          }),
        ),
      ),
    )

  /** A 2xx answer's body, bounded in size and decoded with `schema`; anything else is a protocol error. */
  const decoded = <A, I>(
    operation: string,
    res: HttpClientResponse.HttpClientResponse,
    schema: Schema.Schema<A, I>,
  ): Effect.Effect<{ readonly status: number; readonly body: A }, CouchError> => {
    const protocol = (reason: string) => new CouchProtocolError({ server, operation, reason })
    return boundedText(res).pipe(
      Effect.mapError((problem) =>
        problem._tag === "TooLarge"
          ? protocol(`an answer of more than ${maxAnswerBytes / 1024 / 1024} MiB, more than CouchDB sends`)
          : new CouchUnavailable({ server, operation, kind: "network", reason: clean(problem.reason) }),
      ),
      Effect.flatMap((text) =>
        Option.match(parseJsonText(text), {
          onNone: () => Effect.fail(protocol(notJson(text, res.headers["content-type"]))),
          onSome: (json) =>
            Schema.decodeUnknown(schema)(json).pipe(
              Effect.mapError((e) => protocol(shapeMismatch(e))),
              Effect.map((body) => ({ status: res.status, body })),
            ),
        }),
      ),
    )
  }

  /** Sends one request under the timeout and decodes a 2xx answer with `schema`. */
  const send = <A, I>(
    operation: string,
    db: string | undefined,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I>,
  ): Effect.Effect<{ readonly status: number; readonly body: A }, CouchError> =>
    http.execute(request).pipe(
      Effect.mapError(
        (e) => new CouchUnavailable({ server, operation, kind: "network", reason: clean(networkReason(e)) }),
      ),
      Effect.flatMap((res) =>
        res.status >= 200 && res.status < 300 ? decoded(operation, res, schema) : failure(operation, db, res),
      ),
      Effect.timeoutFail({
        duration: connection.timeout,
        onTimeout: () => new CouchUnavailable({ server, operation, kind: "timeout", reason: "timed out" }),
      }),
    )

  const get = <A, I>(operation: string, db: string | undefined, path: string, schema: Schema.Schema<A, I>) =>
    send(operation, db, HttpClientRequest.get(path), schema).pipe(Effect.map((r) => r.body))

  const client: CouchClientShape = {
    server,
    request: send,
    serverInfo: get("GET /", undefined, "/", ServerInfo),
    dbInfo: (db) => get(`GET /${db}`, db, dbPath(db), DbInfo),
    allDbs: get("GET /_all_dbs", undefined, "/_all_dbs", AllDbs),
    changes: (db, params) =>
      send(
        `GET /${db}/_changes`,
        db,
        HttpClientRequest.get(`${dbPath(db)}/_changes`, {
          urlParams: {
            feed: "normal",
            style: params.style,
            since: params.since,
            limit: String(params.limit),
          },
        }),
        ChangesPage,
      ).pipe(Effect.map((r) => r.body)),
    purge: (db, revs) =>
      send(
        `POST /${db}/_purge`,
        db,
        HttpClientRequest.post(`${dbPath(db)}/_purge`).pipe(HttpClientRequest.bodyUnsafeJson(revs)),
        PurgeAnswerSchema,
      ).pipe(Effect.map((r) => ({ status: r.status, answer: r.body }))),
    getLocal: (db, id) =>
      get(
        `GET /${db}/_local/${id}`,
        db,
        `${dbPath(db)}/_local/${encodeURIComponent(id)}`,
        Schema.Unknown,
      ).pipe(
        Effect.map(Option.some),
        Effect.catchTag("CouchNotFound", (e) =>
          e.reason.includes("Database does not exist") ? Effect.fail(e) : Effect.succeedNone,
        ),
      ),
    putLocal: (db, id, body) =>
      send(
        `PUT /${db}/_local/${id}`,
        db,
        HttpClientRequest.put(`${dbPath(db)}/_local/${encodeURIComponent(id)}`).pipe(
          HttpClientRequest.bodyUnsafeJson(body),
        ),
        PutAnswer,
      ).pipe(Effect.map((r) => r.body.rev)),
  }
  return client
})
