// Routes the document-store work needs that the CouchDB-API test server did not have: `_bulk_get`
// (couchbackup reads through it) and `_bulk_docs` with `all_or_nothing`. Shapes are the observed
// ones of CouchDB 3.5.0 (/work/shared/COUCHDB-FACTS.md §3, §5) and the docs:
// https://docs.couchdb.org/en/stable/api/database/bulk-api.html#db-bulk-get
import { gunzipSync } from "node:zlib"
import {
  type Body,
  badRequest,
  type Db,
  docJson,
  findNode,
  isObject,
  parseJson,
  parseRev,
  type RevNode,
  revisionsOf,
  sortedLeaves,
} from "./couch-revs.ts"

/**
 * A request body as text, gunzipped when sent with `Content-Encoding: gzip` as CouchDB accepts
 * (couch_httpd:body decompresses it; the Cloudant SDK that couchbackup uses compresses bodies).
 */
export const requestText = async (req: Request): Promise<string> =>
  req.headers.get("content-encoding")?.toLowerCase() === "gzip"
    ? new TextDecoder().decode(gunzipSync(new Uint8Array(await req.arrayBuffer())))
    : req.text()

export type Reply = (status: number, body: unknown) => Response

/** A doc's answer in `_bulk_get`: one `ok` per revision asked (or per leaf), or the error. */
const bulkGetEntry = (db: Db, id: unknown, rev: unknown, revs: boolean): Body => {
  const key = typeof id === "string" ? id : String(id)
  // ⚠ facts §5: an absent rev is reported as the literal string "undefined".
  const missing = (r: unknown) => ({
    error: { rev: typeof r === "string" ? r : "undefined", reason: "missing", id: key, error: "not_found" },
  })
  const ok = (n: RevNode) => ({ ok: { ...docJson(key, n), ...(revs ? { _revisions: revisionsOf(n) } : {}) } })
  const doc = typeof id === "string" ? db.docs.get(id) : undefined
  if (doc === undefined) return { id: key, docs: [missing(rev)] }
  if (rev === undefined || rev === null) {
    // No rev: every leaf, deleted ones included (a tombstone is an `ok`), winner first.
    return { id: key, docs: sortedLeaves(doc).map(ok) }
  }
  const p = parseRev(rev)
  const node = p && findNode(doc, p.pos, p.hash)
  return { id: key, docs: [node?.body !== undefined || node?.deleted ? ok(node) : missing(rev)] }
}

/** POST /db/_bulk_get (facts §5). */
export const bulkGet = async (req: Request, q: URLSearchParams, db: Db, reply: Reply): Promise<Response> => {
  const body = parseJson(await requestText(req))
  const docs = isObject(body) ? body.docs : undefined
  if (!Array.isArray(docs)) return badRequest("Missing JSON list of 'docs'.")
  const revs = q.get("revs") === "true"
  const results = docs.map((d) =>
    isObject(d) ? bulkGetEntry(db, d.id, d.rev, revs) : badRequest("Invalid doc"),
  )
  return reply(200, { results })
}

/**
 * `_bulk_docs` with `"all_or_nothing": true` (facts §3): CouchDB 3 answers 417 with one
 * not_implemented element. Undefined when the request is an ordinary one (the body is read from a
 * clone, so the server's own handler still reads it).
 */
export const allOrNothing = async (req: Request, reply: Reply): Promise<Response | undefined> => {
  const text = await requestText(req.clone())
  const body = (() => {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return undefined
    }
  })()
  if (!isObject(body) || body.all_or_nothing !== true) return undefined
  return reply(417, [
    { id: "aon", rev: "0-", error: "not_implemented", reason: "all_or_nothing is not supported" },
  ])
}

/** The hook couch-server.ts calls for a `/{db}/{part}` request; undefined when it is not one of ours. */
export const docsRoute = async (
  part: string,
  method: string,
  req: Request,
  q: URLSearchParams,
  db: Db,
  reply: Reply,
  notAllowed: (allowed: string) => Response,
): Promise<Response | undefined> => {
  if (part === "_bulk_get") return method === "POST" ? bulkGet(req, q, db, reply) : notAllowed("POST")
  if (part === "_bulk_docs" && method === "POST") return allOrNothing(req, reply)
  return undefined
}
