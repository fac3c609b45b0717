import { hostname } from "node:os"
import { Clock, Effect, Option, Schema } from "effect"
import { type AdvisoryLock, tryAdvisoryLock } from "../pg/advisory-lock.ts"
import { decodeRows, type PgClientShape } from "../pg/client.ts"
import { isRetryable } from "../pg/errors.ts"
import { retrySchedule } from "../shared/retry.ts"
import { checkArchiveFile } from "./archive-file.ts"
import { makeBatchStatement } from "./batch-statement.ts"
import { makeBatches } from "./batches.ts"
import { makeLockGuard } from "./lock-guard.ts"
import { maskEmail } from "./mask.ts"
import type { CleanupOptions } from "./options.ts"
import { listPass, rangePass } from "./passes.ts"
import { type ArchiveTable, checkHistoryTable } from "./side-tables.ts"
import * as Statements from "./statements.ts"
import { type ResolvedTarget, resolveTarget } from "./target.ts"

export type { CleanupOptions } from "./options.ts"

export interface SampleRow {
  readonly id: string
  readonly email: string
}

export interface CleanupSummary {
  /** The pending table, `"schema"."table"`. */
  readonly target: string
  readonly dryRun: boolean
  /** Another instance held the lock, so this run did nothing. */
  readonly skipped: boolean
  /**
   * Dry run only: rows that a run would delete now. A real run does not count the matches first
   * (its batches find them), so it reports only `deleted`.
   */
  readonly matched?: number | undefined
  readonly sample: ReadonlyArray<SampleRow>
  readonly deleted: number
  readonly batches: number
  readonly failedBatches: number
  readonly retries: number
  readonly longestBatchMs: number
  /** Stopped early (Ctrl-C / SIGTERM) after the batches in flight. */
  readonly interrupted: boolean
  readonly startedAt: string
  readonly endedAt: string
  readonly durationMs: number
}

/** The advisory lock is per target table, so cleanups of different tables do not exclude each other. */
export const lockName = (target: ResolvedTarget) => `dbsweep.cleanup:${target.pendingName}`

const Count = Schema.Struct({ n: Schema.NumberFromString })
const Sample = Schema.Struct({ id: Schema.String, email: Schema.String })

const iso = (millis: number) => new Date(millis).toISOString()

/**
 * One cleanup run: check the target, take the advisory lock (or skip), then either count and
 * sample (dry run) or delete in batches. `stopping` is checked before each batch: once it is
 * true no new batch starts and the run ends after the batches in flight.
 */
export const runCleanup = Effect.fn("Cleanup.run")(function* (
  client: PgClientShape,
  options: CleanupOptions,
  stopping: Effect.Effect<boolean>,
) {
  const startedAt = yield* Clock.currentTimeMillis
  const target = yield* resolveTarget(client, options.target, {
    delete: !options.dryRun,
    archiveTable: Option.getOrUndefined(options.archiveTable),
    historyTable: Option.getOrUndefined(options.historyTable),
  })
  if (Option.isSome(options.archiveFile)) yield* checkArchiveFile(options.archiveFile.value)
  const summary = (partial: Partial<CleanupSummary>) =>
    Clock.currentTimeMillis.pipe(
      Effect.map(
        (now): CleanupSummary => ({
          target: target.pendingName,
          dryRun: options.dryRun,
          skipped: false,
          ...(options.dryRun ? { matched: 0 } : {}),
          sample: [],
          deleted: 0,
          batches: 0,
          failedBatches: 0,
          retries: 0,
          longestBatchMs: 0,
          interrupted: false,
          ...partial,
          startedAt: iso(startedAt),
          endedAt: iso(now),
          durationMs: now - startedAt,
        }),
      ),
    )

  return yield* Effect.scoped(
    Effect.gen(function* () {
      const lock = yield* tryAdvisoryLock(client, lockName(target))
      if (Option.isNone(lock)) {
        yield* Effect.logInfo(
          `another dbsweep cleanup of ${target.pendingName} is running; skipping this run`,
        )
        return yield* summary({ skipped: true })
      }
      if (options.dryRun) return yield* summary(yield* dryRun(client, target, options))
      const counts = yield* deleteAll(client, target, options, lock.value, stopping)
      return yield* summary(counts)
    }),
  )
})

