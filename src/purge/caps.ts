import { Effect } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { CouchError } from "../couch/errors.ts"
import { type ReplicationInfo, readReplications } from "../couch/replications.ts"
import { ConfigError } from "../shared/errors.ts"
import type { CheckpointStoreShape } from "./checkpoint.ts"
import type { Counter } from "./counts.ts"
import { graceStart } from "./grace.ts"
import { type HeldReason, type Holds, holdId, noHolds, outranks } from "./holds.ts"
import { checkpointsNothing, replicationName, replicationsOf } from "./replications.ts"

/** The safety caps of one run (`--grace`, `--respect-replications`). */
export interface CapsSettings {
  /** `--grace` in milliseconds: tombstones changed more recently are held back. */
  readonly graceMs?: number
  readonly respectReplications?: boolean
  /** `--ignore-replication`: document or replication ids not to respect. */
  readonly ignoreReplications?: ReadonlyArray<string>
  /** The server's replications, when the caller read them (a run of many reads them once). */
  readonly replications?: ReadonlyArray<ReplicationInfo>
}

/** What the caps found, for the summary. */
export interface CapsReport {
  readonly grace?: {
    readonly ms: number
    /** When the observation the grace starts from was made. */
    readonly since?: string
    /** No observation is old enough: everything waits; the first purge is possible from then. */
    readonly waitUntil?: string
  }
  readonly replications?: {
    /** Replications reading the database, each holding back what changed since its checkpoint. */
    readonly watched: ReadonlyArray<string>
    /** Replications in crashing, error or failed state: the whole database was held back. */
    readonly broken: ReadonlyArray<string>
    readonly ignored: ReadonlyArray<string>
  }
}

export interface Caps {
  readonly holds: Holds
  readonly report: CapsReport
  /**
   * Holds back what changed since the caps' feeds were last read; called after each page of the
   * main feed is read and before it is used, so every change that page shows is either before
   * the caps' seqs or in the holds.
   */
  readonly catchUp: Effect.Effect<void, CouchError>
}

/** Rows per page of the caps' own `_changes` reads (ids only; a row is a few dozen bytes). */
const idsPage = 10_000

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

/** What one cap's reads left: where its last `_changes` read ended (the catch-up goes on from there). */
interface CapRead {
  readonly tail?: string
}

/** The reads the caps of one database share: the holds they fill, and an ids-only feed reader. */
interface CapsScope {
  readonly couch: CouchClientShape
  readonly counter: Counter
  readonly db: string
  readonly holds: Holds
  /** Holds the deleted documents of `_changes?since=since` for `reason`; returns where it ended. */
  readonly readIds: (since: string, reason: HeldReason) => Effect.Effect<string, CouchError>
}

/**
 * `--respect-replications`: a broken replication reading the database holds all of it; a working
 * one holds what changed since its checkpoint.
 */
const replicationCap = (scope: CapsScope, settings: CapsSettings) =>
  Effect.gen(function* () {
    const { couch, counter, db, holds, readIds } = scope
    const all = settings.replications ?? (yield* readReplications(couch, counter.retried))
    const { watched, broken, ignored } = replicationsOf(db, all, settings.ignoreReplications ?? [])
    for (const r of broken) {
      yield* Effect.logWarning(
        `replication ${replicationName(r)} reads ${db} and is ${r.state}${r.error !== undefined ? ` (${r.error})` : ""}: nothing in ${db} is purged until it replicates again; fix it, or pass --ignore-replication ${replicationName(r)} to purge regardless`,
      ).pipe(Effect.annotateLogs({ db, replication: replicationName(r), state: r.state }))
    }
    for (const r of ignored) {
      yield* Effect.logInfo(`replication ${replicationName(r)} reads ${db}; ignored (--ignore-replication)`)
    }
    if (broken.length > 0) holds.all = "replication-error"
    else if (watched.some(checkpointsNothing)) holds.all = "replication"
    let tail: string | undefined
    if (outranks("replication", holds.all)) {
      const seqs = new Set(watched.map((r) => r.checkpoint as string))
      for (const seq of seqs) {
        tail = yield* readIds(seq, "replication").pipe(
          // A seq this database refuses (a replication of a same-named database elsewhere, say):
          // what it has replicated is unknown, so it holds back everything.
          Effect.catchTag("CouchBadRequest", (e) =>
            Effect.logWarning(
              `replication checkpoint ${seq} is not a seq ${db} accepts (${e.reason}): holding back every tombstone of ${db}`,
            ).pipe(
              Effect.andThen(() => {
                holds.all = "replication"
                return Effect.succeed(tail)
              }),
            ),
          ),
        )
      }
    }
    const read: CapRead & { readonly watching: boolean; readonly report: CapsReport["replications"] } = {
      ...(tail !== undefined ? { tail } : {}),
      watching: watched.length > 0,
      report: {
        watched: watched.map(replicationName),
        broken: broken.map(replicationName),
        ignored: ignored.map(replicationName),
      },
    }
    return read
  })

