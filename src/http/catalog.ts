import { Clock, Effect, Either, Option, Schema } from "effect"
import { dbDetails, fragmentationOf, purgeAdvice } from "../couch/admin.ts"
import { allDbsPage, globPrefix, globTest, isGlob, prefixEnd } from "../couch/all-dbs.ts"
import type { CouchClientShape } from "../couch/client.ts"
import { dbsInfoKeys, dbsInfoOf, noDbsInfo } from "../couch/dbs-info.ts"
import { DbDetails } from "../couch/schema.ts"
import { checkpointDocId } from "../purge/checkpoint-local.ts"

/**
 * The databases as the status page lists them: names read from `_all_dbs` a page at a time
 * (`start_key`/`end_key`/`limit`); their details from `POST /_dbs_info`, 100 databases a request
 * (`GET /{db}` each, 8 at a time, on a server without it: CouchDB before 2.2); the last purge from
 * each shown database's checkpoint. Details are kept briefly, so a server with 10,000 databases
 * costs the first page what one with 50 does. Sorting by anything but the name needs every
 * matching database's details (and sorting by the last purge every checkpoint).
 */

export const sortKeys = [
  "name",
  "docs",
  "tombstones",
  "share",
  "file",
  "reclaimable",
  "lastPurge",
  "verdict",
] as const
export type SortKey = (typeof sortKeys)[number]

export interface CatalogQuery {
  /** A glob on the name (`*` any run of characters, `?` one); empty for all. */
  readonly filter: string
  readonly sort: SortKey
  readonly dir: "asc" | "desc"
  /** Sorting by name: the first name of the page (the next page starts at the name after the last). */
  readonly from: string | undefined
  /** Sorting by anything else: the page number, from 0. */
  readonly page: number
  readonly size: number
}

export interface DbRow {
  readonly db: string
  readonly docCount: number
  readonly tombstones: number
  /** Tombstones among all documents, live and deleted. */
  readonly share: number
  readonly fileSize: number
  readonly activeSize: number
  /** What a compaction would give back: the file size less the live data. */
  readonly reclaimable: number
  /** When dbsweep last saved a purge checkpoint in this database (its `_local` document). */
  readonly lastPurge: string | undefined
  readonly worthPurging: boolean
  readonly reason: string
  /** Why the details could not be read (the row then shows only the name). */
  readonly error: string | undefined
}

export interface CatalogPage {
  readonly rows: ReadonlyArray<DbRow>
  /** Matching databases, when all were read (a sort other than by name); unknown otherwise. */
  readonly total: number | undefined
  /** Where the next page starts, if there is one. */
  readonly next: { readonly from?: string; readonly page?: number } | undefined
  readonly first: boolean
}

/** Details are kept this long: a reload or a sort within it costs no request to CouchDB. */
export const detailsTtlMs = 30_000
/** Databases whose details are read at once, one `GET /{db}` each, without `_dbs_info`. */
export const detailsConcurrency = 8
/** `POST /_dbs_info` requests at once. */
const dbsInfoConcurrency = 2
/** Names per `_all_dbs` request when the filter is more than a prefix (most names then fail it). */
const namesChunk = 1000

const Checkpoint = Schema.Struct({ updated_at: Schema.optional(Schema.String) })

/** `POST /_dbs_info` with each database's details. */
const dbsDetails = dbsInfoOf(DbDetails)

/** The filter as a glob: text without `*` or `?` matches the names that contain it. */
export const asGlob = (filter: string) => (filter === "" || isGlob(filter) ? filter : `*${filter}*`)

const rowOf = (db: string, d: DbDetails): DbRow => {
  const advice = purgeAdvice(d.doc_count, d.doc_del_count)
  const all = d.doc_count + d.doc_del_count
  return {
    db,
    docCount: d.doc_count,
    tombstones: d.doc_del_count,
    share: all > 0 ? d.doc_del_count / all : 0,
    fileSize: d.sizes.file,
    activeSize: d.sizes.active,
    reclaimable: Math.round(fragmentationOf(d.sizes) * d.sizes.file),
    lastPurge: undefined,
    worthPurging: advice.worth,
    reason: advice.reason,
    error: undefined,
  }
}

