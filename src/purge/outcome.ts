/**
 * How a purge of one database under its lease ended (purged, lease lost, or skipped because
 * another purger holds it), and the one line that says what failed in it: shared by the job, the
 * run of many and the CLI.
 */
import { Option } from "effect"
import { failedWork } from "../jobs/job.ts"
import type { HeldElsewhere } from "./lease.ts"
import type { PurgeSummary } from "./summary.ts"

/** A purge that held the database's lease; `leaseLost` says why it lost it, if it did. */
export type LeasedSummary = PurgeSummary & { readonly leaseLost?: string }

/** A database left alone: another purger holds its lease. Not a failure (exit 0 for it). */
export interface SkippedPurge extends HeldElsewhere {
  readonly db: string
  readonly state: "skipped"
  readonly reason: string
  readonly dryRun: false
  readonly durationMs: number
}

/** How a purge of one database ended: purged (or dry run), or skipped. */
export type PurgeOutcome = LeasedSummary | SkippedPurge

export const isSkipped = (s: PurgeOutcome): s is SkippedPurge => "state" in s && s.state === "skipped"

/** The words a skipped database is reported with (summary, --json, /jobs). */
export const heldReason = "held by another purger"

/** Work that failed inside a finished purge, in one line. */
export const purgeProblems = (s: PurgeOutcome): Option.Option<string> => {
  if (isSkipped(s)) return Option.none()
  if (s.leaseLost !== undefined) {
    return Option.some(
      `lost the lease of ${s.db} (${s.leaseLost}): stopped purging it and left its checkpoint at ${s.checkpoint ?? "the start"} for the lease holder; nothing is skipped, the next run goes on from there`,
    )
  }
  if (!s.checkpointSaved) {
    return Option.some(
      `the purge ran but its checkpoint could not be saved in ${s.checkpointStore} (${s.checkpointError}): fix that and run again; it will repeat work since ${s.checkpoint ?? "the start"}, skipping nothing`,
    )
  }
  if (s.compaction !== undefined && "error" in s.compaction) {
    return Option.some(
      `the purge went well but the compaction after it failed (${s.compaction.error}): run dbsweep couch compact ${s.db} --wait`,
    )
  }
  return failedWork(
    s.failedDocs + s.failedBatches,
    () =>
      `${s.failedDocs} documents and ${s.failedBatches} batches were not purged (see the log); the checkpoint stays before them: run again`,
  )
}