/**
 * `--grace`: records this run's observation (not in a dry run) and holds what changed since the
 * newest observation at least the grace old; with none that old, all of the database.
 */
const graceCap = (
  scope: CapsScope,
  store: CheckpointStoreShape,
  run: { readonly updateSeq: string; readonly observedAt: number; readonly dryRun: boolean },
  graceMs: number,
) =>
  Effect.gen(function* () {
    const { counter, db, holds, readIds } = scope
    const observations = store.observations
    if (observations === undefined) {
      return yield* new ConfigError({
        message: `--grace keeps its history in the database's _local checkpoint document; ${store.describe(db)} cannot hold it: leave out --checkpoint-file`,
      })
    }
    const history = yield* counter.retried(observations.load(db))
    const current = { at: run.observedAt, seq: run.updateSeq }
    const start = graceStart(history, run.observedAt, graceMs, current)
    if (!run.dryRun) yield* counter.retried(observations.record(db, current))
    if (start.kind === "none") {
      holds.all ??= "grace"
      yield* Effect.logWarning(
        `--grace: no observation of ${db} is old enough yet, so nothing is purged; the first purge is possible from ${iso(start.from)} (each run records one)`,
      ).pipe(Effect.annotateLogs({ db, purge_possible_from: iso(start.from) }))
      const waiting: CapRead & { readonly report: CapsReport["grace"] } = {
        report: { ms: graceMs, waitUntil: iso(start.from) },
      }
      return waiting
    }
    const tail = outranks("grace", holds.all) ? yield* readIds(start.seq, "grace") : undefined
    const read: CapRead & { readonly report: CapsReport["grace"] } = {
      ...(tail !== undefined ? { tail } : {}),
      report: { ms: graceMs, since: iso(start.at) },
    }
    return read
  })

/**
 * Reads what the caps hold back in `db` before its purge starts. `observedAt` is when `updateSeq`
 * (the database's update_seq) was known current: this run's observation for `--grace`, recorded
 * unless `dryRun` (a dry run writes nothing).
 */
export const prepareCaps = Effect.fn("Purge.prepareCaps")(function* (
  couch: CouchClientShape,
  store: CheckpointStoreShape,
  counter: Counter,
  run: {
    readonly db: string
    readonly updateSeq: string
    readonly observedAt: number
    readonly dryRun: boolean
  },
  settings: CapsSettings,
) {
  const { db } = run
  const holds = noHolds()
  const readIds = (since: string, reason: HeldReason) =>
    Effect.gen(function* () {
      let from = since
      for (;;) {
        const page = yield* counter.retried(
          couch.changes(db, { since: from, limit: idsPage, style: "main_only", seqInterval: idsPage }),
        )
        for (const row of page.results) if (row.deleted === true) holdId(holds, row.id, reason)
        from = page.last_seq
        if (page.results.length < idsPage || page.pending === 0) return from
      }
    })
  const scope: CapsScope = { couch, counter, db, holds, readIds }

  // Where the caps' reads ended and for which reason the catch-up holds what it finds (the first
  // cap that reads the feed, in the order of the reasons).
  let tail: string | undefined
  let tailReason: HeldReason | undefined
  let report: CapsReport = {}
  if (settings.respectReplications === true) {
    const replications = yield* replicationCap(scope, settings)
    tail = replications.tail ?? tail
    if (replications.watching) tailReason = "replication"
    report = { ...report, replications: replications.report }
  }
  if (settings.graceMs !== undefined) {
    const grace = yield* graceCap(scope, store, run, settings.graceMs)
    tail = grace.tail ?? tail
    if (grace.report?.since !== undefined) tailReason ??= "grace"
    report = { ...report, grace: grace.report }
  }

  const catchUp: Effect.Effect<void, CouchError> = Effect.suspend(() => {
    const reason = tailReason
    const from = tail
    if (reason === undefined || from === undefined || !outranks(reason, holds.all)) return Effect.void
    return Effect.flatMap(readIds(from, reason), (end) =>
      Effect.sync(() => {
        tail = end
      }),
    )
  })
  const caps: Caps = { holds, report, catchUp }
  return caps
})
