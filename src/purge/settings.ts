/**
 * What a purge of one database is asked to do: the settings `runPurge` takes (from a job's
 * options, or from a run of many for each of its databases), and the batch limits they start with.
 */
import type { Option } from "effect"
import type { DbInfo, ServerInfo } from "../couch/schema.ts"
import type { RetryPolicy } from "../shared/retry.ts"
import type { BatchLimits } from "./batches.ts"
import type { CapsSettings } from "./caps.ts"
import { autoLimits } from "./units.ts"

export interface PurgeSettings {
  readonly db: string
  /** Most ids per `_purge` request, or "auto" (from the server's version). */
  readonly batch: number | "auto"
  readonly concurrency: number
  readonly retry: RetryPolicy
  /** Where to start: the stored checkpoint, or an explicit "0", "now" or seq. */
  readonly since: Option.Option<string>
  readonly dryRun: boolean
  /** Print each selected (dry run) or purged document as an NDJSON line on stdout. */
  readonly list: boolean
  /** List lines name the database (a run of many databases). */
  readonly listDb?: boolean
  /** Rows per `_changes` page; 0 picks one from the batch size. */
  readonly pageSize: number
  /** Least time between checkpoint writes while running (the last one is always written). */
  readonly checkpointEveryMs: number
  /** The server's `GET /` answer when the caller has it (a run of many databases asks once). */
  readonly server?: ServerInfo
  /** The database's info when the caller has it (a run of many reads 100 at a time). */
  readonly info?: DbInfo
  /** `--max-rate`: most tombstones purged a second in this database (none: as fast as it goes). */
  readonly maxRate?: number
  /** The safety caps (`--grace`, `--respect-replications`); none: every tombstone found is purged. */
  readonly caps?: CapsSettings
}

/** The batch limits a run starts with: `--batch` or the server's, and under --max-rate a request holds at most a second's worth, so the pace is even, not bursts. */
export const limitsFor = (options: PurgeSettings, version: string): BatchLimits => {
  const asked = options.batch === "auto" ? autoLimits(version) : { maxIds: options.batch, maxRevs: 1000 }
  return options.maxRate !== undefined && !options.dryRun
    ? { ...asked, maxIds: Math.max(1, Math.min(asked.maxIds, Math.floor(options.maxRate))) }
    : asked
}
