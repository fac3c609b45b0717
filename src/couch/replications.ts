import { HttpClientRequest } from "@effect/platform"
import { Effect, Schema } from "effect"
import type { CouchClientShape } from "./client.ts"
import type { CouchError } from "./errors.ts"
import { Seq } from "./schema.ts"

/**
 * The replications a server runs, as `_scheduler/docs` (every `_replicator` document, with its
 * state and, once it has one, `info.checkpointed_source_seq`) and `_active_tasks` (running
 * replications, among them those started by `POST /_replicate`, which have no document) report
 * them. Shapes as observed on CouchDB 3.5.0 (COUCHDB-FACTS §10):
 * https://docs.couchdb.org/en/stable/api/server/common.html#scheduler-docs
 */

const SchedulerEntry = Schema.Struct({
  database: Schema.optional(Schema.NullOr(Schema.String)),
  doc_id: Schema.optional(Schema.NullOr(Schema.String)),
  /** The replication id; null once a one-off completed. */
  id: Schema.optional(Schema.NullOr(Schema.String)),
  state: Schema.optional(Schema.NullOr(Schema.String)),
  /** The source URL, credentials stripped, `/` appended. */
  source: Schema.optional(Schema.NullOr(Schema.String)),
  info: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        checkpointed_source_seq: Schema.optional(Schema.NullOr(Seq)),
        error: Schema.optional(Schema.Unknown),
      }),
    ),
  ),
})

const SchedulerPage = Schema.Struct({ docs: Schema.Array(SchedulerEntry) })

const TaskEntry = Schema.Struct({
  type: Schema.String,
  replication_id: Schema.optional(Schema.NullOr(Schema.String)),
  doc_id: Schema.optional(Schema.NullOr(Schema.String)),
  source: Schema.optional(Schema.NullOr(Schema.String)),
  checkpointed_source_seq: Schema.optional(Schema.NullOr(Seq)),
})

const Tasks = Schema.Array(TaskEntry)

/** One replication as dbsweep looks at it. */
export interface ReplicationInfo {
  /** The `_replicator` document's id; absent for one started by `POST /_replicate`. */
  readonly docId: string | undefined
  /** The replicator database holding the document (`_replicator`, or `x/_replicator`). */
  readonly database: string | undefined
  /** The replication id (`<hex>+continuous`); absent once a one-off completed. */
  readonly replicationId: string | undefined
  /** running, pending, completed, crashing, error, failed, …; "running" for an active task. */
  readonly state: string
  readonly source: string
  /** The source seq the replication last checkpointed; absent (or "0") before its first checkpoint. */
  readonly checkpoint: string | undefined
  /** What the scheduler says went wrong, in an error state. */
  readonly error: string | undefined
}

/** Documents asked per `_scheduler/docs` page. */
const schedulerPage = 1000

/** Every replication the server reports: `_scheduler/docs` read in pages, then `_active_tasks`. */
export const readReplications = Effect.fn("Couch.readReplications")(function* (
  couch: CouchClientShape,
  retried: <A>(effect: Effect.Effect<A, CouchError>) => Effect.Effect<A, CouchError>,
) {
  const found: Array<ReplicationInfo> = []
  for (let skip = 0; ; skip += schedulerPage) {
    const page = yield* retried(
      couch.request(
        "GET /_scheduler/docs",
        undefined,
        HttpClientRequest.get("/_scheduler/docs", {
          urlParams: { limit: String(schedulerPage), skip: String(skip) },
        }),
        SchedulerPage,
      ),
    )
    for (const d of page.body.docs) {
      if (typeof d.source !== "string") continue
      const error = d.info?.error
      found.push({
        docId: d.doc_id ?? undefined,
        database: d.database ?? undefined,
        replicationId: d.id ?? undefined,
        state: d.state ?? "pending",
        source: d.source,
        checkpoint: d.info?.checkpointed_source_seq ?? undefined,
        error:
          error === undefined || error === null
            ? undefined
            : typeof error === "string"
              ? error
              : JSON.stringify(error),
      })
    }
    if (page.body.docs.length < schedulerPage) break
  }
  const tasks = yield* retried(
    couch.request("GET /_active_tasks", undefined, HttpClientRequest.get("/_active_tasks"), Tasks),
  )
  const known = new Set(found.flatMap((r) => (r.replicationId === undefined ? [] : [r.replicationId])))
  for (const t of tasks.body) {
    // A task of a `_replicator` document is that document's replication, listed above.
    if (t.type !== "replication" || typeof t.source !== "string") continue
    if (typeof t.doc_id === "string" || (t.replication_id != null && known.has(t.replication_id))) continue
    found.push({
      docId: undefined,
      database: undefined,
      replicationId: t.replication_id ?? undefined,
      state: "running",
      source: t.source,
      checkpoint: t.checkpointed_source_seq ?? undefined,
      error: undefined,
    })
  }
  return found as ReadonlyArray<ReplicationInfo>
})
