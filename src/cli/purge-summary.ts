/**
 * The human summary `dbsweep purge` prints at the end (without --json): of one database, with
 * what the safety caps held back and the compaction after it, or of a run of many, a line each.
 */
import { bytes } from "../couch/reports.ts"
import { showHeld, totalHeld } from "../purge/holds.ts"
import type { PurgeManySummary } from "../purge/many-summary.ts"
import { isSkipped, type PurgeOutcome, type SkippedPurge } from "../purge/outcome.ts"
import type { PurgeSummary } from "../purge/summary.ts"

/** A database another purger holds: who, until when, and where the lease is. */
const skippedLine = (s: SkippedPurge) =>
  `${s.db}: skipped, ${s.reason} (${s.holder}, lease until ${s.expiresAt}; ${s.lease})`

export const humanSummary = (outcome: PurgeOutcome): string => {
  if (isSkipped(outcome)) return skippedLine(outcome)
  const s = outcome
  const verb = s.dryRun ? "would purge" : "purged"
  const lines = [
    `${s.db}: ${verb} ${s.dryRun ? s.revs : s.purgedRevs} revs of ${s.tombstones} deleted documents in ${(s.durationMs / 1000).toFixed(1)}s`,
  ]
  if (!s.dryRun) {
    lines.push(
      `  already gone ${s.alreadyGone}, failed documents ${s.failedDocs}, failed batches ${s.failedBatches}, requests ${s.requests}, retries ${s.retries}, accepted without quorum (202) ${s.accepted}`,
    )
  }
  lines.push(
    s.checkpointSaved
      ? `  checkpoint ${s.checkpoint ?? "(none)"} in ${s.checkpointStore}${s.dryRun ? " (unchanged by a dry run)" : ""}`
      : `  checkpoint NOT saved in ${s.checkpointStore} (${s.checkpointError}); it stays at ${s.checkpoint ?? "(none)"}: the next run repeats work from there, nothing is skipped`,
  )
  lines.push(...capsLines(s))
  if (s.compaction !== undefined) {
    lines.push(
      "error" in s.compaction
        ? `  compaction after the purge failed: ${s.compaction.error}`
        : `  compacted in ${(s.compaction.durationMs / 1000).toFixed(1)}s: file size ${bytes(s.compaction.fileBefore)} -> ${bytes(s.compaction.fileAfter)} (reclaimed ${bytes(s.compaction.reclaimed)})`,
    )
  }
  if (s.leaseLost !== undefined) lines.push(`  lease lost (${s.leaseLost}): stopped, checkpoint left alone`)
  else if (s.interrupted) lines.push("  interrupted: run again to continue from the checkpoint")
  return lines.join("\n")
}

/** What the safety caps held back and why, for an operator. */
const capsLines = (s: PurgeSummary): ReadonlyArray<string> => {
  if (s.caps === undefined) return []
  const lines: Array<string> = []
  const held = totalHeld(s.heldBack)
  lines.push(
    held === 0
      ? "  held back 0 tombstones"
      : `  held back ${showHeld(s.heldBack)} tombstones: not ${s.dryRun ? "selected" : "purged"}; the checkpoint stays before the first, so a later run looks at them again`,
  )
  const grace = s.caps.grace
  if (grace?.waitUntil !== undefined)
    lines.push(
      `  --grace: no observation of ${s.db} is old enough yet; nothing is purged before ${grace.waitUntil}`,
    )
  else if (grace?.since !== undefined)
    lines.push(`  --grace: tombstones changed since ${grace.since} (the newest observation that old) wait`)
  const r = s.caps.replications
  if (r !== undefined) {
    if (r.broken.length > 0)
      lines.push(
        `  replications in an error state hold the whole database back: ${r.broken.join(", ")} (see the log; --ignore-replication ID lets one go)`,
      )
    lines.push(
      r.watched.length === 0
        ? "  no other replication reads this database"
        : `  replications reading this database: ${r.watched.join(", ")}`,
    )
    if (r.ignored.length > 0) lines.push(`  ignored replications: ${r.ignored.join(", ")}`)
  }
  return lines
}

const summaryLine = (s: Omit<PurgeSummary, "dryRun" | "checkpointStore">, dryRun: boolean): string =>
  `${dryRun ? "would purge" : "purged"} ${dryRun ? s.revs : s.purgedRevs} revs of ${s.tombstones} deleted documents in ${(s.durationMs / 1000).toFixed(1)}s${totalHeld(s.heldBack) > 0 ? `; held back ${showHeld(s.heldBack)}` : ""}${s.caps?.grace?.waitUntil !== undefined ? ` (grace: nothing before ${s.caps.grace.waitUntil})` : ""}${(s.caps?.replications?.broken.length ?? 0) > 0 ? ` (replication in error: ${s.caps?.replications?.broken.join(", ")})` : ""}`

/** A run of many databases: the whole, then one line per database (and why each failure failed). */
export const humanManySummary = (s: PurgeManySummary): string => {
  const verb = s.dryRun ? "would purge" : "purged"
  const notStarted = s.databases.filter((d) => d.state === "not started").length
  const skipped = s.databases.filter((d) => d.state === "skipped").length
  const interrupted = s.databases.filter((d) => d.state === "interrupted").length
  const lines = [
    `${s.databases.length} databases (${s.selection}${s.partition !== undefined ? `; partition ${s.partition}: ${s.databases.length} of ${s.selectedInAllPartitions ?? 0}` : ""}): ${verb} ${s.dryRun ? s.revs : s.purgedRevs} revs of ${s.tombstones} deleted documents in ${(s.durationMs / 1000).toFixed(1)}s; ${s.succeeded} succeeded, ${s.failed} failed${skipped > 0 ? `, ${skipped} skipped (held by another purger)` : ""}${interrupted > 0 ? `, ${interrupted} interrupted` : ""}${notStarted > 0 ? `, ${notStarted} not started` : ""}`,
  ]
  if (totalHeld(s.heldBack) > 0)
    lines.push(`  held back ${showHeld(s.heldBack)} tombstones in all (see each database)`)
  for (const glob of s.unmatched) lines.push(`  ${glob} matched no database`)
  for (const d of s.databases) {
    if (d.state === "skipped") {
      lines.push(`  ${skippedLine(d)}`)
    } else if (!("tombstones" in d)) {
      lines.push(
        `  ${d.db}: ${d.state === "failed" ? `FAILED: ${d.error ?? ""}` : "not started (the run was stopped)"}`,
      )
    } else if (d.state === "failed") {
      lines.push(`  ${d.db}: FAILED: ${d.error ?? ""} (${summaryLine(d, s.dryRun)})`)
    } else {
      lines.push(`  ${d.db}: ${summaryLine(d, s.dryRun)}${d.state === "interrupted" ? " (interrupted)" : ""}`)
    }
  }
  if (s.interrupted) lines.push("  interrupted: run again to continue from each database's checkpoint")
  return lines.join("\n")
}
