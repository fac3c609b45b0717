import { HttpClientRequest } from "@effect/platform"
import { Clock, Effect, Option, Schema } from "effect"
import { info, purgeAdvice } from "../couch/admin.ts"
import type { CouchClientShape } from "../couch/client.ts"
import { AllDbs } from "../couch/schema.ts"
import { checkpointDocId } from "../purge/checkpoint-local.ts"

/**
 * The databases as the status page lists them: names read from `_all_dbs` a page at a time
 * (`start_key`/`end_key`/`limit`), each shown database's details (`GET /{db}` and its purge
 * checkpoint) read a few at a time and kept briefly, so a server with 10,000 databases costs the
 * first page what one with 50 does. Sorting by anything but the name needs every matching
 * database's details: read with the same bounded concurrency, and kept as long.
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
/** Databases whose details are read at once. */
export const detailsConcurrency = 8
/** Names per `_all_dbs` request when the filter is more than a prefix (most names then fail it). */
const namesChunk = 1000

const Checkpoint = Schema.Struct({ updated_at: Schema.optional(Schema.String) })

const globChars = /[*?]/

/** The literal start of a glob: every matching name begins with it, so `_all_dbs` can start there. */
export const globPrefix = (glob: string) => {
  const at = glob.search(globChars)
  return at === -1 ? glob : glob.slice(0, at)
}

/** The filter as a glob: text without `*` or `?` matches the names that contain it. */
export const asGlob = (filter: string) => (filter === "" || globChars.test(filter) ? filter : `*${filter}*`)

/** A glob as a test on a name. */
export const globTest = (glob: string): ((name: string) => boolean) => {
  if (glob === "") return () => true
  const body = glob
    .split("")
    .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("")
  const re = new RegExp(`^${body}$`)
  return (name) => re.test(name)
}

const rowOf = (
  db: string,
  report: Effect.Effect.Success<ReturnType<typeof info>>,
  lastPurge: string | undefined,
): DbRow => ({
  db,
  docCount: report.docCount,
  tombstones: report.tombstones,
  share:
    report.docCount + report.tombstones > 0 ? report.tombstones / (report.docCount + report.tombstones) : 0,
  fileSize: report.sizes.file,
  activeSize: report.sizes.active,
  reclaimable: Math.max(0, report.sizes.file - report.sizes.active),
  lastPurge,
  worthPurging: report.purgeWorthIt,
  reason: report.purgeReason,
  error: undefined,
})

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

/** A catalog with its own details cache (one per HTTP app). */
export const makeCatalog = (): Catalog => {
  const cache = new Map<string, { readonly at: number; readonly row: DbRow }>()

  const names = (
    couch: CouchClientShape,
    params: { startKey: string; endKey: string; limit: number; descending: boolean; skip: number },
  ) =>
    couch
      .request(
        "GET /_all_dbs",
        undefined,
        HttpClientRequest.get("/_all_dbs", {
          urlParams: {
            start_key: JSON.stringify(params.startKey),
            end_key: JSON.stringify(params.endKey),
            limit: String(params.limit),
            ...(params.descending ? { descending: "true" } : {}),
            ...(params.skip > 0 ? { skip: String(params.skip) } : {}),
          },
        }),
        AllDbs,
      )
      .pipe(Effect.map((r) => r.body))

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
      const high = `${prefix}\ufff0`
      // Every name in the range matches: read just what the page needs.
      const exact = glob === "" || glob === `${prefix}*`
      const chunk = exact ? Math.min(want, namesChunk * 10) : namesChunk
      const found: Array<string> = []
      let start = from ?? (descending ? high : low)
      let skip = 0
      for (;;) {
        const got = yield* names(couch, {
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

  const details = (
    couch: CouchClientShape,
    dbs: ReadonlyArray<string>,
    changedAt: ReadonlyMap<string, number>,
  ) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const fresh = (db: string) => {
        const hit = cache.get(db)
        if (hit === undefined || now - hit.at > detailsTtlMs) return undefined
        return hit.at > (changedAt.get(db) ?? 0) ? hit.row : undefined
      }
      return yield* Effect.forEach(
        dbs,
        (db) =>
          Option.match(Option.fromNullable(fresh(db)), {
            onSome: Effect.succeed,
            onNone: () =>
              Effect.all(
                [
                  info(couch, db),
                  couch.getLocal(db, checkpointDocId).pipe(
                    Effect.map(Option.flatMap(Schema.decodeUnknownOption(Checkpoint))),
                    Effect.map((c) => Option.getOrUndefined(c)?.updated_at),
                    // A checkpoint we may not read is no reason to hide the database's counts.
                    Effect.orElseSucceed(() => undefined),
                  ),
                ],
                { concurrency: 2 },
              ).pipe(
                Effect.map(([report, lastPurge]) => rowOf(db, report, lastPurge)),
                Effect.catchAll((e) => Effect.succeed(failedRow(db, e.message.split("\n")[0]!))),
                Effect.tap((row) =>
                  Clock.currentTimeMillis.pipe(
                    Effect.map((at) =>
                      row.error === undefined ? cache.set(db, { at, row }) : cache.delete(db),
                    ),
                  ),
                ),
              ),
          }),
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
          rows,
          total: undefined,
          next: after === undefined ? undefined : { from: after },
          first: query.from === undefined,
        }
      }
      const all = yield* matchingNames(couch, query.filter, undefined, Number.MAX_SAFE_INTEGER, false)
      const rows = yield* details(couch, all, changedAt)
      const compare = compareBy[query.sort]
      const sign = query.dir === "asc" ? 1 : -1
      const sorted = [...rows].sort((a, b) => sign * compare(a, b) || byName(a.db, b.db))
      const start = query.page * query.size
      return {
        rows: sorted.slice(start, start + query.size),
        total: sorted.length,
        next: start + query.size < sorted.length ? { page: query.page + 1 } : undefined,
        first: query.page === 0,
      }
    })

  return { page }
}
