// An in-memory CouchDB 3.x HTTP API for tests, benchmarks and the demo, with fault injection.
// Behaviour follows /work/shared/COUCHDB-FACTS.md (a real 3.5.0's answers; couch-server-facts.test.ts
// checks them), https://docs.couchdb.org/en/stable/api/ and apache/couchdb's chttpd; where a detail
// is not obvious, the comment names its source. Like the facts' server it is a q=2 cluster: `_changes`
// interleaves two shards differently on every call (couch-changes.ts), and it locks a user out after
// 5 failed logins (couch-auth.ts). Standalone:
//   bun test/support/couch-server.ts --port 5984 --admin admin:secret [--user u:p] [--version 3.5.0]
//     [--latency MS] [--error-rate 0.2] [--drop-rate 0.05] [--drop-after-rate 0.05] [--seed N]
//     [--lockout-threshold 5] [--lockout-ms 300000] [--lockout-mode enforce|off]
import { createHmac, randomBytes } from "node:crypto"
import { parseArgs } from "node:util"
import { makeAdminRoutes } from "./couch-admin-routes.ts"
import {
  type Account,
  defaultSecurity,
  isDbAdmin,
  isMember,
  Lockout,
  type LockoutOptions,
  type Principal,
  plainAccount,
  principalOf,
  securityError,
  USER_PREFIX,
  userDocAccount,
  userDocUpdate,
} from "./couch-auth.ts"
import { decodeSeq, readFeed } from "./couch-changes.ts"
import { docsRoute, requestText } from "./couch-docs-routes.ts"
import { codePointOrder, jsonParam, keyRange } from "./couch-range.ts"
import {
  type Body,
  badRequest,
  CouchError,
  Db,
  type DocInput,
  type DocRecord,
  docJson,
  fail,
  findNode,
  illegalDbName,
  isObject,
  NEEDS_REV,
  parseJson,
  parseRev,
  type RevNode,
  revisionsOf,
  revOf,
  sortedLeaves,
  splitDoc,
  validateDocId,
} from "./couch-revs.ts"

export interface Faults {
  latencyMs?: number
  /** share of requests answered 500/503/429 (picked at random) without performing them */
  errorRate?: number
  /** share of requests whose connection is dropped without an answer, before the operation runs */
  dropRate?: number
  /** share of requests that ARE performed, then dropped without an answer (lost responses) */
  dropAfterRate?: number
  /** databases every request to which (`/{db}` and below) is answered 500, as a failing shard would */
  brokenDbs?: string[]
}
/**
 * A non-admin user, never a server admin: named in the `_security` members of every database
 * created (or only of those in `dbs`), as if an admin had put it there. `_users` documents written
 * over HTTP are accounts too.
 */
export interface CouchUser {
  user: string
  password: string
  dbs?: string[]
}
export interface CouchServerOptions {
  port?: number
  admin?: { user: string; password: string }
  users?: CouchUser[]
  version?: string
  faults?: Faults
  /** default 100 below 3.5.1, unlimited from 3.5.1 on */
  maxPurgeIds?: number
  maxPurgeRevs?: number
  /** the login lockout of CouchDB 3.4+ (default: enforce, 5 failures, 300 s) */
  lockout?: LockoutOptions
  /** seed of the fault PRNG (random when absent) */
  seed?: number
}
export interface CouchServer {
  url: string
  setFaults(f: Faults): void
  stop(): Promise<void>
}

interface Ctx {
  req: Request
  url: URL
  q: URLSearchParams
  method: string
  user: Principal
  /** the client address as CouchDB sees it (mochiweb_request:get(peer)) */
  peer: string
}

const versionAtLeast = (v: string, min: string): boolean => {
  const a = v.split(".").map(Number)
  const b = min.split(".").map(Number)
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0)
  return true
}
const mulberry32 = (seed: number) => (): number => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
// chttpd_db parses `limit` with list_to_integer: anything else is a badarg crash, answered 500
// with a random ref (facts §6: limit=abc).
const changesLimit = (q: URLSearchParams): number => {
  const v = q.get("limit")
  if (v === null) return Number.MAX_SAFE_INTEGER
  if (!/^[+-]?\d+$/.test(v))
    throw new CouchError(500, "unknown_error", "badarg", { ref: randomBytes(4).readUInt32BE() })
  return Number(v) < 0 ? fail(400, "query_parse_error", `Invalid value for integer: "${v}"`) : Number(v)
}
/** `_revs_info` of a rev: it and its ancestors, newest first (facts §2). */
const revsInfo = (n: RevNode): { rev: string; status: string }[] => {
  const out: { rev: string; status: string }[] = []
  for (let c: RevNode | undefined = n; c; c = c.parent)
    out.push({
      rev: revOf(c),
      status: c.body === undefined ? "missing" : c.deleted ? "deleted" : "available",
    })
  return out
}
const dropped = (): Response => new Response(new ReadableStream({ pull: (c) => c.error(undefined) }))