const failedRow = (db: string, error: string): DbRow => ({
  db,
  docCount: 0,
  tombstones: 0,
  share: 0,
  fileSize: 0,
  activeSize: 0,
  reclaimable: 0,
  lastPurge: undefined,
  worthPurging: false,
  reason: purgeAdvice(0, 0).reason,
  error,
})

const compareBy: Record<Exclude<SortKey, "name">, (a: DbRow, b: DbRow) => number> = {
  docs: (a, b) => a.docCount - b.docCount,
  tombstones: (a, b) => a.tombstones - b.tombstones,
  share: (a, b) => a.share - b.share,
  file: (a, b) => a.fileSize - b.fileSize,
  reclaimable: (a, b) => a.reclaimable - b.reclaimable,
  lastPurge: (a, b) => (a.lastPurge ?? "").localeCompare(b.lastPurge ?? ""),
  verdict: (a, b) => Number(a.worthPurging) - Number(b.worthPurging) || a.tombstones - b.tombstones,
}

/** Code-point order, as `_all_dbs` sorts (COUCHDB-FACTS §4). */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export interface Catalog {
  /** One page of databases for `query`. `changedAt` says when a run last changed a database. */
  readonly page: (
    couch: CouchClientShape,
    query: CatalogQuery,
    changedAt: ReadonlyMap<string, number>,
  ) => Effect.Effect<CatalogPage, Effect.Effect.Error<ReturnType<CouchClientShape["request"]>>>
}

interface Kept<A> {
  readonly at: number
  readonly value: A
}

/** What was kept, if read within the TTL and after the last run that changed the database. */
const fresh = <A>(kept: Kept<A> | undefined, now: number, changed: number | undefined) =>
  kept === undefined || now - kept.at > detailsTtlMs || kept.at <= (changed ?? 0) ? undefined : kept.value

