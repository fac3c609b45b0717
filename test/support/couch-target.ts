/**
 * The CouchDB the suites run against: a real one when COUCHDB_URL is set (with COUCHDB_USER and
 * COUCHDB_PASSWORD of a server admin), else the project's CouchDB-API test server. Tests speak
 * HTTP only; fault injection is available on the test server alone (`faults` is undefined then).
 */
import { type CouchServer, type Faults, startCouchServer } from "./couch-server.ts"

export interface CouchTarget {
  /** Base URL without credentials. */
  readonly url: string
  readonly user: string
  readonly password: string
  /** Set faults on the test server; undefined against a real CouchDB. */
  readonly faults: ((f: Faults) => void) | undefined
  readonly stop: () => Promise<void>
}

/**
 * Databases this test process made on a real CouchDB (with `createDb`, or named by `testDbName`):
 * a real target's `stop` deletes them, so the suites leave the server as they found it. Only these
 * names: other suites may run against the same server at the same time.
 */
const made = new Set<string>()

/** Remembers a database name a test will make (directly or through the program), to delete at `stop`. */
export const testDbName = (name: string) => {
  made.add(name)
  return name
}

export const startCouchTarget = async (options: { version?: string } = {}): Promise<CouchTarget> => {
  const external = process.env.COUCHDB_URL
  if (external !== undefined && external !== "") {
    const target: CouchTarget = {
      url: external.replace(/\/+$/, ""),
      user: process.env.COUCHDB_USER ?? "admin",
      password: process.env.COUCHDB_PASSWORD ?? "",
      faults: undefined,
      stop: async () => {
        const names = [...made]
        made.clear()
        for (const name of names)
          await couch(target, "DELETE", `/${encodeURIComponent(name)}`).catch(() => {})
      },
    }
    return target
  }
  const user = "admin"
  const password = "s3cret-Passw0rd"
  const server: CouchServer = await startCouchServer({
    admin: { user, password },
    version: options.version ?? "3.5.0",
  })
  return { url: server.url, user, password, faults: (f) => server.setFaults(f), stop: () => server.stop() }
}

export const authHeader = (t: CouchTarget) => `Basic ${btoa(`${t.user}:${t.password}`)}`