export async function startCouchServer(options: CouchServerOptions = {}): Promise<CouchServer> {
  const version = options.version ?? "3.5.0"
  // [purge] max_document_id_number (100) was lifted in 3.5.1; max_revisions_number stays 1000.
  const maxIds = options.maxPurgeIds ?? (versionAtLeast(version, "3.5.1") ? Number.POSITIVE_INFINITY : 100)
  const maxRevs = options.maxPurgeRevs ?? 1000
  const admin = options.admin
  const users = options.users ?? []
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32)
  const rng = mulberry32(seed)
  // A separate stream for the order of _changes rows, so fault draws stay as seeded.
  const interleave = mulberry32(seed ^ 0x5bd1e995)
  const uuid = randomBytes(16).toString("hex")
  const secret = randomBytes(16).toString("hex")
  const dbs = new Map<string, Db>()
  const admin$ = makeAdminRoutes(dbs) // compaction, _active_tasks, _replicator scheduling
  let faults: Faults = { ...options.faults }
  const baseHeaders = {
    "Content-Type": "application/json",
    "Cache-Control": "must-revalidate",
    Server: `CouchDB/${version} (Erlang OTP/26)`,
  }
  // While drops are injected, no connection is reused: Bun's fetch silently retries a request whose
  // pooled keep-alive connection resets (even a POST), which would hide the drop from the client.
  const json = (status: number, body: unknown, headers?: Record<string, string>): Response => {
    const close: Record<string, string> =
      faults.dropRate || faults.dropAfterRate ? { Connection: "close" } : {}
    return new Response(`${JSON.stringify(body)}\n`, {
      status,
      headers: { ...baseHeaders, ...close, ...headers },
    })
  }
  // CouchDB's default "sequential" uuids: a random prefix and an increasing suffix.
  const uuidPrefix = randomBytes(13).toString("hex")
  let uuidCount = 0
  const newUuid = (): string => {
    uuidCount += 1 + (uuidCount % 7)
    return uuidPrefix + uuidCount.toString(16).padStart(6, "0")
  }

  // --- authentication: cookie, then basic (couch_httpd_auth) -------------------------------------
  const lockout = new Lockout(options.lockout)
  const adminAccount = admin && plainAccount(admin.user, admin.password, ["_admin"])
  const userAccounts = new Map(users.map((u) => [u.user, plainAccount(u.user, u.password, [])]))
  // Config admins first, then users (couch_auth_cache:get_user_creds).
  const account = (name: string): Account | undefined => {
    if (adminAccount && name === adminAccount.name) return adminAccount
    const plain = userAccounts.get(name)
    if (plain) return plain
    const doc = dbs.get("_users")?.docs.get(`${USER_PREFIX}${name}`)
    const body = doc && !doc.winner.deleted ? doc.winner.body : undefined
    return body && userDocAccount(name, body)
  }
  const cookieHash = (name: string, time: string, salt: string): string =>
    createHmac("sha1", secret + salt)
      .update(`${name}:${time}`)
      .digest("hex")
  const makeCookie = (a: Account): string => {
    const time = Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase()
    const value = Buffer.from(`${a.name}:${time}:${cookieHash(a.name, time, a.salt)}`).toString("base64url")
    return `AuthSession=${value}; Version=1; Path=/; HttpOnly`
  }
  const anonymous: Principal = { name: null, roles: [], admin: false }
  /** A password check, behind the lockout: a locked user is refused even with the right password. */
  const login = (peer: string, name: string, password: string): Account => {
    const acct = account(name)
    const salt = acct?.salt ?? ""
    lockout.check(peer, name, salt)
    if (acct?.check(password)) return acct
    lockout.failed(peer, name, salt)
    return fail(401, "unauthorized", "Name or password is incorrect.")
  }
  const authenticate = (req: Request, peer: string): Principal => {
    if (!admin) return { name: null, roles: ["_admin"], admin: true } // admin party
    const cookie = /(?:^|;\s*)AuthSession=([^;]+)/.exec(req.headers.get("cookie") ?? "")?.[1]
    if (cookie) {
      const [name = "", time = "", hash] = Buffer.from(cookie, "base64url").toString().split(":")
      const acct = account(name)
      const fresh = Date.now() / 1000 < Number.parseInt(time, 16) + 600 // [chttpd_auth] timeout
      if (acct && fresh && hash === cookieHash(name, time, acct.salt)) return principalOf(acct, "cookie")
    }
    const header = req.headers.get("authorization")
    if (!header) return anonymous
    const [scheme = "", value = ""] = header.split(" ")
    if (scheme.toLowerCase() !== "basic") return badRequest("Authorization header is invalid")
    const decoded = Buffer.from(value, "base64").toString()
    const colon = decoded.indexOf(":")
    if (colon < 0 || decoded === "_:_") return anonymous
    const name = decoded.slice(0, colon)
    // An unknown name is refused without counting a failure (default_authentication_handler).
    if (!account(name)) fail(401, "unauthorized", "Name or password is incorrect.")
    return principalOf(login(peer, name, decoded.slice(colon + 1)), "default")
  }
  // require_admin answers 401 even to an authenticated non-admin (chttpd_auth_request and
  // chttpd_security_tests:should_disallow_db_member_purge expect "unauthorized").
  const requireAdmin = (ctx: Ctx, reason = "You are not a server admin."): void => {
    if (!ctx.user.admin) fail(401, "unauthorized", reason)
  }
  const requireMember = (ctx: Ctx, db: Db): void => {
    if (!isMember(ctx.user, db.security)) securityError(ctx.user)
  }
  /** What a validate_doc_update would say: design docs need a db admin; `_users` has its own rules. */
  const vet = (ctx: Ctx, db: Db, id: string, input: DocInput): DocInput => {
    if (id.startsWith("_design/") && !isDbAdmin(ctx.user, db.security))
      securityError(ctx.user, "You are not a db or server admin.")
    if (db.name !== "_users" || id.startsWith("_local/")) return input
    const old = db.docs.get(id)?.winner
    return userDocUpdate(id, input, old && !old.deleted ? old.body : undefined, ctx.user)
  }
  const notAllowed = (methods: string): never => fail(405, "method_not_allowed", `Only ${methods} allowed`)
  const requireJson = (req: Request): void => {
    if (req.headers.get("content-type")?.split(";")[0] !== "application/json")
      fail(415, "bad_content_type", "Content-Type must be application/json")
  }
  const readJson = async (req: Request): Promise<unknown> => {
    return parseJson(await requestText(req))
  }
  const readObject = async (req: Request): Promise<Record<string, unknown>> => {
    const v = await readJson(req)
    return isObject(v) ? v : badRequest("Request body must be a JSON object")
  }

  // --- handlers ------------------------------------------------------------------------------------
  const docReq = async (ctx: Ctx, db: Db, id: string): Promise<Response> => {
    const { q, method, req } = ctx
    const isLocal = id.startsWith("_local/")
    if (method === "GET" || method === "HEAD") {
      const rev = q.get("rev")
      const p = rev === null ? undefined : (parseRev(rev) ?? badRequest("Invalid rev format"))
      if (isLocal) {
        // Only the current rev opens a _local doc (facts §8).
        const l = db.local.get(id)
        if (!l || (rev !== null && rev !== `0-${l.rev}`)) fail(404, "not_found", "missing")
        return json(200, { _id: id, _rev: `0-${l.rev}`, ...l.body })
      }
      const doc = db.docs.get(id)
      let node: RevNode | undefined
      if (p) {
        node = findNode(doc, p.pos, p.hash)
        if (!node?.body) fail(404, "not_found", "missing")
      } else if (!doc) fail(404, "not_found", "missing")
      else if (doc.winner.deleted && q.get("deleted") !== "true") fail(404, "not_found", "deleted")
      else node = doc.winner
      const n = node ?? fail(404, "not_found", "missing")
      const out = docJson(id, n)
      const leaves = doc ? sortedLeaves(doc).filter((l) => l !== n) : []
      if (q.get("revs") === "true") out._revisions = revisionsOf(n)
      if (q.get("revs_info") === "true") out._revs_info = revsInfo(n)
      const live = leaves.filter((l) => !l.deleted).map(revOf)
      const dead = leaves.filter((l) => l.deleted).map(revOf)
      if (q.get("conflicts") === "true" && live.length) out._conflicts = live
      if (q.get("deleted_conflicts") === "true" && dead.length) out._deleted_conflicts = dead
      return json(200, out, { ETag: `"${revOf(n)}"` })
    }
    if (method !== "PUT" && method !== "DELETE") return notAllowed("DELETE,GET,HEAD,POST,PUT,COPY")
    let input: DocInput
    if (method === "PUT") input = splitDoc(await readJson(req))
    else {
      // DELETE opens the doc first, so a missing or deleted doc is a 404 (chttpd_db:db_doc_req).
      const doc = db.docs.get(id)
      if (isLocal ? !db.local.has(id) : !doc) fail(404, "not_found", "missing")
      if (doc?.winner.deleted) fail(404, "not_found", "deleted")
      input = { id, rev: undefined, deleted: true, revisions: undefined, body: {} }
    }
    const qsRev = q.get("rev") ?? req.headers.get("if-match")?.replaceAll('"', "") ?? undefined
    if (qsRev !== undefined && input.rev !== undefined && qsRev !== input.rev)
      badRequest("Document rev from request body and query string have different values")
    input.rev ??= qsRev
    if (input.rev !== undefined && !parseRev(input.rev)) badRequest("Invalid rev format")
    const newEdits = q.get("new_edits") !== "false"
    if (!newEdits && !input.rev && !input.revisions) badRequest(NEEDS_REV)
    const r = db.write(id, vet(ctx, db, id, input), newEdits)
    // A local doc's unusable rev is the updater's {error, "Invalid rev format"}: a 500 (facts §8).
    if (r.error) return json(r.error === "conflict" ? 409 : 500, { error: r.error, reason: r.reason })
    // update_doc: 200 for a deletion (DELETE or `_deleted: true`), 201 otherwise.
    return json(input.deleted ? 200 : 201, r, { ETag: `"${r.rev}"` })
  }

  const bulkDocs = async (ctx: Ctx, db: Db): Promise<Response> => {
    requireJson(ctx.req)
    const body = await readObject(ctx.req)
    const docs = body.docs
    if (docs === undefined) badRequest("POST body must include `docs` parameter.")
    if (!Array.isArray(docs)) return badRequest("`docs` parameter must be an array.")
    const newEdits = body.new_edits ?? true
    if (typeof newEdits !== "boolean") badRequest("`new_edits` parameter must be a boolean.")
    // Every doc is validated before any is written (chttpd_db: validate_revs per doc, then update).
    const inputs = docs.map((d) => {
      const input = splitDoc(d)
      if (input.id !== undefined) validateDocId(input.id)
      if (!newEdits && !input.rev && !input.revisions) badRequest(NEEDS_REV)
      return input
    })
    const results = inputs.map((input) => {
      const id = input.id ?? newUuid()
      try {
        return db.write(id, vet(ctx, db, id, input), newEdits)
      } catch (e) {
        // A validate_doc_update refusal fails that doc only.
        if (e instanceof CouchError && e.status < 500) return { id, error: e.error, reason: e.reason }
        throw e
      }
    })
    // Replicated writes answer only their errors: usually [] (chttpd_db, ?REPLICATED_CHANGES).
    return json(201, newEdits ? results : results.filter((r) => r.error))
  }

  // https://docs.couchdb.org/en/stable/api/database/bulk-api.html#db-all-docs
  const allDocs = async (ctx: Ctx, db: Db): Promise<Response> => {
    const { q } = ctx
    let keys = jsonParam(q, "keys")
    if (ctx.method === "POST") {
      requireJson(ctx.req)
      keys = (await readObject(ctx.req)).keys ?? keys
    }
    const includeDocs = q.get("include_docs") === "true"
    const row = (doc: DocRecord): Body => ({
      id: doc.id,
      key: doc.id,
      value: { rev: revOf(doc.winner), ...(doc.winner.deleted ? { deleted: true } : {}) },
      ...(includeDocs ? { doc: doc.winner.deleted ? null : docJson(doc.id, doc.winner) } : {}),
    })
    if (keys !== undefined) {
      if (!Array.isArray(keys)) badRequest("`keys` body member must be an array.")
      const rows = (keys as unknown[]).map((k) => {
        const doc = typeof k === "string" ? db.docs.get(k) : undefined
        const local = typeof k === "string" ? db.local.get(k) : undefined
        // ⚠ facts §4: asked by key, a _local doc is found (and only then).
        if (local) return { id: k, key: k, value: { rev: `0-${local.rev}` } }
        return doc ? row(doc) : { key: k, error: "not_found" }
      })
      return json(200, { total_rows: db.docCount, offset: null, rows })
    }
    const ids = db.liveIds()
    const { keys: page, offset } = keyRange(ids, q)
    const rows = page.map((id) => row(db.docs.get(id) as DocRecord))
    return json(200, { total_rows: db.docCount, offset, rows })
  }

  // https://docs.couchdb.org/en/stable/api/database/changes.html
  const changes = async (ctx: Ctx, db: Db): Promise<Response> => {
    const { q } = ctx
    let docIds: unknown = jsonParam(q, "doc_ids")
    if (ctx.method === "POST") {
      requireJson(ctx.req)
      const text = await requestText(ctx.req)
      if (text !== "") {
        const b = parseJson(text)
        if (!isObject(b)) badRequest("Request body must be a JSON object")
        docIds = b.doc_ids ?? docIds
      }
    }
    const feedType = q.get("feed") ?? "normal"
    if (feedType !== "normal") {
      if (["continuous", "longpoll", "live", "eventsource"].includes(feedType))
        badRequest(`feed=${feedType} is not implemented by the dbsweep CouchDB test server`)
      badRequest("Supported `feed` types: normal, continuous, live, longpoll, eventsource")
    }
    const since = q.get("since") ?? "0"
    const sinceV =
      since === "now"
        ? db.updateSeqs
        : (decodeSeq(since) ?? badRequest("Malformed sequence supplied in 'since' parameter."))
    const limit = Math.max(1, changesLimit(q)) // limit=0 acts as 1
    const allLeaves = q.get("style") === "all_docs"
    const includeDocs = q.get("include_docs") === "true"
    const ids =
      q.get("filter") === "_doc_ids" && Array.isArray(docIds) ? new Set(docIds.map(String)) : undefined
    const feed = readFeed(db.logs, db.updateSeqs, db.docs, {
      since: sinceV,
      limit,
      descending: q.get("descending") === "true",
      ids,
      random: interleave,
    })
    // seq_interval=N: only every Nth row carries its seq, the others null (computing a clustered
    // seq per row is what it saves); last_seq is always given. The coordinator counts the limit
    // down and packs the seq where what is left of it is a multiple of N, so with limit=7 and N=3
    // rows 2 and 5 carry theirs (fabric_view_changes:handle_message, checked on 3.5.0). A value
    // that is not a positive integer is a 400 invalid_seq_interval (chttpd_db:parse_changes_query).
    // https://docs.couchdb.org/en/stable/api/database/changes.html (seq_interval)
    const seqIntervalParam = q.get("seq_interval")
    const seqInterval = seqIntervalParam === null ? 1 : Number(seqIntervalParam)
    if (!/^\d+$/.test(seqIntervalParam ?? "1") || !(seqInterval > 0)) badRequest("invalid_seq_interval")
    const results = feed.rows.map(({ id, seq, doc }, i): Body => {
      const revs = allLeaves ? sortedLeaves(doc) : [doc.winner]
      return {
        seq: (limit - i) % seqInterval === 0 ? seq : null,
        id,
        changes: revs.map((n) => ({ rev: revOf(n) })),
        ...(doc.winner.deleted ? { deleted: true } : {}),
        ...(includeDocs ? { doc: docJson(id, doc.winner) } : {}),
      }
    })
    return json(200, { results, last_seq: feed.lastSeq, pending: feed.pending })
  }

  // https://docs.couchdb.org/en/stable/api/database/misc.html#db-purge (limits: chttpd_db, [purge])
  const purge = async (ctx: Ctx, db: Db): Promise<Response> => {
    requireJson(ctx.req)
    const entries = Object.entries(await readObject(ctx.req)).map(([id, revs]) => {
      if (!Array.isArray(revs)) return badRequest("Invalid list of revisions")
      for (const r of revs) if (!parseRev(r)) badRequest("Invalid rev format")
      return [id, revs as string[]] as const
    })
    if (entries.length > maxIds) badRequest("Exceeded maximum number of documents.")
    if (entries.reduce((n, [, revs]) => n + revs.length, 0) > maxRevs)
      badRequest("Exceeded maximum number of revisions.")
    const purged = db.purge(entries)
    return json(201, { purge_seq: null, purged })
  }

  const dbReq = async (ctx: Ctx, name: string, rest: string[]): Promise<Response> => {
    const { method } = ctx
    if (rest.length === 0 && (method === "PUT" || method === "DELETE")) {
      requireAdmin(ctx)
      if (method === "PUT") {
        // https://docs.couchdb.org/en/stable/api/database/common.html#put--db
        const system = ["_users", "_replicator", "_global_changes"].includes(name)
        if (!system && !/^[a-z][a-z0-9_$()+/-]*$/.test(name)) illegalDbName(name)
        if (dbs.has(name))
          fail(412, "file_exists", "The database could not be created, the file already exists.")
        const db = new Db(name)
        db.security = defaultSecurity(users.filter((u) => !u.dbs || u.dbs.includes(name)).map((u) => u.user))
        dbs.set(name, db)
        return json(201, { ok: true }, { Location: `${ctx.url.origin}/${encodeURIComponent(name)}` })
      }
      if (ctx.q.has("rev"))
        badRequest(
          "You tried to DELETE a database with a ?=rev parameter. Did you mean to DELETE a document instead?",
        )
      if (!dbs.delete(name)) fail(404, "not_found", "Database does not exist.")
      return json(200, { ok: true })
    }
    const [part = "", ...more] = rest
    // chttpd_auth_request runs before the db lookup: these are server-admin only, even for db admins.
    if (rest.length === 1 && ["_purge", "_purged_infos_limit"].includes(part)) requireAdmin(ctx)
    if (name === "_users" && rest.length === 1 && ["_all_docs", "_changes"].includes(part)) requireAdmin(ctx)
    const db = dbs.get(name) ?? fail(404, "not_found", "Database does not exist.")
    requireMember(ctx, db)
    const is = (...m: string[]): boolean => m.includes(method)
    if (rest.length === 0) {
      if (is("GET", "HEAD")) return json(200, admin$.info(db))
      if (!is("POST")) return notAllowed("DELETE,GET,HEAD,POST")
      requireJson(ctx.req)
      const input = splitDoc(await readJson(ctx.req))
      const id = input.id ?? newUuid()
      validateDocId(id)
      const r = db.write(id, vet(ctx, db, id, input), true)
      return r.error
        ? json(r.error === "conflict" ? 409 : 500, { error: r.error, reason: r.reason })
        : json(201, r)
    }
    const adminAnswer = admin$.dbRoute(ctx, db, rest)
    if (adminAnswer) return json(adminAnswer.status, adminAnswer.body)
    if (rest.length === 1) {
      // The document store's routes (_bulk_get, all_or_nothing): test/support/couch-docs-routes.ts.
      const docs = await docsRoute(part, method, ctx.req, ctx.q, db, json, notAllowed)
      if (docs !== undefined) return docs
      switch (part) {
        case "_changes":
          return is("GET", "HEAD", "POST") ? changes(ctx, db) : notAllowed("GET,POST,HEAD")
        case "_bulk_docs":
          return is("POST") ? bulkDocs(ctx, db) : notAllowed("POST")
        case "_all_docs":
          return is("GET", "HEAD", "POST") ? allDocs(ctx, db) : notAllowed("GET,HEAD,POST")
        case "_purge":
          return is("POST") ? purge(ctx, db) : notAllowed("POST")
        case "_purged_infos_limit":
          return purgedInfosLimit(ctx, db)
        case "_security":
          return security(ctx, db)
      }
      validateDocId(part)
      return docReq(ctx, db, part)
    }
    if ((part === "_local" || part === "_design") && more.length === 1)
      return docReq(ctx, db, `${part}/${more[0]}`)
    return fail(404, "not_found", "missing")
  }

  // chttpd_db: the bare number, or a positive integer to set (facts §1).
  const purgedInfosLimit = async (ctx: Ctx, db: Db): Promise<Response> => {
    if (ctx.method === "GET" || ctx.method === "HEAD") return json(200, db.purgedInfosLimit)
    if (ctx.method !== "PUT") return notAllowed("GET,PUT")
    const limit = await readJson(ctx.req)
    if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit <= 0)
      badRequest("`purged_infos_limit` must be positive integer")
    db.purgedInfosLimit = limit
    return json(200, { ok: true })
  }

  // https://docs.couchdb.org/en/stable/api/database/security.html
  const security = async (ctx: Ctx, db: Db): Promise<Response> => {
    if (ctx.method === "GET" || ctx.method === "HEAD") return json(200, db.security)
    if (ctx.method !== "PUT") return notAllowed("PUT,GET")
    // chttpd_db:validate_security_can_be_edited ([couchdb] users_db_security_editable = false)
    if (db.name === "_users")
      fail(403, "forbidden", "You can't edit the security object of the user database.")
    // couch_db:set_security checks the writer is a db admin before it looks at the body.
    if (!isDbAdmin(ctx.user, db.security)) securityError(ctx.user, "You are not a db or server admin.")
    db.security = await readObject(ctx.req)
    return json(200, { ok: true })
  }

  const session = async (ctx: Ctx): Promise<Response> => {
    if (ctx.method === "POST") {
      const ct = ctx.req.headers.get("content-type") ?? ""
      const text = await ctx.req.text()
      let form: unknown
      if (ct.startsWith("application/x-www-form-urlencoded"))
        form = Object.fromEntries(new URLSearchParams(text))
      else {
        requireJson(ctx.req)
        form = parseJson(text)
      }
      const f = isObject(form) ? form : {}
      const name = f.username ?? f.name
      if (typeof name !== "string") return badRequest("request body must contain a username")
      // Unlike basic auth, an unknown name here counts towards the lockout too (handle_session_req).
      const acct = login(ctx.peer, name, String(f.password ?? ""))
      const { roles } = acct
      return json(200, { ok: true, name, roles }, { "Set-Cookie": makeCookie(acct) })
    }
    if (ctx.method === "DELETE")
      return json(200, { ok: true }, { "Set-Cookie": "AuthSession=; Version=1; Path=/; HttpOnly" })
    if (ctx.method !== "GET" && ctx.method !== "HEAD") return notAllowed("GET,HEAD,POST,DELETE")
    const { name, roles, via } = ctx.user
    const info = { authentication_handlers: ["cookie", "default"], ...(via ? { authenticated: via } : {}) }
    return json(200, { ok: true, userCtx: { name, roles }, info })
  }

  const route = async (ctx: Ctx, segs: string[]): Promise<Response> => {
    const [first, ...rest] = segs
    const is = (...m: string[]): boolean => m.includes(ctx.method)
    if (first === undefined) {
      if (!is("GET", "HEAD")) return notAllowed("GET,HEAD")
      const features = [
        "quickjs",
        "access-ready",
        "partitioned",
        "pluggable-storage-engines",
        "reshard",
        "scheduler",
      ]
      const vendor = { name: "The Apache Software Foundation" }
      return json(200, { couchdb: "Welcome", version, git_sha: "dbsweep0", uuid, features, vendor })
    }
    if (!first.startsWith("_") || ["_users", "_replicator", "_global_changes"].includes(first))
      return dbReq(ctx, first, rest)
    const path = segs.join("/")
    // A single node has no seeds (facts §13).
    if (path === "_up")
      return is("GET", "HEAD") ? json(200, { status: "ok", seeds: {} }) : notAllowed("GET,HEAD")
    if (path === "_session") return session(ctx)
    requireAdmin(ctx) // every other server-level _ path is admin-only (admin_only_all_dbs=true in 3.x)
    if (path === "_all_dbs") {
      if (!is("GET", "HEAD")) return notAllowed("GET,HEAD")
      return json(200, keyRange([...dbs.keys()].sort(codePointOrder), ctx.q).keys)
    }
    // Many databases' info at once (observed on 3.5.0): POST {"keys":[…]} (at most 100) →
    // [{"key","info"}|{"key","error":"not_found"}] (2.2+); GET with _all_dbs' range parameters (3.2+).
    if (path === "_dbs_info" && versionAtLeast(version, "2.2.0")) {
      const infoOf = (key: unknown) => {
        const db = typeof key === "string" ? dbs.get(key) : undefined
        return db ? { key, info: admin$.info(db) } : { key, error: "not_found" }
      }
      if (is("GET", "HEAD"))
        return json(200, keyRange([...dbs.keys()].sort(codePointOrder), ctx.q).keys.map(infoOf))
      if (!is("POST")) return notAllowed("GET,HEAD,POST")
      requireJson(ctx.req)
      const body = await readObject(ctx.req)
      if (!Array.isArray(body.keys)) return badRequest("`keys` member must exist.")
      if (body.keys.length > 100) return badRequest("too_many_keys")
      return json(200, body.keys.map(infoOf))
    }
    // The server's config reads as all defaults: no section has a value set (facts §13: `purge` is {}).
    const config = /^_node\/(_local|nonode@nohost)\/_config\/([^/]+)(?:\/([^/]+))?$/.exec(path)
    if (config) {
      if (!is("GET", "HEAD")) return notAllowed("GET,HEAD")
      return config[3] === undefined ? json(200, {}) : fail(404, "not_found", "unknown_config_value")
    }
    const adminAnswer = admin$.serverRoute(ctx, path)
    if (adminAnswer) return json(adminAnswer.status, adminAnswer.body)
    if (path === "_active_tasks") return is("GET", "HEAD") ? json(200, []) : notAllowed("GET,HEAD")
    if (path === "_scheduler/jobs") return json(200, { total_rows: 0, offset: 0, jobs: [] })
    // chttpd treats any other name as a database, which `_x` cannot be.
    return illegalDbName(first)
  }

  const setFaults = (f: Faults): void => {
    const rate = (v: unknown): number => (typeof v === "number" && v > 0 ? Math.min(v, 1) : 0)
    faults = {
      latencyMs: typeof f.latencyMs === "number" && f.latencyMs > 0 ? f.latencyMs : 0,
      errorRate: rate(f.errorRate),
      dropRate: rate(f.dropRate),
      dropAfterRate: rate(f.dropAfterRate),
      brokenDbs: Array.isArray(f.brokenDbs) ? f.brokenDbs.filter((d) => typeof d === "string") : [],
    }
    if (faults.dropRate || faults.dropAfterRate) server?.closeIdleConnections()
  }
  let server: ReturnType<typeof Bun.serve> | undefined
  setFaults(faults)
  const injected = [
    [500, "unknown_error"],
    [503, "service_unavailable"],
    [429, "too_many_requests"],
  ] as const

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url)
    try {
      const segs = url.pathname.split("/").slice(1).map(decodeURIComponent)
      if (segs.at(-1) === "") segs.pop()
      const ctx: Ctx = {
        req,
        url,
        q: url.searchParams,
        method: req.method,
        user: anonymous,
        peer: peerOf(req),
      }
      if (segs[0] === "_dbsweep_test") {
        // Test-only control endpoint, never subject to faults.
        ctx.user = authenticate(req, ctx.peer)
        requireAdmin(ctx)
        if (segs[1] === "replications") {
          if (ctx.method === "PUT") admin$.setReplications((await readObject(req)) as never)
          else if (ctx.method !== "GET") return notAllowed("GET,PUT")
          return json(200, { ok: true, ...admin$.replications() })
        }
        if (segs[1] !== "faults") return fail(404, "not_found", "missing")
        if (ctx.method === "PUT") setFaults((await readObject(req)) as Faults)
        else if (ctx.method !== "GET") return notAllowed("GET,PUT")
        return json(200, { ok: true, faults })
      }
      let dropAfter = false
      if (segs.length > 0) {
        if (faults.latencyMs) await Bun.sleep(faults.latencyMs)
        const r = rng()
        const { dropRate = 0, errorRate = 0, dropAfterRate = 0 } = faults
        if (r < dropRate) return dropped()
        if (r < dropRate + errorRate) {
          const [status, error] = injected[Math.floor(rng() * injected.length)] ?? injected[0]
          return json(status, { error, reason: "injected" })
        }
        dropAfter = r < dropRate + errorRate + dropAfterRate
        if (faults.brokenDbs?.includes(segs[0]!)) {
          return json(500, { error: "unknown_error", reason: "injected: this database fails" })
        }
      }
      ctx.user = authenticate(req, ctx.peer)
      const res = await route(ctx, segs)
      return dropAfter ? dropped() : res
    } catch (e) {
      if (e instanceof CouchError) return json(e.status, { error: e.error, reason: e.reason, ...e.extra })
      if (e instanceof URIError) return json(400, { error: "bad_request", reason: "invalid URL encoding" })
      return json(500, { error: "unknown_error", reason: String(e) })
    }
  }

  // mochiweb_request:get(peer): a loopback client may name the address it forwards for.
  const peerOf = (req: Request): string => {
    const address = server?.requestIP(req)?.address ?? "127.0.0.1"
    const loopback = ["127.0.0.1", "::1", "::ffff:127.0.0.1"].includes(address)
    const forwarded = req.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim()
    return loopback ? forwarded || "127.0.0.1" : address
  }
  const srv = Bun.serve({ hostname: "127.0.0.1", port: options.port ?? 0, fetch: handle, idleTimeout: 60 })
  server = srv
  return { url: `http://127.0.0.1:${srv.port}`, setFaults, stop: () => srv.stop(true) }
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      admin: { type: "string" },
      user: { type: "string", multiple: true },
      version: { type: "string" },
      latency: { type: "string" },
      "error-rate": { type: "string" },
      "drop-rate": { type: "string" },
      "drop-after-rate": { type: "string" },
      seed: { type: "string" },
      "max-purge-ids": { type: "string" },
      "max-purge-revs": { type: "string" },
      "lockout-threshold": { type: "string" },
      "lockout-ms": { type: "string" },
      "lockout-mode": { type: "string" },
    },
  })
  const pair = (s: string): { user: string; password: string } => {
    const i = s.indexOf(":")
    if (i < 1) throw new Error(`expected user:password, got "${s}"`)
    return { user: s.slice(0, i), password: s.slice(i + 1) }
  }
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s))
  const server = await startCouchServer({
    port: Number(v.port),
    admin: v.admin ? pair(v.admin) : undefined,
    users: (v.user ?? []).map(pair),
    version: v.version,
    faults: {
      latencyMs: num(v.latency),
      errorRate: num(v["error-rate"]),
      dropRate: num(v["drop-rate"]),
      dropAfterRate: num(v["drop-after-rate"]),
    },
    seed: num(v.seed),
    maxPurgeIds: num(v["max-purge-ids"]),
    maxPurgeRevs: num(v["max-purge-revs"]),
    lockout: {
      threshold: num(v["lockout-threshold"]),
      durationMs: num(v["lockout-ms"]),
      mode: v["lockout-mode"] === "off" ? "off" : "enforce",
    },
  })
  process.stdout.write(`${server.url}\n`)
  const stop = (): void => {
    void server.stop().then(() => process.exit(0))
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
}
