/**
 * What a purge of many databases answers: each database's outcome and the sums of the run, and
 * the one line naming the databases that failed. Apart from the run so its readers (CLI, HTTP,
 * library) need not know how it is made.
 */
import { Option } from "effect"
import type { PurgeCounts } from "./counts.ts"
import type { SkippedPurge } from "./outcome.ts"
import type { PurgeSummary } from "./summary.ts"

/**
 * A database's summary in a run of many: its purge's, less what the run says once for all (whether
 * it is a dry run; the checkpoint store, always the database's own `_local/dbsweep-purge`), so a
 * run of 100,000 databases keeps and prints a quarter less.
 */
export type DbSummary = Omit<PurgeSummary, "dryRun" | "checkpointStore">

/** How one database of the run ended (skipped: another purger holds its lease). */
export type DbOutcome =
  | SkippedPurge
  | ({ readonly state: "succeeded" | "failed" | "interrupted" } & DbSummary & {
        /** For a run that finished with failures inside it: what failed. */
        readonly error?: string
        /**
         * The database held no deleted document when the run looked (`doc_del_count` 0): nothing
         * was read or written in it; its checkpoint, not read (`checkpoint` absent), stays.
         */
        readonly nothingToPurge?: true
      })
  | {
      readonly db: string
      /** failed: before or while purging (the error says why); not started: the run was stopped first. */
      readonly state: "failed" | "not started"
      readonly error?: string
    }

export interface PurgeManySummary extends PurgeCounts {
  readonly dryRun: boolean
  /** What was asked for: names, globs, all. */
  readonly selection: string
  readonly databases: ReadonlyArray<DbOutcome>
  /** Globs (and --all-dbs) that matched no database. */
  readonly unmatched: ReadonlyArray<string>
  /** With a partition: which (`i/n`), and how many databases the selection held in all partitions. */
  readonly partition?: string
  readonly selectedInAllPartitions?: number
  readonly succeeded: number
  readonly failed: number
  /** Databases left alone because another purger holds their lease. */
  readonly skipped: number
  readonly interrupted: boolean
  readonly durationMs: number
}

/** The databases that failed, each with why: names every one in the summary, the first ten here. */
export const manyProblems = (s: PurgeManySummary): Option.Option<string> => {
  const failed = s.databases.filter((d): d is Exclude<DbOutcome, SkippedPurge> => d.state === "failed")
  if (failed.length === 0) return Option.none()
  const named = failed.slice(0, 10).map((d) => `${d.db} (${d.error ?? "failed"})`)
  const more = failed.length > 10 ? `; and ${failed.length - 10} more (see the summary)` : ""
  return Option.some(
    `${failed.length} of ${s.databases.length} databases failed: ${named.join("; ")}${more}. The others went on; each failed database keeps its checkpoint: run again`,
  )
}