const dryRun = Effect.fn("Cleanup.dryRun")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  options: CleanupOptions,
) {
  const counted = yield* client
    .query("counting matches", (sql) => Statements.countMatches(sql, target))
    .pipe(Effect.flatMap(decodeRows(Count, "counting matches")))
  const rows =
    options.sample > 0
      ? yield* client
          .query("sampling matches", (sql) => Statements.sampleMatches(sql, target, options.sample))
          .pipe(Effect.flatMap(decodeRows(Sample, "sampling matches")))
      : []
  const sample = rows.map((r) => ({ id: r.id, email: options.showEmails ? r.email : maskEmail(r.email) }))
  return { matched: counted[0]?.n ?? 0, sample }
})

/**
 * Deletes every match in batches: the batch statement, guarded by the lock, walked by block range
 * when an index serves the match or over a match list otherwise. A pass whose connection drops
 * before any batch failed is run again (rows already deleted no longer match).
 */
const deleteAll = Effect.fn("Cleanup.deleteAll")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  options: CleanupOptions,
  lock: AdvisoryLock,
  stopping: Effect.Effect<boolean>,
) {
  if (target.archive !== undefined) yield* prepareArchiveTable(client, target, target.archive)
  const statement = yield* makeBatchStatement(client, target, options)
  const guard = yield* makeLockGuard(lock, { server: client.endpoint.display, table: target.pendingName })
  const batches = yield* makeBatches(statement, guard, options.retry, stopping)
  const pass = target.usersIndexed ? rangePass : listPass
  yield* pass(client, target, batches, options).pipe(
    Effect.retry({
      schedule: retrySchedule(options.retry),
      // Only a pass no batch has failed in is worth repeating; otherwise the error ends the run.
      while: (e) =>
        e._tag === "PgConnectError" && isRetryable(e)
          ? batches.anyFailed.pipe(
              Effect.map((failed) => !failed),
              Effect.tap((again) =>
                again ? Effect.logWarning(`${e.message}; reading the match list again`) : Effect.void,
              ),
            )
          : Effect.succeed(false),
    }),
  )
  const counts = yield* batches.counts
  return { ...counts, interrupted: yield* batches.interrupted }
})

/**
 * Creates the archive table the preflight found missing, or adds to dbsweep's own archive the
 * columns the pending table gained: in one transaction, so a half-made archive never stays. An
 * existing table is otherwise never altered.
 */
const prepareArchiveTable = (client: PgClientShape, target: ResolvedTarget, archive: ArchiveTable) => {
  const operation = "preparing the archive table"
  if (archive.exists && archive.addColumns.length === 0) return Effect.void
  return client.transaction(operation, (tx) =>
    archive.exists
      ? Effect.forEach(archive.addColumns, (c) =>
          tx.query(operation, (sql) =>
            Statements.addArchiveColumn(sql, target, archive.name, c.name, c.type),
          ),
        )
      : Effect.all([
          tx.query(operation, (sql) => Statements.createArchiveTable(sql, target, archive.name)),
          tx.query(operation, (sql) => Statements.addArchivedAt(sql, target, archive.name)),
          tx.query(operation, (sql) => Statements.markArchiveTable(sql, target, archive.name)),
        ]),
  )
}

/** Appends one row to the history table (created if missing); a failure here only warns. */
export const recordHistory = (
  client: PgClientShape,
  schema: string,
  name: string,
  row: Omit<Statements.HistoryRow, "host">,
) =>
  Effect.gen(function* () {
    // Checked again here, as the run may have failed before its preflight got to it: a table that
    // is not a run history is never written to (the preflight's error already says why).
    const refused = yield* checkHistoryTable(client, schema, name).pipe(
      Effect.as(false),
      Effect.catchTag("BadConfig", () => Effect.succeed(true)),
    )
    if (refused) return yield* Effect.logDebug(`not recording the run: ${name} is not a run history`)
    yield* client.query("creating the history table", (sql) =>
      Statements.createHistoryTable(sql, schema, name),
    )
    yield* client.query("recording the run", (sql) =>
      Statements.insertHistory(sql, schema, name, { ...row, host: hostname() }),
    )
  }).pipe(Effect.catchAll((e) => Effect.logWarning(`could not record the run in ${name}: ${e.message}`)))
