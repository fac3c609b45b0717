// The storage model of the CouchDB-API test server (CouchDB 3.x semantics): revision trees,
// the by-seq change log with opaque seqs, and one database's documents, _local docs and purges.
// https://docs.couchdb.org/en/stable/replication/conflicts.html#working-with-conflicting-documents
import { ChangeLog, encodeSeq, Q, shardOf } from "./couch-changes.ts"
import { codePointOrder } from "./couch-range.ts"
import { newRevId } from "./couch-term.ts"

export class CouchError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    /** more members of the error body */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(reason)
  }
}
export function fail(status: number, error: string, reason: string): never {
  throw new CouchError(status, error, reason)
}
export function badRequest(reason: string): never {
  throw new CouchError(400, "bad_request", reason)
}
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)
export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return badRequest("invalid UTF-8 JSON")
  }
}
export const NEEDS_REV = "When `new_edits: false`, the document needs `_rev` or `_revisions` specified"
export const illegalDbName = (name: string): never =>
  fail(
    400,
    "illegal_database_name",
    `Name: '${name}'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.`,
  )

export type Body = Record<string, unknown>

export interface RevNode {
  readonly pos: number
  readonly hash: string
  readonly parent: RevNode | undefined
  deleted: boolean
  /** undefined for ancestors known only by id (inserted through `_revisions` with new_edits=false) */
  body: Body | undefined
  leaf: boolean
}

export interface DocRecord {
  readonly id: string
  nodes: RevNode[]
  winner: RevNode
  /** its shard, the shard seq of its latest change, and that change's position in the shard's log */
  readonly shard: number
  seq: number
  logPos: number
}

export const revOf = (n: RevNode): string => `${n.pos}-${n.hash}`

/** couch_doc:parse_rev: "N-id", where an id of 32 characters must be hex (it becomes 16 bytes). */
export const parseRev = (rev: unknown): { pos: number; hash: string } | undefined => {
  if (typeof rev !== "string") return undefined
  const m = /^(\d+)-(.+)$/.exec(rev)
  if (!m?.[1] || !m[2] || (m[2].length === 32 && !/^[0-9a-fA-F]{32}$/.test(m[2]))) return undefined
  return { pos: Number(m[1]), hash: m[2] }
}

/**
 * CouchDB's deterministic winner order: live leaves before deleted ones, then the highest
 * generation, then the highest rev id (byte order).
 * https://docs.couchdb.org/en/stable/replication/conflicts.html (“how does CouchDB decide which revision to use?”)
 */
export const compareLeaves = (a: RevNode, b: RevNode): number => {
  if (a.deleted !== b.deleted) return a.deleted ? 1 : -1
  if (a.pos !== b.pos) return b.pos - a.pos
  return a.hash < b.hash ? 1 : a.hash > b.hash ? -1 : 0
}

export const sortedLeaves = (doc: DocRecord): RevNode[] => doc.nodes.filter((n) => n.leaf).sort(compareLeaves)

export const pickWinner = (nodes: readonly RevNode[]): RevNode | undefined => {
  let best: RevNode | undefined
  for (const n of nodes) if (n.leaf && (best === undefined || compareLeaves(n, best) < 0)) best = n
  return best
}

export const findNode = (doc: DocRecord | undefined, pos: number, hash: string): RevNode | undefined =>
  doc?.nodes.find((n) => n.pos === pos && n.hash === hash)

export const findLeaf = (doc: DocRecord | undefined, rev: string): RevNode | undefined => {
  const p = parseRev(rev)
  const n = p && findNode(doc, p.pos, p.hash)
  return n?.leaf ? n : undefined
}

/** The `_revisions` object of a rev: its id and its ancestors' ids, newest first. */
export const revisionsOf = (n: RevNode): { start: number; ids: string[] } => {
  const ids: string[] = []
  for (let c: RevNode | undefined = n; c; c = c.parent) ids.push(c.hash)
  return { start: n.pos, ids }
}

/** Adds a child leaf under `parent` (undefined = a new root). */
export const addLeaf = (
  doc: DocRecord | undefined,
  id: string,
  parent: RevNode | undefined,
  hash: string,
  deleted: boolean,
  body: Body | undefined,
): { doc: DocRecord; node: RevNode } => {
  const node: RevNode = { pos: parent ? parent.pos + 1 : 1, hash, parent, deleted, body, leaf: true }
  if (parent) parent.leaf = false
  if (!doc) return { doc: { id, nodes: [node], winner: node, shard: shardOf(id), seq: 0, logPos: -1 }, node }
  doc.nodes.push(node)
  doc.winner = pickWinner(doc.nodes) ?? node
  return { doc, node }
}

