import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect } from "effect"
import type { ProgressShape } from "../shared/progress.ts"
import { needsAdmin } from "./admin-errors.ts"
import type { CouchClientShape } from "./client.ts"
import { ActiveTasks, AllDocsIds, DbDetails, OkAnswer } from "./schema.ts"

/**
 * CouchDB admin calls: database details and compaction. Built on the client's one `request`, so
 * every answer is decoded and every failure is a typed error.
 * https://docs.couchdb.org/en/stable/api/database/compact.html
 */

const dbPath = (db: string) => `/${encodeURIComponent(db)}`

/** A purge is worth running from tombstones this share of the live documents (`doc_count`), or this many. */
export const purgeWorthShare = 0.1
export const purgeWorthCount = 10_000

export interface DbReport {
  readonly db: string
  readonly docCount: number
  readonly tombstones: number
  readonly sizes: { readonly file: number; readonly active: number; readonly external: number }
  /** 1 − active/file: the share of the file compaction would give back. */
  readonly fragmentation: number
  readonly purgeSeq: string
  readonly updateSeq: string
  readonly compactRunning: boolean
  readonly purgeWorthIt: boolean
  readonly purgeReason: string
}

export const fragmentationOf = (sizes: { readonly file: number; readonly active: number }) =>
  sizes.file > 0 ? Math.max(0, 1 - sizes.active / sizes.file) : 0

/** Whether purging tombstones pays off, and why, in words a user can check. */
export const purgeAdvice = (docs: number, tombstones: number): { worth: boolean; reason: string } => {
  if (tombstones === 0) return { worth: false, reason: "no tombstones" }
  const share = docs > 0 ? tombstones / docs : Number.POSITIVE_INFINITY
  const pct = Number.isFinite(share)
    ? `${(share * 100).toFixed(1)}% of the ${docs} live documents`
    : "no live documents"
  if (tombstones >= purgeWorthCount)
    return { worth: true, reason: `${tombstones} tombstones (≥ ${purgeWorthCount}; ${pct})` }
  if (share >= purgeWorthShare)
    return { worth: true, reason: `${tombstones} tombstones are ${pct} (≥ ${purgeWorthShare * 100}%)` }
  return {
    worth: false,
    reason: `${tombstones} tombstones are ${pct} (below ${purgeWorthShare * 100}% and below ${purgeWorthCount})`,
  }
}

export const dbDetails = (couch: CouchClientShape, db: string) =>
  couch
    .request(`GET /${db}`, db, HttpClientRequest.get(dbPath(db)), DbDetails)
    .pipe(Effect.map((r) => r.body))

export const info = Effect.fn("Couch.info")(function* (couch: CouchClientShape, db: string) {
  const d = yield* dbDetails(couch, db)
  const advice = purgeAdvice(d.doc_count, d.doc_del_count)
  const report: DbReport = {
    db,
    docCount: d.doc_count,
    tombstones: d.doc_del_count,
    sizes: d.sizes,
    fragmentation: fragmentationOf(d.sizes),
    purgeSeq: d.purge_seq,
    updateSeq: d.update_seq,
    compactRunning: d.compact_running,
    purgeWorthIt: advice.worth,
    purgeReason: advice.reason,
  }
  return report
})

/** POST with `Content-Type: application/json`: without it `_compact` answers 415 (COUCHDB-FACTS §9). */
const postJson = (couch: CouchClientShape, db: string, path: string) =>
  couch
    .request(
      `POST ${path}`,
      db,
      HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUnsafeJson({})),
      OkAnswer,
    )
    .pipe(needsAdmin)

/** The design documents' names (without `_design/`): `_all_docs` between `_design/` and `_design0`. */
export const designDocs = Effect.fn("Couch.designDocs")(function* (couch: CouchClientShape, db: string) {
  const r = yield* couch.request(
    `GET /${db}/_all_docs`,
    db,
    HttpClientRequest.get(`${dbPath(db)}/_all_docs`, {
      urlParams: { start_key: JSON.stringify("_design/"), end_key: JSON.stringify("_design0") },
    }),
    AllDocsIds,
  )
  return r.body.rows.map((row) => row.id.slice("_design/".length))
})

