// The admin side of the CouchDB-API test server: compaction (sizes, compact_running, per-shard
// `_active_tasks`), `_view_cleanup`, and `_replicator` documents run by a scheduler that really
// copies between databases of this server. Behaviour follows /work/shared/COUCHDB-FACTS.md §9–§11
// and https://docs.couchdb.org/en/stable/api/database/compact.html,
// https://docs.couchdb.org/en/stable/replication/replicator.html. Time-driven state is computed
// when read, so nothing runs in the background.
import { defaultSecurity, isDbAdmin, type Principal } from "./couch-auth.ts"
import { type Body, Db, fail, isObject, revisionsOf, revOf, sortedLeaves } from "./couch-revs.ts"

/** How long a database compaction "runs" (a real 3.5.0 took about 5 s on a small database). */
export const compactionMs = 1200
const viewCompactionMs = compactionMs + 600

interface Compaction {
  readonly startedAt: number
  /** the shard that finishes first drops out of `_active_tasks` early, as on a real q=2 cluster */
  readonly shardEnds: readonly [number, number]
}

interface Sizes {
  /** file size right after the last compaction, and the db's `external` counter then */
  fileBase: number
  externalBase: number
}

interface Job {
  readonly rev: string
  readonly seenAt: number
  state: Body | undefined
}

/** An answer: its status and JSON body. */
export interface Answer {
  readonly status: number
  readonly body: unknown
}

export interface AdminHooks {
  /** GET /db: the info with sizes and compact_running as compaction leaves them. */
  readonly info: (db: Db) => Body
  /** `_compact`, `_compact/{ddoc}`, `_view_cleanup`; undefined for other paths. */
  readonly dbRoute: (ctx: AdminCtx, db: Db, rest: readonly string[]) => Answer | undefined
  /** `_active_tasks`, `_scheduler/docs`, `_scheduler/docs/_replicator/ID`; undefined for other paths. */
  readonly serverRoute: (ctx: AdminCtx, path: string) => Answer | undefined
  /**
   * Test-only: replications to report beside those of `_replicator` documents, as a test sets them
   * (`PUT /_dbsweep_test/replications` `{"docs":[…],"tasks":[…]}`): `docs` are `_scheduler/docs`
   * entries (states and `info.checkpointed_source_seq` as COUCHDB-FACTS §10 records), `tasks` are
   * `_active_tasks` entries of `"type":"replication"` (replications started by `POST /_replicate`).
   */
  readonly setReplications: (set: {
    readonly docs?: ReadonlyArray<Body>
    readonly tasks?: ReadonlyArray<Body>
  }) => void
  readonly replications: () => { readonly docs: ReadonlyArray<Body>; readonly tasks: ReadonlyArray<Body> }
}

export interface AdminCtx {
  readonly req: Request
  readonly method: string
  readonly user: Principal
  readonly url: URL
}

const accepted: Answer = { status: 202, body: { ok: true } }

const leafBytes = (db: Db): number => {
  let bytes = 0
  for (const doc of db.docs.values())
    for (const leaf of sortedLeaves(doc)) bytes += JSON.stringify(leaf.body ?? {}).length
  return bytes
}