/** A catalog with its own details cache (one per HTTP app). */
export const makeCatalog = (): Catalog => {
  const cache = new Map<string, Kept<DbRow>>()
  const checkpoints = new Map<string, Kept<{ readonly lastPurge: string | undefined }>>()

  /**
   * Up to `want` names matching the filter, in `_all_dbs` order from `from` (inclusive). A bare
   * prefix filter reads exactly what it needs; a glob reads chunks until it has enough.
   */
  const matchingNames = (
    couch: CouchClientShape,
    filter: string,
    from: string | undefined,
    want: number,
    descending: boolean,
  ) =>
    Effect.gen(function* () {
      const glob = asGlob(filter)
      const prefix = globPrefix(glob)
      const test = globTest(glob)
      const low = prefix
      const high = prefixEnd(prefix)
      // Every name in the range matches: read just what the page needs.
      const exact = glob === "" || glob === `${prefix}*`
      const chunk = exact ? Math.min(want, namesChunk * 10) : namesChunk
      const found: Array<string> = []
      let start = from ?? (descending ? high : low)
      let skip = 0
      for (;;) {
        const got = yield* allDbsPage(couch, {
          startKey: start,
          endKey: descending ? low : high,
          limit: chunk,
          descending,
          skip,
        })
        for (const name of got) {
          if (test(name)) found.push(name)
          if (found.length >= want) return found
        }
        if (got.length < chunk) return found
        start = got[got.length - 1]!
        skip = 1
      }
    })

  /** Whether the server answers `POST /_dbs_info` (CouchDB 2.2+); learnt on the first try. */
  let batchInfo: boolean | undefined

  const infoOne = (couch: CouchClientShape, db: string) =>
    dbDetails(couch, db).pipe(
      Effect.map((d) => rowOf(db, d)),
      Effect.catchAll((e) => Effect.succeed(failedRow(db, e.message.split("\n")[0]!))),
    )

  const infoBatch = (couch: CouchClientShape, dbs: ReadonlyArray<string>) =>
    Effect.map(dbsDetails(couch, dbs), (found) =>
      dbs.map((db) => {
        const info = found.get(db)
        return info === undefined ? failedRow(db, "the database no longer exists") : rowOf(db, info)
      }),
    )

  /** Each database's row from CouchDB: 100 a request, or one each where `_dbs_info` is missing. */
  const readInfo = (couch: CouchClientShape, dbs: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      if (dbs.length === 0) return []
      if (batchInfo !== false) {
        const first = yield* Effect.either(infoBatch(couch, dbs.slice(0, dbsInfoKeys)))
        if (Either.isRight(first)) {
          batchInfo = true
          const chunks: Array<ReadonlyArray<string>> = []
          for (let i = dbsInfoKeys; i < dbs.length; i += dbsInfoKeys)
            chunks.push(dbs.slice(i, i + dbsInfoKeys))
          const rest = yield* Effect.forEach(chunks, (c) => infoBatch(couch, c), {
            concurrency: dbsInfoConcurrency,
          })
          return [...first.right, ...rest.flat()]
        }
        if (batchInfo === true || !noDbsInfo(first.left)) return yield* Effect.fail(first.left)
        batchInfo = false
      }
      return yield* Effect.forEach(dbs, (db) => infoOne(couch, db), { concurrency: detailsConcurrency })
    })

  /** Rows for `dbs` in order, from the cache where fresh (read within the TTL, after the last run there). */
  const details = (
    couch: CouchClientShape,
    dbs: ReadonlyArray<string>,
    changedAt: ReadonlyMap<string, number>,
  ) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const missing = dbs.filter((db) => fresh(cache.get(db), now, changedAt.get(db)) === undefined)
      const read = yield* readInfo(couch, missing)
      const at = yield* Clock.currentTimeMillis
      for (const row of read) {
        if (row.error === undefined) cache.set(row.db, { at, value: row })
        else cache.delete(row.db)
      }
      const got = new Map(read.map((r) => [r.db, r]))
      return dbs.map((db) => got.get(db) ?? cache.get(db)!.value)
    })

  /** The rows with their last purge, read from each database's checkpoint (kept as long as details). */
  const withLastPurge = (
    couch: CouchClientShape,
    rows: ReadonlyArray<DbRow>,
    changedAt: ReadonlyMap<string, number>,
  ) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      return yield* Effect.forEach(
        rows,
        (row) => {
          if (row.error !== undefined) return Effect.succeed(row)
          const hit = fresh(checkpoints.get(row.db), now, changedAt.get(row.db))
          if (hit !== undefined) return Effect.succeed({ ...row, lastPurge: hit.lastPurge })
          return couch.getLocal(row.db, checkpointDocId).pipe(
            Effect.map(Option.flatMap(Schema.decodeUnknownOption(Checkpoint))),
            Effect.map((c) => Option.getOrUndefined(c)?.updated_at),
            // A checkpoint we may not read is no reason to hide the database's counts.
            Effect.orElseSucceed(() => undefined),
            Effect.tap((lastPurge) =>
              Clock.currentTimeMillis.pipe(
                Effect.map((at) => checkpoints.set(row.db, { at, value: { lastPurge } })),
              ),
            ),
            Effect.map((lastPurge) => ({ ...row, lastPurge })),
          )
        },
        { concurrency: detailsConcurrency },
      )
    })

  const page: Catalog["page"] = (couch, query, changedAt) =>
    Effect.gen(function* () {
      if (query.sort === "name") {
        const shown = yield* matchingNames(
          couch,
          query.filter,
          query.from,
          query.size + 1,
          query.dir === "desc",
        )
        const rows = yield* details(couch, shown.slice(0, query.size), changedAt)
        const after = shown[query.size]
        return {
          rows: yield* withLastPurge(couch, rows, changedAt),
          total: undefined,
          next: after === undefined ? undefined : { from: after },
          first: query.from === undefined,
        }
      }
      const all = yield* matchingNames(couch, query.filter, undefined, Number.MAX_SAFE_INTEGER, false)
      const read = yield* details(couch, all, changedAt)
      // Sorting by the last purge needs every checkpoint; any other sort only the shown rows'.
      const rows = query.sort === "lastPurge" ? yield* withLastPurge(couch, read, changedAt) : read
      const compare = compareBy[query.sort]
      const sign = query.dir === "asc" ? 1 : -1
      const sorted = [...rows].sort((a, b) => sign * compare(a, b) || byName(a.db, b.db))
      const start = query.page * query.size
      const shown = sorted.slice(start, start + query.size)
      return {
        rows: query.sort === "lastPurge" ? shown : yield* withLastPurge(couch, shown, changedAt),
        total: sorted.length,
        next: start + query.size < sorted.length ? { page: query.page + 1 } : undefined,
        first: query.page === 0,
      }
    })

  return { page }
}
