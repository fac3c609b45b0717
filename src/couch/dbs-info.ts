import { HttpClientRequest } from "@effect/platform"
import { Effect, Schema } from "effect"
import type { CouchClientShape } from "./client.ts"
import { DbInfo } from "./schema.ts"

/**
 * Many databases' info in one request: `POST /_dbs_info` with `{"keys": […]}` (CouchDB 2.2+, at
 * most 100 keys: `max_db_number_for_dbs_info_req`), answered `[{key, info} | {key, error}]` in the
 * order asked (COUCHDB-FACTS, observed on 3.5.0). A purge of thousands of databases and the status
 * page's list read their info this way instead of one `GET /{db}` each.
 * https://docs.couchdb.org/en/stable/api/server/common.html#post--_dbs_info
 */

/** Keys per request: CouchDB refuses more (400 too_many_keys). */
export const dbsInfoKeys = 100

/**
 * Whether a failed `_dbs_info` says the server has none (before CouchDB 2.2, or a proxy that does
 * not pass it: 400 for an illegal database name, 404 or 405), so each database is read on its own;
 * anything else (a refused login, a server down) is the answer.
 */
export const noDbsInfo = (error: { readonly _tag: string }): boolean =>
  error._tag === "CouchBadRequest" || error._tag === "CouchNotFound" || error._tag === "CouchProtocolError"

/**
 * A reader of `_dbs_info` that decodes each database's info with `info` (`DbInfo`, or the status
 * page's `DbDetails`): the info of each of `dbs` (at most `dbsInfoKeys`) that the server found. A
 * database it did not find (gone, or never there) is absent from the map.
 */
export const dbsInfoOf = <A, I>(info: Schema.Schema<A, I>) => {
  // Made once: the client keeps one decoder per schema.
  const answer = Schema.Array(
    Schema.Union(
      Schema.Struct({ key: Schema.String, info }),
      Schema.Struct({ key: Schema.Unknown, error: Schema.String }),
    ),
  )
  return (couch: CouchClientShape, dbs: ReadonlyArray<string>) =>
    couch
      .request(
        "POST /_dbs_info",
        undefined,
        HttpClientRequest.post("/_dbs_info").pipe(HttpClientRequest.bodyUnsafeJson({ keys: dbs })),
        answer,
      )
      .pipe(
        Effect.map((r) => {
          const found = new Map<string, A>()
          for (const entry of r.body) if ("info" in entry) found.set(entry.key, entry.info)
          return found
        }),
      )
}

/** The purge's reader: a database missing from the map is for its own `GET /{db}` to fail as it would. */
export const dbsInfo = dbsInfoOf(DbInfo)
