/**
 * The info of the databases of a purge of many, read 100 a request with `_dbs_info` instead of one
 * request each, and falling back to each database's own read where the server cannot answer.
 */
import { Effect } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import { dbsInfo, noDbsInfo } from "../couch/dbs-info.ts"
import { isRetryable } from "../couch/errors.ts"
import type { DbInfo } from "../couch/schema.ts"
import type { RunContext } from "../jobs/job.ts"
import { defaultRetryPolicy, withRetry } from "../shared/retry.ts"
import type { PurgeManyOptions } from "./many-options.ts"

/**
 * The info of a batch of databases from one `POST /_dbs_info` (retried as any request). Where the
 * server has no `_dbs_info` (400, 404, 405: before CouchDB 2.2, or a proxy that does not pass it)
 * it is not asked again; where it fails otherwise, or a database is not in its answer, each of
 * those databases reads its own info (and meets its own error there, as a run of one would).
 */
export const infoReader = (couch: CouchClientShape, o: PurgeManyOptions, context: RunContext) => {
  let supported = true
  const none = new Map<string, DbInfo>()
  return (dbs: Iterable<string>) => {
    const names = Array.from(dbs)
    const read = Effect.gen(function* () {
      // A stopping run starts no more databases: their info is not needed.
      if (!supported || (yield* context.stopping)) return none
      return yield* dbsInfo(couch, names).pipe(
        withRetry({ ...defaultRetryPolicy, retries: o.retries, base: o.retryBase }, isRetryable),
        Effect.catchAll((e) =>
          Effect.sync(() => {
            if (noDbsInfo(e)) supported = false
            return none
          }),
        ),
      )
    })
    return Effect.map(read, (found) => names.map((db) => [db, found.get(db)] as const))
  }
}
