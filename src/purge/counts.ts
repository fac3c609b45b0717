import { Effect } from "effect"
import { isRetryable } from "../couch/errors.ts"
import { countNow, failures, heldBack, purgedRevs, purgeRequests, retries } from "../shared/metrics.ts"
import { type RetryPolicy, withRetry } from "../shared/retry.ts"
import { addHeld, type HeldCounts, heldReasons, zeroHeld } from "./holds.ts"

/** What a purge run counted; the summary carries them as they are. */
export interface PurgeCounts {
  /** Deleted documents found in the feed. */
  readonly tombstones: number
  /** Leaf revs of those documents (what was, or in a dry run would be, sent). */
  readonly revs: number
  readonly purgedRevs: number
  /** Revs the server no longer had as leaves (purged meanwhile, or the doc was edited). */
  readonly alreadyGone: number
  readonly failedDocs: number
  readonly failedBatches: number
  readonly requests: number
  /** Requests answered 202: accepted without quorum. */
  readonly accepted: number
  readonly retries: number
  /** Tombstones held back by the safety caps (`--grace`, `--respect-replications`), by reason. */
  readonly heldBack: HeldCounts
}

export const zeroCounts: PurgeCounts = {
  tombstones: 0,
  revs: 0,
  purgedRevs: 0,
  alreadyGone: 0,
  failedDocs: 0,
  failedBatches: 0,
  requests: 0,
  accepted: 0,
  retries: 0,
  heldBack: zeroHeld,
}

export const addCounts = (
  c: PurgeCounts,
  delta: Partial<Omit<PurgeCounts, "heldBack">> & { readonly heldBack?: Partial<HeldCounts> },
): PurgeCounts => ({
  tombstones: c.tombstones + (delta.tombstones ?? 0),
  revs: c.revs + (delta.revs ?? 0),
  purgedRevs: c.purgedRevs + (delta.purgedRevs ?? 0),
  alreadyGone: c.alreadyGone + (delta.alreadyGone ?? 0),
  failedDocs: c.failedDocs + (delta.failedDocs ?? 0),
  failedBatches: c.failedBatches + (delta.failedBatches ?? 0),
  requests: c.requests + (delta.requests ?? 0),
  accepted: c.accepted + (delta.accepted ?? 0),
  retries: c.retries + (delta.retries ?? 0),
  heldBack: addHeld(c.heldBack, delta.heldBack),
})

/** A change to the counts. */
export type CountsDelta = Parameters<typeof addCounts>[1]

/** The same counts as process-wide metrics (for `/metrics`); a dry run's held-back ones are not. */
const measure = (d: CountsDelta, dryRun: boolean) => {
  countNow(purgedRevs, d.purgedRevs)
  countNow(purgeRequests, d.requests)
  countNow(retries, d.retries)
  countNow(failures, d.failedDocs, "purge_doc")
  countNow(failures, d.failedBatches, "purge_batch")
  const held = d.heldBack
  if (held !== undefined && !dryRun)
    for (const reason of heldReasons) countNow(heldBack, held[reason], reason)
}

/** The run's counts, shared by its steps (which run on many fibers of one thread). */
export interface Counter {
  /** Adds to the counts and the metrics in one step. */
  readonly bump: (delta: CountsDelta) => Effect.Effect<void>
  /** `bump` done now, for code already inside an effect's step (the sender's answer). */
  readonly add: (delta: CountsDelta) => void
  readonly get: Effect.Effect<PurgeCounts>
  /** Retries `effect` under the run's policy, counting each retry. */
  readonly retried: <A, E extends { readonly _tag: string; readonly message: string }>(
    effect: Effect.Effect<A, E>,
  ) => Effect.Effect<A, E>
}

/** The counts of one run; a dry run (`dryRun`) adds no held-back tombstones to the metrics. */
export const makeCounter = (policy: RetryPolicy, run: { readonly dryRun?: boolean } = {}) =>
  Effect.sync((): Counter => {
    let counts = zeroCounts
    const dryRun = run.dryRun ?? false
    const add = (delta: CountsDelta) => {
      counts = addCounts(counts, delta)
      measure(delta, dryRun)
    }
    const bump = (delta: CountsDelta) => Effect.sync(() => add(delta))
    const onRetry = (e: { readonly _tag: string; readonly message: string }) =>
      bump({ retries: 1 }).pipe(Effect.zipRight(Effect.logDebug(`retrying after: ${e.message}`)))
    return {
      bump,
      add,
      get: Effect.sync(() => counts),
      retried: (effect) => effect.pipe(withRetry(policy, isRetryable, onRetry)),
    }
  })
