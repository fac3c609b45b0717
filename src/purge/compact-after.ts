/**
 * `--compact`: a purge frees no disk until the database is compacted, so a purge that went well
 * is followed by a compaction, waited for and reported in its summary.
 */
import { Effect } from "effect"
import { compact, defaultPoll } from "../couch/admin.ts"
import type { CouchClientShape } from "../couch/client.ts"
import type { RunContext } from "../jobs/job.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import { runPurge } from "./purge.ts"
import type { PurgeSettings } from "./settings.ts"
import type { PurgeCompaction, PurgeSummary } from "./summary.ts"

/** Whether a finished purge is one to compact after: real, complete, nothing failed. */
const wentWell = (s: PurgeSummary) =>
  !s.dryRun && !s.interrupted && s.checkpointSaved && s.failedDocs + s.failedBatches === 0

/**
 * The purge, then with `compactAfter` the database's compaction, waited for: a purge frees no disk
 * until the database is compacted (https://docs.couchdb.org/en/stable/maintenance/compaction.html).
 * A failed compaction is reported in the summary, not lost with the purge's counts.
 */
export const purgeThenCompact = Effect.fn("Purge.purgeThenCompact")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  settings: PurgeSettings,
  context: RunContext,
  compactAfter: boolean,
) {
  const summary = yield* runPurge(couch, store, settings, context)
  if (!compactAfter || !wentWell(summary)) return summary
  const options = { views: false, wait: true, poll: defaultPoll }
  const compaction = yield* compact(couch, settings.db, options, context.progress).pipe(
    Effect.map(
      (r): PurgeCompaction => ({
        fileBefore: r.fileBefore,
        fileAfter: r.fileAfter ?? r.fileBefore,
        reclaimed: r.reclaimed ?? 0,
        durationMs: r.durationMs,
      }),
    ),
    Effect.catchAll((e) => Effect.succeed<PurgeCompaction>({ error: e.message })),
  )
  const done: PurgeSummary = { ...summary, compaction }
  return done
})