/**
 * Inserts a replicated revision path as-is (new_edits=false): ids newest first, the newest at `start`.
 * Unknown ancestors become body-less stubs; a path that joins no existing node starts a new branch.
 * Returns changed=false when the newest rev was already known (CouchDB ignores it).
 */
export const insertPath = (
  doc: DocRecord | undefined,
  id: string,
  start: number,
  ids: readonly string[],
  deleted: boolean,
  body: Body,
): { doc: DocRecord; changed: boolean } => {
  const nodes: RevNode[] = doc ? doc.nodes : []
  // The newest rev of the path already in the tree anchors the new part (stemmed paths need no stubs above it).
  let anchor = ids.length
  let cur: RevNode | undefined
  for (let i = 0; i < ids.length && !cur; i++) {
    cur = nodes.find((n) => n.pos === start - i && n.hash === ids[i])
    if (cur) anchor = i
  }
  if (anchor === 0) {
    if (!doc) throw new Error("unreachable: a known rev without a doc")
    return { doc, changed: false }
  }
  let created: RevNode | undefined
  for (let i = anchor - 1; i >= 0; i--) {
    created = { pos: start - i, hash: ids[i] ?? "", parent: cur, deleted: false, body: undefined, leaf: true }
    if (cur) cur.leaf = false
    nodes.push(created)
    cur = created
  }
  if (!created) throw new Error("insertPath needs at least one rev id")
  created.deleted = deleted
  created.body = body
  const winner = pickWinner(nodes) ?? created
  if (doc) {
    doc.winner = winner
    return { doc, changed: true }
  }
  return { doc: { id, nodes, winner, shard: shardOf(id), seq: 0, logPos: -1 }, changed: true }
}

/**
 * Purges leaf revs: only current leaves are removed; other revs are ignored. Like
 * couch_key_tree:remove_leafs, the tree is rebuilt from the remaining leaf paths, so ancestors
 * that only led to purged leaves go too (a parent does not become a leaf again).
 * https://docs.couchdb.org/en/stable/api/database/misc.html#db-purge
 */
export const purgeLeaves = (doc: DocRecord, revs: readonly string[]): string[] => {
  const purged: string[] = []
  for (const rev of revs) {
    const leaf = findLeaf(doc, rev)
    if (leaf && !purged.includes(rev)) purged.push(rev)
  }
  if (purged.length === 0) return purged
  const keep = new Set<RevNode>()
  for (const n of doc.nodes)
    if (n.leaf && !purged.includes(revOf(n)))
      for (let c: RevNode | undefined = n; c; c = c.parent) keep.add(c)
  doc.nodes = doc.nodes.filter((n) => keep.has(n))
  const w = pickWinner(doc.nodes)
  if (w) doc.winner = w
  return purged
}