/** Starts the database's compaction and, with `views`, each design doc's and a view cleanup. */
export const startCompaction = Effect.fn("Couch.startCompaction")(function* (
  couch: CouchClientShape,
  db: string,
  views: boolean,
) {
  yield* postJson(couch, db, `${dbPath(db)}/_compact`)
  if (!views) return [] as ReadonlyArray<string>
  const ddocs = yield* designDocs(couch, db)
  yield* Effect.forEach(
    ddocs,
    (ddoc) => postJson(couch, db, `${dbPath(db)}/_compact/${encodeURIComponent(ddoc)}`),
    { concurrency: 4, discard: true },
  )
  yield* postJson(couch, db, `${dbPath(db)}/_view_cleanup`)
  return ddocs
})

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Whether an active task's `database` is a shard of `db`: a clustered CouchDB names the shard file,
 * `shards/80000000-ffffffff/db.1795555611` (COUCHDB-FACTS §9), one task per shard.
 */
export const isShardOf = (database: string | null | undefined, db: string) =>
  typeof database === "string" &&
  (database === db || new RegExp(`^shards/[^/]+/${escapeRegExp(db)}\\.\\d+$`).test(database))

const compactionTasks = (couch: CouchClientShape, db: string) =>
  couch.request("GET /_active_tasks", undefined, HttpClientRequest.get("/_active_tasks"), ActiveTasks).pipe(
    needsAdmin,
    Effect.map((r) =>
      r.body.filter(
        (t) =>
          (t.type === "database_compaction" || t.type === "view_compaction") && isShardOf(t.database, db),
      ),
    ),
  )

/** Polls that may pass before a compaction is seen running: CouchDB starts it a moment after 202. */
const startGracePolls = 3

/**
 * Waits until the compaction of `db` is done: no task of its shards in `_active_tasks` and
 * `compact_running` false. Progress is the mean over the shards seen, a shard gone counting 100.
 */
export const waitForCompaction = Effect.fn("Couch.waitForCompaction")(function* (
  couch: CouchClientShape,
  db: string,
  progress: ProgressShape,
  poll: Duration.Duration,
) {
  yield* progress.start(`compact ${db}`, 100)
  const shards = new Map<string, number>()
  let shown = 0
  let seenRunning = false
  for (let polls = 1; ; polls++) {
    const [details, tasks] = yield* Effect.all([dbDetails(couch, db), compactionTasks(couch, db)], {
      concurrency: 2,
    })
    for (const key of shards.keys()) if (!tasks.some((t) => t.database === key)) shards.set(key, 100)
    for (const t of tasks) shards.set(t.database ?? db, Math.min(100, t.progress ?? 0))
    const running = details.compact_running || tasks.length > 0
    seenRunning ||= running
    const mean = shards.size === 0 ? 0 : [...shards.values()].reduce((a, b) => a + b, 0) / shards.size
    const pct = Math.floor(running ? Math.min(mean, 99) : 100)
    if (pct > shown && (running || seenRunning || polls >= startGracePolls)) {
      yield* progress.advance(pct - shown)
      shown = pct
    }
    if (!running && (seenRunning || polls >= startGracePolls)) break
    yield* Effect.sleep(poll)
  }
  yield* progress.stop
})

export interface CompactionReport {
  readonly db: string
  readonly views: ReadonlyArray<string>
  readonly waited: boolean
  readonly fileBefore: number
  readonly activeBefore: number
  /** After the compaction when waited for; absent otherwise. */
  readonly fileAfter: number | undefined
  readonly reclaimed: number | undefined
  readonly durationMs: number
}

export interface CompactOptions {
  readonly views: boolean
  readonly wait: boolean
  readonly poll: Duration.Duration
}

export const compact = Effect.fn("Couch.compact")(function* (
  couch: CouchClientShape,
  db: string,
  options: CompactOptions,
  progress: ProgressShape,
) {
  const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
  const before = yield* dbDetails(couch, db)
  const views = yield* startCompaction(couch, db, options.views)
  yield* Effect.logInfo("compaction started").pipe(
    Effect.annotateLogs({ db, file_bytes: before.sizes.file, design_docs: views.length }),
  )
  if (options.wait) yield* waitForCompaction(couch, db, progress, options.poll)
  const after = options.wait ? yield* dbDetails(couch, db) : undefined
  const report: CompactionReport = {
    db,
    views,
    waited: options.wait,
    fileBefore: before.sizes.file,
    activeBefore: before.sizes.active,
    fileAfter: after?.sizes.file,
    reclaimed: after === undefined ? undefined : before.sizes.file - after.sizes.file,
    durationMs: (yield* Effect.clockWith((c) => c.currentTimeMillis)) - started,
  }
  return report
})

export const defaultPoll = Duration.millis(500)
