/**
 * The read side of a fake CouchDB client for in-process purge tests: a 3.5.0 server and one
 * database of `n` tombstones (`d0`…), all in the first feed page; a later page is empty.
 */
import { Effect } from "effect"
import type { CouchClientShape } from "../../src/couch/client.ts"

export const tombstoneFeed = (n: number): Pick<CouchClientShape, "serverInfo" | "dbInfo" | "changes"> => ({
  serverInfo: Effect.succeed({ couchdb: "Welcome", version: "3.5.0" }),
  dbInfo: (db) => Effect.succeed({ db_name: db, doc_count: 0, doc_del_count: n, update_seq: `${n}-x` }),
  changes: (_db, params) =>
    Effect.succeed(
      params.since === "0"
        ? {
            results: Array.from({ length: n }, (_, i) => ({
              seq: `${i + 1}-x`,
              id: `d${i}`,
              changes: [{ rev: `2-${i}` }],
              deleted: true,
            })),
            last_seq: `${n}-x`,
            pending: 0,
          }
        : { results: [], last_seq: `${n}-x`, pending: 0 },
    ),
})
