import { HttpClientRequest } from "@effect/platform"
import { Clock, type Duration, Effect, Either, Option, Redacted } from "effect"
import { ConfigError, JobFailed } from "../shared/errors.ts"
import { needsAdmin, scrubbed } from "./admin-errors.ts"
import { redactor } from "./answer.ts"
import type { CouchClientShape } from "./client.ts"
import { isDbExisting, isDbMissing } from "./errors.ts"
import { JsonObject, PutAnswer, SchedulerDoc } from "./schema.ts"

/**
 * Replication as a `_replicator` document, so it survives restarts of CouchDB (a `POST /_replicate`
 * job does not), its state read back from the scheduler (COUCHDB-FACTS §10).
 * https://docs.couchdb.org/en/stable/replication/replicator.html
 */

/** One end of a replication: its URL without credentials (safe to print) and the credentials apart. */
export interface Endpoint {
  readonly url: string
  readonly username: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
}

/**
 * Reads `--source`/`--target`. A `_replicator` document needs full URLs (local names are refused,
 * COUCHDB-FACTS §10). The message never repeats the URL: it may hold a password.
 */
export const parseEndpoint = (flag: string, raw: string): Either.Either<Endpoint, string> => {
  if (!URL.canParse(raw))
    return Either.left(`${flag} is not a URL: expected e.g. http://user:password@127.0.0.1:5984/db`)
  const url = new URL(raw)
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return Either.left(`${flag} must start with http:// or https:// (got ${url.protocol}//)`)
  if (url.pathname.replace(/\/+$/, "") === "")
    return Either.left(`${flag} names no database: expected e.g. http://127.0.0.1:5984/db`)
  const username = url.username === "" ? undefined : decodeURIComponent(url.username)
  const password = url.password === "" ? undefined : Redacted.make(decodeURIComponent(url.password))
  if (username !== undefined && password === undefined)
    return Either.left(`${flag} has a user but no password: write http://user:password@host/db`)
  url.username = ""
  url.password = ""
  url.search = ""
  url.hash = ""
  return Either.right({ url: url.toString().replace(/\/+$/, ""), username, password })
}

/** Text with every endpoint password removed, in every form (plain, percent-encoded, base64). */
export const endpointRedactor = (endpoints: ReadonlyArray<Endpoint>) => {
  const cleaners = endpoints.map((e) =>
    redactor(e.username, e.password === undefined ? undefined : Redacted.value(e.password)),
  )
  return (text: string) => cleaners.reduce((t, clean) => clean(t), text)
}

const endpointDoc = (e: Endpoint) =>
  e.username === undefined || e.password === undefined
    ? { url: e.url }
    : { url: e.url, auth: { basic: { username: e.username, password: Redacted.value(e.password) } } }

export interface ReplicateOptions {
  readonly source: Endpoint
  readonly target: Endpoint
  readonly continuous: boolean
  readonly createTarget: boolean
  readonly selector: Option.Option<Readonly<Record<string, unknown>>>
  readonly id: Option.Option<string>
  readonly wait: boolean
  readonly poll: Duration.Duration
}

export interface ReplicationReport {
  readonly id: string
  readonly rev: string
  readonly source: string
  readonly target: string
  readonly continuous: boolean
  /** The scheduler's state: running, completed, crashing, error, … ("unknown" if not yet scheduled). */
  readonly state: string
  readonly info: Readonly<Record<string, unknown>> | null
}

const lastName = (url: string) => new URL(url).pathname.split("/").filter(Boolean).pop() ?? "db"
const slug = (text: string) =>
  decodeURIComponent(text)
    .replace(/[^a-z0-9]+/gi, "-")
    .toLowerCase()

/** Writes the document; creates `_replicator` first if this server has none yet. */
const writeDoc = (couch: CouchClientShape, id: string, doc: Record<string, unknown>) => {
  const put = couch.request(
    `PUT /_replicator/${id}`,
    "_replicator",
    HttpClientRequest.put(`/_replicator/${encodeURIComponent(id)}`).pipe(
      HttpClientRequest.bodyUnsafeJson(doc),
    ),
    PutAnswer,
  )
  const createReplicatorDb = couch
    .request("PUT /_replicator", undefined, HttpClientRequest.put("/_replicator"), JsonObject)
    .pipe(Effect.catchIf(isDbExisting, () => Effect.void))
  return put.pipe(
    Effect.catchTag("CouchNotFound", (e) =>
      isDbMissing(e) ? createReplicatorDb.pipe(Effect.zipRight(put)) : Effect.fail(e),
    ),
    needsAdmin,
    // The id is taken: writing over a running replication's document would restart it.
    Effect.catchTag("CouchConflict", () =>
      Effect.fail(
        new ConfigError({
          message: `a replication document _replicator/${id} already exists: pick another --id, or delete that document first`,
        }),
      ),
    ),
    Effect.map((r) => r.body.rev),
  )
}