export const makeAdminRoutes = (dbs: Map<string, Db>): AdminHooks => {
  const compactions = new Map<Db, Compaction>()
  /**
   * view compactions by "db/ddoc": when they started. They outlast the database's compaction, so a
   * wait that looked at `compact_running` alone would end too early.
   */
  const viewCompactions = new Map<
    string,
    { readonly db: Db; readonly ddoc: string; readonly startedAt: number }
  >()
  const sizes = new Map<Db, Sizes>()
  const jobs = new Map<string, Job>()
  let extra: { docs: ReadonlyArray<Body>; tasks: ReadonlyArray<Body> } = { docs: [], tasks: [] }

  const sizesOf = (db: Db) => {
    const s = sizes.get(db) ?? { fileBase: 16700, externalBase: 0 }
    const active = leafBytes(db)
    // Append-only: every write grows the file; compaction rewrites it down to the live data.
    return { file: s.fileBase + (db.external - s.externalBase), external: active, active }
  }

  /** Finishes a compaction whose time is up; true while one runs. */
  const running = (db: Db): boolean => {
    const c = compactions.get(db)
    if (c === undefined) return false
    if (Date.now() < c.startedAt + Math.max(...c.shardEnds)) return true
    compactions.delete(db)
    sizes.set(db, { fileBase: 16700 + sizesOf(db).active, externalBase: db.external })
    return false
  }

  const info = (db: Db): Body => {
    const compact_running = running(db)
    return { ...db.info(), sizes: sizesOf(db), compact_running }
  }

  const requireDbAdmin = (ctx: AdminCtx, db: Db) => {
    // facts §11: a member gets 401 here, not 403.
    if (!isDbAdmin(ctx.user, db.security)) fail(401, "unauthorized", "You are not a server or db admin.")
  }
  const requireJsonType = (ctx: AdminCtx) => {
    if (ctx.req.headers.get("content-type")?.split(";")[0] !== "application/json")
      fail(415, "bad_content_type", "Content-Type must be application/json")
  }

  const dbRoute = (ctx: AdminCtx, db: Db, rest: readonly string[]): Answer | undefined => {
    const [part, ddoc, ...more] = rest
    if (part === "_view_cleanup" && rest.length === 1) {
      requireDbAdmin(ctx, db)
      if (ctx.method !== "POST") fail(405, "method_not_allowed", "Only POST allowed")
      // facts §9: 202 even without a Content-Type.
      return accepted
    }
    if (part !== "_compact" || more.length > 0) return undefined
    requireDbAdmin(ctx, db)
    if (ctx.method !== "POST") fail(405, "method_not_allowed", "Only POST allowed")
    requireJsonType(ctx)
    if (ddoc !== undefined) {
      const doc = db.docs.get(`_design/${ddoc}`)
      if (doc === undefined || doc.winner.deleted) fail(404, "not_found", "missing")
      viewCompactions.set(`${db.name}/${ddoc}`, { db, ddoc, startedAt: Date.now() })
      return accepted
    }
    if (!running(db)) {
      const total = compactionMs
      compactions.set(db, { startedAt: Date.now(), shardEnds: [Math.round(total * 0.7), total] })
    }
    return accepted
  }

  const shardNames = ["00000000-7fffffff", "80000000-ffffffff"] as const
  const activeTasks = (): Body[] => {
    const tasks: Body[] = []
    for (const db of [...compactions.keys()]) {
      if (!running(db)) continue
      const c = compactions.get(db) as Compaction
      const elapsed = Date.now() - c.startedAt
      c.shardEnds.forEach((end, i) => {
        if (elapsed >= end) return
        const total = Math.max(db.docCount + db.delCount, 1)
        const progress = Math.min(99, Math.floor((elapsed / end) * 100))
        tasks.push({
          node: "couchdb@127.0.0.1",
          pid: `<0.${1000 + i}.0>`,
          process_status: "running",
          changes_done: Math.floor((total * progress) / 100),
          database: `shards/${shardNames[i]}/${db.name}.${db.startTime}`,
          phase: "document_copy",
          progress,
          started_on: Math.floor(c.startedAt / 1000),
          total_changes: total,
          type: "database_compaction",
          updated_on: Math.floor(Date.now() / 1000),
        })
      })
    }
    // facts §9: a view compaction is a task per shard too, naming its design doc.
    for (const [key, v] of [...viewCompactions]) {
      const elapsed = Date.now() - v.startedAt
      if (elapsed >= viewCompactionMs || dbs.get(v.db.name) !== v.db) {
        viewCompactions.delete(key)
        continue
      }
      shardNames.forEach((shard, i) => {
        tasks.push({
          node: "couchdb@127.0.0.1",
          pid: `<0.${2000 + i}.0>`,
          process_status: "running",
          database: `shards/${shard}/${v.db.name}.${v.db.startTime}`,
          design_document: `_design/${v.ddoc}`,
          phase: "ids",
          view: null,
          progress: Math.min(99, Math.floor((elapsed / viewCompactionMs) * 100)),
          started_on: Math.floor(v.startedAt / 1000),
          type: "view_compaction",
          updated_on: Math.floor(Date.now() / 1000),
        })
      })
    }
    return tasks
  }

  /** facts §10: `{"total_rows","offset","docs":[…]}`, every `_replicator` document's state; limit and skip page it. */
  const schedulerDocs = (ctx: AdminCtx): Answer => {
    const replicator = dbs.get("_replicator")
    const ids =
      replicator === undefined
        ? []
        : [...replicator.docs.keys()].filter((id) => !id.startsWith("_design/")).sort()
    const all: Body[] = []
    for (const id of ids) {
      const doc = replicator?.docs.get(id)
      if (doc === undefined || doc.winner.deleted) continue
      all.push(scheduled(ctx.url.origin, id))
    }
    all.push(...extra.docs)
    const skip = Number(ctx.url.searchParams.get("skip") ?? "0") || 0
    const limitText = ctx.url.searchParams.get("limit")
    const limit = limitText === null ? all.length : Number(limitText) || 0
    return {
      status: 200,
      body: { total_rows: all.length, offset: skip, docs: all.slice(skip, skip + limit) },
    }
  }

  const serverRoute = (ctx: AdminCtx, path: string): Answer | undefined => {
    if (path === "_active_tasks" && ctx.method === "GET")
      return { status: 200, body: [...activeTasks(), ...extra.tasks] }
    if (path === "_scheduler/docs" && ctx.method === "GET") return schedulerDocs(ctx)
    const m = /^_scheduler\/docs\/_replicator\/(.+)$/.exec(path)
    if (m === null || ctx.method !== "GET") return undefined
    const set = extra.docs.find((d) => d.database === "_replicator" && d.doc_id === m[1])
    if (set !== undefined) return { status: 200, body: set }
    return { status: 200, body: scheduled(ctx.url.origin, m[1] as string) }
  }

  /** Where an endpoint of a replication document points: a database of this server, or none. */
  const endpoint = (origin: string, raw: unknown) => {
    const text = isObject(raw) ? raw.url : raw
    if (typeof text !== "string" || !URL.canParse(text)) return undefined
    const url = new URL(text)
    url.username = ""
    url.password = ""
    const name = decodeURIComponent(url.pathname.replace(/^\/+|\/+$/g, ""))
    const shown = `${url.origin}/${encodeURIComponent(name)}/`
    return { shown, db: url.origin === origin ? dbs.get(name) : undefined, name }
  }

  const matches = (selector: unknown, body: Body): boolean =>
    !isObject(selector) || Object.entries(selector).every(([k, v]) => typeof v === "object" || body[k] === v)

  /** Copies every leaf with its history, as the replicator's `_bulk_docs` with new_edits=false does. */
  const copy = (source: Db, target: Db, selector: unknown) => {
    let written = 0
    for (const doc of source.docs.values()) {
      for (const leaf of sortedLeaves(doc)) {
        if (!leaf.deleted && !matches(selector, leaf.body ?? {})) continue
        const before = target.docs.get(doc.id)?.nodes.length ?? 0
        target.write(
          doc.id,
          {
            id: doc.id,
            rev: revOf(leaf),
            deleted: leaf.deleted,
            revisions: revisionsOf(leaf),
            body: leaf.body ?? {},
          },
          false,
        )
        if ((target.docs.get(doc.id)?.nodes.length ?? 0) !== before) written++
      }
    }
    return written
  }

  const scheduled = (origin: string, id: string): Body => {
    const doc = dbs.get("_replicator")?.docs.get(id)
    if (doc === undefined || doc.winner.deleted) return fail(404, "not_found", "missing")
    const body = doc.winner.body ?? {}
    const rev = revOf(doc.winner)
    const job =
      jobs.get(id)?.rev === rev ? (jobs.get(id) as Job) : { rev, seenAt: Date.now(), state: undefined }
    jobs.set(id, job)
    if (job.state?.state === "completed") return job.state
    const source = endpoint(origin, body.source)
    const target = endpoint(origin, body.target)
    const base = {
      database: "_replicator",
      doc_id: id,
      id: null,
      source: source?.shown ?? null,
      target: target?.shown ?? null,
      start_time: new Date(job.seenAt).toISOString().replace(/\.\d+Z$/, "Z"),
      last_updated: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    }
    const missing =
      source?.db === undefined
        ? source
        : target?.db === undefined && body.create_target !== true
          ? target
          : undefined
    if (missing !== undefined || source === undefined || target === undefined) {
      // facts §10: crashing, the unreachable endpoint named without its credentials.
      const what = missing?.shown ?? "the endpoint"
      return {
        ...base,
        state: "crashing",
        error_count: 1,
        info: { error: `db_not_found: could not open ${what}` },
      }
    }
    // A one-off reads as running for a moment before it completes (facts §10).
    if (body.continuous !== true && Date.now() - job.seenAt < 300) {
      return {
        ...base,
        id: `${id}+create_target`,
        node: "couchdb@127.0.0.1",
        state: "running",
        info: null,
        error_count: 0,
      }
    }
    let targetDb = target.db
    if (targetDb === undefined) {
      targetDb = new Db(target.name)
      targetDb.security = defaultSecurity()
      dbs.set(target.name, targetDb)
    }
    const written = copy(source.db as Db, targetDb, body.selector)
    // What the copy read up to: the replication's checkpoint on the source (facts §10).
    const checkpointed = (source.db as Db).info().update_seq
    const info = {
      revisions_checked: written,
      missing_revisions_found: written,
      docs_read: written,
      docs_written: written,
      changes_pending: body.continuous === true ? 0 : null,
      doc_write_failures: 0,
      checkpointed_source_seq: checkpointed,
    }
    if (body.continuous === true) {
      return {
        ...base,
        id: `${id}+continuous`,
        node: "couchdb@127.0.0.1",
        state: "running",
        info,
        error_count: 0,
      }
    }
    job.state = { ...base, state: "completed", error_count: 0, info }
    return job.state
  }

  const setReplications = (set: {
    readonly docs?: ReadonlyArray<Body>
    readonly tasks?: ReadonlyArray<Body>
  }) => {
    extra = { docs: set.docs ?? [], tasks: set.tasks ?? [] }
  }

  return { info, dbRoute, serverRoute, setReplications, replications: () => extra }
}