/** A JSON request as the admin; returns status and parsed body. */
export const couch = async (
  t: CouchTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> => {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: { authorization: authHeader(t), "content-type": "application/json", accept: "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) }
}

const json = <T>(r: { status: number; body: unknown }, ok: ReadonlyArray<number>, what: string): T => {
  if (!ok.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  return r.body as T
}

let dbCounter = 0
/** Creates a fresh database with a unique name and returns the name. */
export const createDb = async (t: CouchTarget, prefix = "dbsweep-test"): Promise<string> => {
  dbCounter += 1
  const name = testDbName(
    `${prefix}-${Date.now().toString(36)}-${dbCounter}-${Math.random().toString(36).slice(2, 6)}`,
  )
  json(await couch(t, "PUT", `/${name}`), [201, 202], `create ${name}`)
  return name
}

export const deleteDb = async (t: CouchTarget, db: string) => {
  await couch(t, "DELETE", `/${db}`)
}

/**
 * A user of its own for one test, so that wrong passwords never touch the admin: CouchDB 3.4+ locks
 * a user out (per client address) for about 5 minutes after 5 failed logins, even with the right
 * password then (COUCHDB-FACTS §11). Created in `_users` over HTTP, as real CouchDB allows
 * (https://docs.couchdb.org/en/stable/intro/security.html#creating-a-new-user); a member of
 * `memberOf` (via `_security`), of nothing else. `drop` deletes it again.
 */
export interface ThrowawayUser {
  readonly user: string
  readonly password: string
  readonly drop: () => Promise<void>
}
export const throwawayUser = async (
  t: CouchTarget,
  options: { memberOf?: ReadonlyArray<string> } = {},
): Promise<ThrowawayUser> => {
  json(await couch(t, "PUT", "/_users"), [201, 202, 412], "create _users")
  const user = `dbsweep-user-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  const password = `pw-${crypto.randomUUID()}`
  const path = `/_users/org.couchdb.user:${encodeURIComponent(user)}`
  json(
    await couch(t, "PUT", path, { name: user, password, roles: [], type: "user" }),
    [201, 202],
    `user ${user}`,
  )
  for (const db of options.memberOf ?? []) await setMembers(t, db, [user])
  const drop = async () => {
    const doc = await couch(t, "GET", path)
    if (doc.status === 200) await couch(t, "DELETE", `${path}?rev=${(doc.body as { _rev: string })._rev}`)
  }
  return { user, password, drop }
}

/**
 * Makes exactly `names` the members of `db` (`[]`: admins only, CouchDB 3's default); server admins
 * stay db admins. https://docs.couchdb.org/en/stable/api/database/security.html
 */
export const setMembers = async (t: CouchTarget, db: string, names: ReadonlyArray<string>) => {
  const security = { admins: { names: [], roles: ["_admin"] }, members: { names, roles: ["_admin"] } }
  json(await couch(t, "PUT", `/${db}/_security`, security), [200], `_security of ${db}`)
}

interface BulkResult {
  readonly id: string
  readonly rev?: string
  readonly error?: string
}

export const bulk = async (t: CouchTarget, db: string, docs: ReadonlyArray<unknown>, newEdits = true) => {
  const results: Array<BulkResult> = []
  for (let i = 0; i < docs.length; i += 5000) {
    const r = await couch(t, "POST", `/${db}/_bulk_docs`, {
      docs: docs.slice(i, i + 5000),
      ...(newEdits ? {} : { new_edits: false }),
    })
    results.push(...json<Array<BulkResult>>(r, [201, 202], "_bulk_docs"))
  }
  const failed = results.filter((r) => r.error !== undefined)
  if (failed.length > 0)
    throw new Error(`_bulk_docs: ${failed.length} failed, e.g. ${JSON.stringify(failed[0])}`)
  return results
}

export interface Seeded {
  /** Live documents and their current revs. */
  readonly live: Map<string, string>
  /** Live documents with a live conflict: id → sorted leaf revs. */
  readonly liveConflicts: Map<string, ReadonlyArray<string>>
  /** Deleted documents (one tombstone leaf). */
  readonly tombstones: ReadonlyArray<string>
  /** Deleted documents whose several leaves are all deleted. */
  readonly conflictedTombstones: ReadonlyArray<string>
}

const fakeRev = (gen: number, seed: string) => {
  const hex = Array.from(new Bun.CryptoHasher("md5").update(seed).digest()).map((b) =>
    b.toString(16).padStart(2, "0"),
  )
  return `${gen}-${hex.join("")}`
}

/**
 * Seeds live docs, plain tombstones, tombstones with several deleted leaves, and live docs with a
 * live conflict, all through the public API (conflicts via `new_edits:false`, as replication makes them).
 */
export const seed = async (
  t: CouchTarget,
  db: string,
  counts: {
    live?: number
    tombstones?: number
    conflictedTombstones?: number
    liveConflicts?: number
    prefix?: string
  },
): Promise<Seeded> => {
  const p = counts.prefix ?? ""
  const ids = (kind: string, n = 0) =>
    Array.from({ length: n }, (_, i) => `${p}${kind}-${String(i).padStart(6, "0")}`)
  const liveIds = ids("live", counts.live)
  const tombIds = ids("tomb", counts.tombstones)
  const ctIds = ids("ctomb", counts.conflictedTombstones)
  const lcIds = ids("lconf", counts.liveConflicts)
  const all = [...liveIds, ...tombIds, ...ctIds, ...lcIds]
  const created = await bulk(
    t,
    db,
    all.map((id) => ({ _id: id, kind: id.split("-")[0], payload: `value of ${id}` })),
  )
  const revOf = new Map(created.map((r) => [r.id, r.rev!]))
  // A second, conflicting first revision for the conflict kinds (as a replication would bring it).
  const branches = [...ctIds, ...lcIds].map((id) => ({
    _id: id,
    _rev: fakeRev(1, `branch-${id}`),
    payload: "other",
  }))
  if (branches.length > 0) await bulk(t, db, branches, false)
  const deletions = [
    ...tombIds.map((id) => ({ _id: id, _rev: revOf.get(id)!, _deleted: true })),
    ...ctIds.flatMap((id) => [
      { _id: id, _rev: revOf.get(id)!, _deleted: true },
      { _id: id, _rev: fakeRev(1, `branch-${id}`), _deleted: true },
    ]),
  ]
  if (deletions.length > 0) await bulk(t, db, deletions)
  const liveConflicts = new Map<string, ReadonlyArray<string>>()
  for (const id of lcIds) liveConflicts.set(id, [revOf.get(id)!, fakeRev(1, `branch-${id}`)].sort())
  return {
    live: new Map(liveIds.map((id) => [id, revOf.get(id)!])),
    liveConflicts,
    tombstones: tombIds,
    conflictedTombstones: ctIds,
  }
}

export const dbInfo = async (t: CouchTarget, db: string) =>
  json<{ doc_count: number; doc_del_count: number; update_seq: string }>(
    await couch(t, "GET", `/${db}`),
    [200],
    "db info",
  )

interface ChangeRow {
  readonly id: string
  readonly deleted?: boolean
  readonly changes: ReadonlyArray<{ rev: string }>
}

/** Every row of the feed (style=all_docs), read in pages. */
export const allChanges = async (t: CouchTarget, db: string): Promise<Array<ChangeRow>> => {
  const rows: Array<ChangeRow> = []
  let since = "0"
  for (;;) {
    const page = json<{ results: Array<ChangeRow>; last_seq: string; pending?: number }>(
      await couch(t, "GET", `/${db}/_changes?style=all_docs&limit=5000&since=${encodeURIComponent(since)}`),
      [200],
      "_changes",
    )
    rows.push(...page.results)
    since = page.last_seq
    if (page.results.length < 5000 || page.pending === 0) return rows
  }
}

/**
 * A feed as a set: one "id revs deleted" line per row, sorted. A clustered CouchDB interleaves its
 * shards differently on every call and a row's seq depends on that order (COUCHDB-FACTS §6), so two
 * reads of an unchanged database agree only on this, never on order or seqs.
 */
export const feedState = (rows: ReadonlyArray<ChangeRow>): Array<string> =>
  rows
    .map(
      (r) =>
        `${r.id} ${r.changes
          .map((c) => c.rev)
          .sort()
          .join(",")} ${r.deleted === true}`,
    )
    .sort()

/** The leaf revs CouchDB holds for a document (`open_revs=all`), or [] when it is gone. */
export const leafRevs = async (t: CouchTarget, db: string, id: string): Promise<Array<string>> => {
  const r = await couch(t, "GET", `/${db}/${encodeURIComponent(id)}?conflicts=true`)
  if (r.status === 404) return []
  const doc = json<{ _rev: string; _conflicts?: Array<string> }>(r, [200], `GET ${id}`)
  return [doc._rev, ...(doc._conflicts ?? [])].sort()
}

/**
 * Asserts the state after a full purge: no deleted document left in the feed, and every live
 * document and live conflict exactly as seeded. Returns a description of what is wrong, or "".
 */
export const checkPurged = async (t: CouchTarget, db: string, seeded: Seeded): Promise<string> => {
  const problems: Array<string> = []
  const rows = await allChanges(t, db)
  const deletedLeft = rows.filter((r) => r.deleted === true)
  if (deletedLeft.length > 0)
    problems.push(`${deletedLeft.length} deleted docs still in the feed, e.g. ${deletedLeft[0]!.id}`)
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const [id, rev] of seeded.live) {
    const row = byId.get(id)
    if (row === undefined || row.changes.length !== 1 || row.changes[0]!.rev !== rev) {
      problems.push(`live doc ${id} changed: ${JSON.stringify(row)}`)
      break
    }
  }
  for (const [id, revs] of seeded.liveConflicts) {
    const row = byId.get(id)
    const got = (row?.changes ?? []).map((c) => c.rev).sort()
    if (JSON.stringify(got) !== JSON.stringify(revs)) {
      problems.push(`live conflict ${id} changed: ${JSON.stringify(got)} != ${JSON.stringify(revs)}`)
      break
    }
  }
  for (const id of [...seeded.tombstones, ...seeded.conflictedTombstones]) {
    if (byId.has(id)) {
      problems.push(`tombstone ${id} still present`)
      break
    }
  }
  const info = await dbInfo(t, db)
  if (info.doc_del_count !== 0) problems.push(`doc_del_count is ${info.doc_del_count}`)
  if (info.doc_count !== seeded.live.size + seeded.liveConflicts.size)
    problems.push(`doc_count is ${info.doc_count}`)
  return problems.join("; ")
}

/** Document ids `prefix0` … `prefix<n-1>`. */
export const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** Writes `ids` as live documents, then deletes them: one tombstone each (a failed write throws). */
export const deleteDocs = async (t: CouchTarget, db: string, ids: ReadonlyArray<string>) => {
  const made = await bulk(
    t,
    db,
    ids.map((_id) => ({ _id, v: 1 })),
  )
  await bulk(
    t,
    db,
    made.map((r) => ({ _id: r.id, _rev: r.rev, _deleted: true })),
  )
}

/** The ids of the deleted documents still in the feed, sorted. */
export const deletedIds = async (t: CouchTarget, db: string) =>
  (await allChanges(t, db))
    .filter((r) => r.deleted === true)
    .map((r) => r.id)
    .sort()

/** The URL of database `db` with the target's admin credentials inside (what a `_replicator` document names). */
export const dbUrlWithCredentials = (t: CouchTarget, db: string) => {
  const url = new URL(t.url)
  url.username = encodeURIComponent(t.user)
  url.password = encodeURIComponent(t.password)
  return `${url.toString().replace(/\/+$/, "")}/${encodeURIComponent(db)}`
}

/** Waits until the scheduler shows the `_replicator` document `id` in one of `states`; its scheduler entry. */
export const waitForReplication = async (
  t: CouchTarget,
  id: string,
  states: ReadonlyArray<string>,
  timeoutMs = 90_000,
) => {
  const end = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < end) {
    const r = await couch(t, "GET", `/_scheduler/docs/_replicator/${id}`)
    last = r.body
    const body = r.body as { state?: string; info?: { checkpointed_source_seq?: string } | null }
    if (r.status === 200 && states.includes(body.state ?? "")) return body
    await Bun.sleep(250)
  }
  throw new Error(`replication ${id} never reached ${states.join("/")}: ${JSON.stringify(last)}`)
}

/** Deletes the `_replicator` documents `ids` that are still there. */
export const removeReplicatorDocs = async (t: CouchTarget, ids: ReadonlyArray<string>) => {
  for (const id of ids) {
    const doc = await couch(t, "GET", `/_replicator/${id}`)
    if (doc.status === 200)
      await couch(t, "DELETE", `/_replicator/${id}?rev=${(doc.body as { _rev: string })._rev}`)
  }
}
