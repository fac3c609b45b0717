/**
 * What a purge of one database answers: its counts, where its checkpoint stands, what the caps
 * held back and the compaction after it. Kept apart from the run so that the CLI, the HTTP mode
 * and the library read it without the machinery that makes it.
 */
import type { BatchLimits } from "./batches.ts"
import type { CapsReport } from "./caps.ts"
import type { PurgeCounts } from "./counts.ts"

export interface PurgeSummary extends PurgeCounts {
  readonly db: string
  readonly dryRun: boolean
  readonly since: string
  /** The seq the store holds at the end (what the next run starts from). */
  readonly checkpoint: string | undefined
  readonly checkpointStore: string
  /** False when the last checkpoint write failed: the next run repeats work, nothing is skipped. */
  readonly checkpointSaved: boolean
  /** Why the last checkpoint write failed. */
  readonly checkpointError: string | undefined
  readonly batchLimit: BatchLimits
  /** `--max-rate` when one was set: most tombstones purged a second. */
  readonly maxRate?: number
  /** What the safety caps found (with `--grace` / `--respect-replications`). */
  readonly caps?: CapsReport
  readonly interrupted: boolean
  readonly durationMs: number
  /**
   * With `compact`: the compaction run after the purge (a purge frees no disk until then): the
   * file size before and after, or why it failed. Absent when not asked for, or on a dry run.
   */
  readonly compaction?: PurgeCompaction
}

export type PurgeCompaction =
  | {
      readonly fileBefore: number
      readonly fileAfter: number
      readonly reclaimed: number
      readonly durationMs: number
    }
  | { readonly error: string }