const SPECIAL = new Set(["_id", "_rev", "_deleted", "_revisions", "_attachments", "_conflicts"])
SPECIAL.add("_deleted_conflicts").add("_local_seq").add("_revs_info")
export interface DocInput {
  id: string | undefined
  rev: string | undefined
  deleted: boolean
  revisions: { start: number; ids: string[] } | undefined
  body: Body
}
export const splitDoc = (json: unknown): DocInput => {
  if (!isObject(json)) return badRequest("Document must be a JSON object")
  const body: Body = {}
  for (const [k, v] of Object.entries(json)) {
    if (!k.startsWith("_")) body[k] = v
    else if (!SPECIAL.has(k)) fail(400, "doc_validation", `Bad special document member: ${k}`)
  }
  const { _id: id, _rev: rev, _revisions: r } = json
  if (id !== undefined && typeof id !== "string") badRequest("Document id must be a string")
  if (rev !== undefined && !parseRev(rev)) badRequest("Invalid rev format")
  let revisions: DocInput["revisions"]
  if (r !== undefined) {
    const ok = isObject(r) && Number.isInteger(r.start) && Array.isArray(r.ids) && r.ids.length > 0
    if (!ok || !(r.ids as unknown[]).every((x) => typeof x === "string")) badRequest("Invalid _revisions")
    revisions = { start: Number((r as Body).start), ids: (r as Body).ids as string[] }
  }
  return {
    id: id as string | undefined,
    rev: rev as string | undefined,
    deleted: json._deleted === true,
    revisions,
    body,
  }
}
export const validateDocId = (id: string): void => {
  if (id === "") fail(400, "illegal_docid", "Document id must not be empty")
  if (id.startsWith("_") && !id.startsWith("_design/") && !id.startsWith("_local/"))
    fail(400, "illegal_docid", "Only reserved document ids may start with underscore.")
}
export const docJson = (id: string, n: RevNode): Body => ({
  _id: id,
  _rev: revOf(n),
  ...n.body,
  ...(n.deleted ? { _deleted: true } : {}),
})
export class Db {
  docs = new Map<string, DocRecord>()
  local = new Map<string, { rev: number; body: Body }>()
  /** the `_security` object (set by the server when it creates the database) */
  security: Body = {}
  purgedInfosLimit = 1000
  readonly startTime = String(Math.floor(Date.now() / 1000))
  /** per shard: its by-seq log, update seq and purge seq */
  logs = Array.from({ length: Q }, () => new ChangeLog())
  updateSeqs = Array.from({ length: Q }, () => 0)
  purgeSeqs = Array.from({ length: Q }, () => 0)
  docCount = 0
  delCount = 0
  external = 0
  private sorted: string[] = []
  private added: string[] = []
  private removed = false
  constructor(readonly name: string) {}
  /** Records an update of `doc` (wasLive undefined: a new doc); `step` seqs are consumed. */
  touch(doc: DocRecord, wasLive: boolean | undefined, step = 1): void {
    if (wasLive === undefined) this.docs.set(doc.id, doc)
    else if (wasLive) this.docCount--
    else this.delCount--
    const live = !doc.winner.deleted
    if (live) this.docCount++
    else this.delCount++
    if (live && wasLive !== true) this.added.push(doc.id)
    if (!live && wasLive === true) this.removed = true
    const log = this.logs[doc.shard] as ChangeLog
    log.kill(doc.logPos)
    doc.seq = (this.updateSeqs[doc.shard] ?? 0) + step
    this.updateSeqs[doc.shard] = doc.seq
    doc.logPos = log.append(doc.seq, doc.id)
    log.compact(this.docs)
  }
  remove(doc: DocRecord, wasLive: boolean): void {
    this.docs.delete(doc.id)
    if (wasLive) {
      this.docCount--
      this.removed = true
    } else this.delCount--
    this.logs[doc.shard]?.kill(doc.logPos)
  }
  /** An interactive edit (new_edits=true). https://docs.couchdb.org/en/stable/api/document/common.html */
  edit(id: string, input: DocInput): RevNode | "conflict" {
    const doc = this.docs.get(id)
    let parent: RevNode | undefined
    if (input.rev !== undefined) {
      parent = findLeaf(doc, input.rev) // a non-leaf, unknown or stale rev is a conflict
      if (!parent) return "conflict"
    } else if (doc) {
      // No _rev on an existing doc: allowed only when it is deleted; the edit then extends the
      // winning tombstone (generation + 1), as couch_db_updater does when recreating a doc.
      if (!doc.winner.deleted) return "conflict"
      parent = doc.winner
    }
    const bodyJson = JSON.stringify(input.body)
    const wasLive = doc ? !doc.winner.deleted : undefined
    const hash = newRevId(input.deleted, parent, input.body)
    const r = addLeaf(doc, id, parent, hash, input.deleted, input.body)
    this.external += bodyJson.length
    this.touch(r.doc, wasLive)
    return r.node
  }
  /** A replicated write (new_edits=false): the given revs are inserted as they are. */
  replicate(id: string, input: DocInput): void {
    const rev = parseRev(input.rev)
    const p = input.revisions ?? { start: rev?.pos ?? 0, ids: [rev?.hash ?? ""] }
    const doc = this.docs.get(id)
    const wasLive = doc ? !doc.winner.deleted : undefined
    const r = insertPath(doc, id, p.start, p.ids, input.deleted, input.body)
    if (!r.changed) return
    this.external += JSON.stringify(input.body).length
    this.touch(r.doc, wasLive)
  }
  // _local docs: no conflict check, ever (facts §8); the new rev is "0-(given+1)", "0-1" without
  // _rev, "0-0" when deleted, whatever rev came with it; a rev that is not "0-<integer>" is the
  // updater's {error, <<"Invalid rev format">>} (couch_db_updater:increment_local_doc_revs).
  // Never in _changes or counts.
  writeLocal(id: string, input: DocInput): string | undefined {
    if (input.deleted) {
      this.local.delete(id)
      return "0-0"
    }
    const n = input.rev === undefined ? 0 : Number(/^0-(\d+)$/.exec(input.rev)?.[1] ?? Number.NaN)
    if (!Number.isSafeInteger(n)) return undefined
    this.local.set(id, { rev: n + 1, body: input.body })
    return `0-${n + 1}`
  }
  /**
   * Purges leaf revs; the answer lists, for every id asked, the revs actually purged. A doc left
   * with leaves is re-sequenced (one seq per remaining leaf, couch_db_updater:purge_docs). Every
   * shard asked about an id advances its update seq, and its purge seq by one per id (facts §7:
   * the purge_seq prefix grows by one per requested id, no-ops included).
   * https://docs.couchdb.org/en/stable/api/database/misc.html#db-purge
   */
  purge(entries: ReadonlyArray<readonly [string, readonly string[]]>): Record<string, string[]> {
    const purged: Record<string, string[]> = {}
    const before = [...this.updateSeqs]
    const asked = new Set<number>()
    for (const [id, revs] of entries) {
      const shard = shardOf(id)
      this.purgeSeqs[shard] = (this.purgeSeqs[shard] ?? 0) + 1
      asked.add(shard)
      const doc = this.docs.get(id)
      const wasLive = doc ? !doc.winner.deleted : false // before the winner changes
      const done = doc ? purgeLeaves(doc, revs) : []
      purged[id] = done
      if (!doc || done.length === 0) continue
      if (doc.nodes.length === 0) this.remove(doc, wasLive)
      else this.touch(doc, wasLive, sortedLeaves(doc).length)
    }
    for (const k of asked) this.updateSeqs[k] = Math.max(this.updateSeqs[k] ?? 0, (before[k] ?? 0) + 1)
    return purged
  }
  /** One write, answered as _bulk_docs answers it; `_local/` ids go to the local store. */
  write(
    id: string,
    input: DocInput,
    newEdits: boolean,
  ): { ok?: true; id: string; rev?: string; error?: string; reason?: string } {
    if (id.startsWith("_local/")) {
      const rev = this.writeLocal(id, input)
      return rev === undefined ? { id, error: "error", reason: "Invalid rev format" } : { ok: true, id, rev }
    }
    if (!newEdits) {
      this.replicate(id, input)
      return {
        ok: true,
        id,
        rev: input.revisions ? `${input.revisions.start}-${input.revisions.ids[0]}` : input.rev,
      }
    }
    const r = this.edit(id, input)
    return r === "conflict"
      ? { id, error: "conflict", reason: "Document update conflict." }
      : { ok: true, id, rev: revOf(r) }
  }
  /** https://docs.couchdb.org/en/stable/api/database/common.html#get--db */
  info(): Body {
    return {
      instance_start_time: this.startTime,
      db_name: this.name,
      purge_seq: encodeSeq(this.purgeSeqs),
      update_seq: encodeSeq(this.updateSeqs),
      sizes: { file: 16700 + this.external, external: this.external, active: this.external },
      props: {},
      doc_del_count: this.delCount,
      doc_count: this.docCount,
      disk_format_version: 8,
      compact_running: false,
      cluster: { q: 2, n: 1, w: 1, r: 1 },
    }
  }
  /** Live doc ids in `_all_docs` order, merged lazily so writes stay O(1). */
  liveIds(): string[] {
    if (this.added.length === 0 && !this.removed) return this.sorted
    const isLive = (id: string): boolean => this.docs.get(id)?.winner.deleted === false
    const old = this.removed ? this.sorted.filter(isLive) : this.sorted
    const add = [...new Set(this.added.filter(isLive))].sort(codePointOrder)
    const out: string[] = []
    let i = 0
    let j = 0
    while (i < old.length || j < add.length) {
      const a = old[i]
      const b = add[j]
      const next = b === undefined || (a !== undefined && codePointOrder(a, b) <= 0) ? a : b
      if (next === a) i++
      if (next === b) j++
      if (next !== undefined) out.push(next)
    }
    this.sorted = out
    this.added = []
    this.removed = false
    return out
  }
}