const finalStates = new Set(["completed", "crashing", "error", "failed"])

/** The scheduler's view of the document; a 404 just after writing means not picked up yet. */
const readState = (couch: CouchClientShape, id: string) =>
  couch
    .request(
      `GET /_scheduler/docs/_replicator/${id}`,
      undefined,
      HttpClientRequest.get(`/_scheduler/docs/_replicator/${encodeURIComponent(id)}`),
      SchedulerDoc,
    )
    .pipe(
      needsAdmin,
      Effect.map((r) => Option.some(r.body)),
      Effect.catchTag("CouchNotFound", () => Effect.succeedNone),
    )

const replicateDoc = Effect.fn("Couch.replicate")(function* (
  couch: CouchClientShape,
  options: ReplicateOptions,
) {
  const clean = endpointRedactor([options.source, options.target])
  const now = yield* Clock.currentTimeMillis
  const id = Option.getOrElse(
    options.id,
    () =>
      `dbsweep-${slug(lastName(options.source.url))}-to-${slug(lastName(options.target.url))}-${now.toString(36)}`,
  )
  const doc: Record<string, unknown> = {
    source: endpointDoc(options.source),
    target: endpointDoc(options.target),
    ...(options.continuous ? { continuous: true } : {}),
    ...(options.createTarget ? { create_target: true } : {}),
    ...Option.match(options.selector, { onNone: () => ({}), onSome: (selector) => ({ selector }) }),
  }
  const rev = yield* writeDoc(couch, id, doc)
  yield* Effect.logInfo("replication document written").pipe(Effect.annotateLogs({ id, rev }))
  // Until the scheduler has it (a few polls), then, with --wait, until a one-off ends or a
  // continuous one is running.
  const settled = (s: Option.Option<SchedulerDoc>) =>
    Option.isSome(s) &&
    (!options.wait ||
      finalStates.has(s.value.state ?? "") ||
      (options.continuous && s.value.state === "running"))
  let state = yield* readState(couch, id)
  for (let polls = 1; !settled(state) && (options.wait || polls < 10); polls++) {
    yield* Effect.sleep(options.poll)
    state = yield* readState(couch, id)
  }
  const scheduled = Option.getOrUndefined(state)
  const report: ReplicationReport = {
    id,
    rev,
    source: clean(scheduled?.source ?? options.source.url),
    target: clean(scheduled?.target ?? options.target.url),
    continuous: options.continuous,
    state: scheduled?.state ?? "unknown",
    info:
      scheduled?.info === undefined || scheduled.info === null
        ? null
        : Object.fromEntries(
            Object.entries(scheduled.info).map(([k, v]) => [k, typeof v === "string" ? clean(v) : v]),
          ),
  }
  return report
})

/**
 * Writes the `_replicator` document and reads its state back. Whatever the server says in an
 * error passes through the endpoints' redactor too: their passwords are in the document sent.
 */
export const replicate = (couch: CouchClientShape, options: ReplicateOptions) =>
  replicateDoc(couch, options).pipe(
    Effect.mapError((e) =>
      e._tag === "BadConfig" ? e : scrubbed(endpointRedactor([options.source, options.target]))(e),
    ),
  )

/** A replication that is crashing or in error, as a failure of the command (exit 1). */
export const replicationProblem = (r: ReplicationReport): Option.Option<JobFailed> => {
  if (r.state !== "crashing" && r.state !== "error" && r.state !== "failed") return Option.none()
  const why = typeof r.info?.error === "string" ? `: ${r.info.error}` : ""
  return Option.some(
    new JobFailed({
      message: `replication ${r.id} is ${r.state}${why}; check the source and target URLs and their credentials, then delete _replicator/${r.id} and run again`,
    }),
  )
}
