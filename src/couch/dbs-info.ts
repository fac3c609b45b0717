import { HttpClientRequest } from "@effect/platform"
import { Effect, Schema } from "effect"
import type { CouchClientShape } from "./client.ts"
import { DbInfo } from "./schema.ts"

/**
 * Many databases' info in one request: `POST /_dbs_info` with `{"keys": […]}` (CouchDB 2.2+, at
 * most 100 keys: `max_db_number_for_dbs_info_req`), answered `[{key, info} | {key, error}]` in the
 * order asked (COUCHDB-FACTS, observed on 3.5.0). A purge of thousands of databases reads their
 * info this way instead of one `GET /{db}` each.
 * https://docs.couchdb.org/en/stable/api/server/common.html#post--_dbs_info
 */

/** Keys per request: CouchDB refuses more (400 too_many_keys). */
export const dbsInfoKeys = 100

const DbsInfoAnswer = Schema.Array(
  Schema.Union(
    Schema.Struct({ key: Schema.String, info: DbInfo }),
    Schema.Struct({ key: Schema.Unknown, error: Schema.String }),
  ),
)

/**
 * The info of each of `dbs` (at most `dbsInfoKeys`) that the server found; a database it did not
 * find (gone, or never there) is absent from the map, for its own `GET /{db}` to fail as it would.
 */
export const dbsInfo = (couch: CouchClientShape, dbs: ReadonlyArray<string>) =>
  couch
    .request(
      "POST /_dbs_info",
      undefined,
      HttpClientRequest.post("/_dbs_info").pipe(HttpClientRequest.bodyUnsafeJson({ keys: dbs })),
      DbsInfoAnswer,
    )
    .pipe(
      Effect.map((r) => {
        const found = new Map<string, DbInfo>()
        for (const entry of r.body) if ("info" in entry) found.set(entry.key, entry.info)
        return found
      }),
    )
