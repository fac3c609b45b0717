import { hostname } from "node:os"
import { Clock, Duration, Effect, Option, Ref, Schema, Stream } from "effect"
import { type AdvisoryLock, tryAdvisoryLock } from "../pg/advisory-lock.ts"
import { decodeRows, type PgClientShape, type ReservedSql, type Sql } from "../pg/client.ts"
import { isRetryable, PgConnectError, type PgError } from "../pg/errors.ts"
import type { JobFailed } from "../shared/errors.ts"
import { type RetryPolicy, withRetry } from "../shared/retry.ts"
import { type ArchiveFile, type ArchiveFileError, checkArchiveFile, openArchiveFile } from "./archive-file.ts"
import { maskEmail } from "./mask.ts"
import { MatchList } from "./match-list.ts"
import { type ArchiveTable, checkHistoryTable } from "./side-tables.ts"
import * as Statements from "./statements.ts"
import { type CleanupTarget, type ResolvedTarget, resolveTarget } from "./target.ts"

export interface CleanupOptions {
  readonly target: CleanupTarget
  /** Most pending rows per batch transaction. */
  readonly batchSize: number
  /** Batch transactions at once (each on its own connection). */
  readonly concurrency: number
  readonly lockTimeout: Duration.Duration
  readonly statementTimeout: Duration.Duration
  readonly dryRun: boolean
  /** Rows shown by a dry run. */
  readonly sample: number
  readonly showEmails: boolean
  /** Table (in the target schema) that receives the deleted rows, created if missing. */
  readonly archiveTable: Option.Option<string>
  /** NDJSON file that receives the deleted rows. */
  readonly archiveFile: Option.Option<string>
  /** Table (in the target schema) that gets one row per run. */
  readonly historyTable: Option.Option<string>
  readonly retry: RetryPolicy
}

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
const Blocks = Schema.Struct({ blocks: Schema.Number, tuples: Schema.Number, pages: Schema.Number })
const Sample = Schema.Struct({ id: Schema.String, email: Schema.String })
const Deleted = Schema.Struct({ id: Schema.String, row: Schema.optional(Schema.String) })
const DeletedCount = Schema.Struct({ n: Schema.Number })

interface Counts {
  readonly deleted: number
  readonly batches: number
  readonly failedBatches: number
  readonly retries: number
  readonly longestBatchMs: number
}

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

const deleteAll = Effect.fn("Cleanup.deleteAll")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  options: CleanupOptions,
  firstLock: AdvisoryLock,
  stopping: Effect.Effect<boolean>,
) {
  const archiveTable = target.archive?.name
  if (target.archive !== undefined) yield* prepareArchiveTable(client, target, target.archive)
  const file = Option.isSome(options.archiveFile)
    ? yield* openArchiveFile(options.archiveFile.value)
    : undefined
  const mode: Statements.ArchiveMode =
    archiveTable !== undefined ? "table" : file !== undefined ? "rows" : "none"
  // A file batch must commit right after its lines are synced, and be undone if it does not: one at a time.
  const fileTurn = yield* Effect.makeSemaphore(1)

  const counts = yield* Ref.make<Counts>({
    deleted: 0,
    batches: 0,
    failedBatches: 0,
    retries: 0,
    longestBatchMs: 0,
  })
  const interrupted = yield* Ref.make(false)

  /**
   * The lock dies with its connection (a restart, pg_terminate_backend). Then another instance may
   * already be running, so this run stops cleanly before its next batch: every batch is its own
   * transaction, so nothing is half-done, and the next run continues. (Taking the lock again on the
   * same pool was tried: postgres 3.4.9 can leave a connection the server cut unable to send, and
   * the run hung.) Checked at most twice a second, not before every batch: a round trip per batch
   * costs more than it guards (batches re-check every match, so a brief overlap with another
   * instance after the lock is lost deletes nothing it should not).
   */
  let lockCheckedAt = 0
  const ensureLock = Clock.currentTimeMillis.pipe(
    Effect.flatMap((now) => {
      if (now - lockCheckedAt < 500) return Effect.void
      lockCheckedAt = now
      return firstLock.check
    }),
    Effect.catchAll(
      (e) =>
        new PgConnectError({
          target: client.endpoint.display,
          reason: `lost the session holding the advisory lock on ${target.pendingName} (${e.message.split(" (")[0]}); stopped before the next batch, nothing half-done: run again`,
        }),
    ),
  )

  const limited = yield* client.limited({
    max: options.concurrency,
    lockTimeout: options.lockTimeout,
    statementTimeout: options.statementTimeout,
  })
  const lockMs = `${Math.round(Duration.toMillis(options.lockTimeout))}`
  const statementMs = `${Math.round(Duration.toMillis(options.statementTimeout))}`

  type Batch = Statements.BatchSpec
  const attempt = (n: number, matches: Batch) => {
    const operation = `cleanup batch ${n}`
    const statement = (sql: Sql | ReservedSql) =>
      Statements.deleteBatch(sql, target, matches, { mode, table: archiveTable })
    // Without a file, the batch is one statement: a transaction of its own, under the limits.
    if (file === undefined) {
      return limited.query(operation, statement).pipe(
        Effect.flatMap(decodeRows(DeletedCount, operation)),
        Effect.map((rows) => rows[0]?.n ?? 0),
      )
    }
    // With a file, the lines must be on disk before the commit, and undone if it does not happen.
    const body = client.transaction(operation, (tx) =>
      Effect.gen(function* () {
        yield* tx.query(
          operation,
          (sql) =>
            sql`select set_config('lock_timeout', ${lockMs}, true), set_config('statement_timeout', ${statementMs}, true)`,
        )
        const rows = yield* tx
          .query(operation, statement)
          .pipe(Effect.flatMap(decodeRows(Deleted, operation)))
        yield* file.append(rows.flatMap((r) => (r.row === undefined ? [] : [r.row])))
        return rows.length
      }),
    )
    return fileTurn.withPermits(1)(
      Effect.gen(function* () {
        const size = yield* file.append([])
        return yield* body.pipe(Effect.onError(() => undoFile(file, size)))
      }),
    )
  }

  const batch = (n: number, matches: Batch) =>
    Effect.gen(function* () {
      yield* ensureLock
      const started = yield* Clock.currentTimeMillis
      const deleted = yield* attempt(n, matches).pipe(
        withRetry(
          options.retry,
          (e: PgError | ArchiveFileError) => e._tag !== "ArchiveFileError" && isRetryable(e),
          (e) =>
            Ref.update(counts, (c) => ({ ...c, retries: c.retries + 1 })).pipe(
              Effect.zipRight(Effect.logWarning(`batch ${n}: ${e.message}; retrying`)),
            ),
        ),
        Effect.catchIf(
          (e) => e._tag !== "PgConnectError" && e._tag !== "ArchiveFileError",
          (e) =>
            Ref.update(counts, (c) => ({ ...c, failedBatches: c.failedBatches + 1 })).pipe(
              Effect.zipRight(Effect.logError(`batch ${n} failed and was skipped: ${e.message}`)),
              Effect.as(0),
            ),
        ),
      )
      const ms = (yield* Clock.currentTimeMillis) - started
      yield* Ref.update(counts, (c) => ({
        ...c,
        deleted: c.deleted + deleted,
        batches: c.batches + 1,
        longestBatchMs: Math.max(c.longestBatchMs, ms),
      }))
      const of =
        matches.kind === "list"
          ? `of ${matches.pending.length} listed`
          : `in blocks ${matches.from}-${matches.to - 1}`
      yield* Effect.logDebug(`batch ${n}: deleted ${deleted} ${of} in ${ms} ms`)
      return deleted
    })

  let batchFailed = false
  let number = 0
  /** Runs one batch unless stopping; a batch that has started always finishes (or rolls back). */
  const step = (matches: Batch) =>
    stopping.pipe(
      Effect.flatMap((stop) => {
        if (stop) return Ref.set(interrupted, true).pipe(Effect.as(Option.none<number>()))
        number += 1
        return Effect.uninterruptible(
          batch(number, matches).pipe(Effect.tapError(() => Effect.sync(() => (batchFailed = true)))),
        ).pipe(Effect.map(Option.some))
      }),
    )

  // With an index serving the match, batches walk the pending table by block range and probe the
  // index: no list to read first, and no batch rescans another's blocks. A range holding more
  // matches than --batch is taken again until it yields fewer.
  const rangePass = Effect.gen(function* () {
    const [size] = yield* client
      .query("sizing the pending table", (sql) => Statements.pendingBlocks(sql, target))
      .pipe(Effect.flatMap(decodeRows(Blocks, "sizing the pending table")))
    const blocks = size?.blocks ?? 0
    const perBlock = Math.max(1, (size?.tuples ?? 0) / (size?.pages ?? 1))
    // A range starts at about --batch rows; then ranges are sized from the matches per block seen so
    // far (up to 16 times wider), so a batch deletes close to --batch rows and sparse tables are not
    // walked in needlessly small statements.
    const initial = Math.max(1, Math.floor(options.batchSize / perBlock))
    let width = initial
    // Unfolded one range at a time (not from an iterable, which a stream reads in chunks), so each
    // range takes the width known when it is pulled.
    const ranges = Stream.unfold(0, (from) =>
      from < blocks
        ? Option.some([{ from, to: Math.min(blocks, from + width) }, Math.min(blocks, from + width)] as const)
        : Option.none(),
    )
    yield* Effect.logDebug(`${blocks} blocks, ranges from ${initial} blocks`)
    const drain = (range: {
      readonly from: number
      readonly to: number
    }): Effect.Effect<boolean, PgError | JobFailed | ArchiveFileError> =>
      step({ kind: "range", ...range, limit: options.batchSize }).pipe(
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.succeed(false),
            onSome: (deleted) => {
              if (deleted >= options.batchSize) return drain(range)
              // Aim the next ranges at ~90% of a batch of matches (a full batch means scanning again).
              const share = Math.max(deleted, 1) / Math.max(range.to - range.from, 1)
              width = Math.round(Math.min(initial * 16, Math.max(initial, (0.9 * options.batchSize) / share)))
              return Effect.succeed(true)
            },
          }),
        ),
      )
    yield* ranges.pipe(
      Stream.mapEffect(drain, { concurrency: options.concurrency }),
      Stream.takeWhile((continued) => continued),
      Stream.runDrain,
    )
  })

  // Without one: one pass computes the match list (one hash join) and deletes it batch by batch. If
  // the list's connection drops, a new pass recomputes it: rows already deleted are no longer in it.
  const listPass = Effect.gen(function* () {
    const list = new MatchList()
    yield* client.forEach(
      "reading the match list",
      (sql) => Statements.matchList(sql, target),
      (row) => list.push(String(row.p), String(row.u)),
    )
    yield* Effect.logDebug(`match list: ${list.length} matches`)
    yield* Stream.fromIterable(list.batches(options.batchSize)).pipe(
      Stream.mapEffect((matches) => step({ kind: "list", ...matches }).pipe(Effect.map(Option.isSome)), {
        concurrency: options.concurrency,
      }),
      Stream.takeWhile((continued) => continued),
      Stream.runDrain,
    )
  })
  yield* (target.usersIndexed ? rangePass : listPass).pipe(
    withRetry(
      options.retry,
      (e: PgError | JobFailed | ArchiveFileError) =>
        !batchFailed && e._tag === "PgConnectError" && isRetryable(e),
      (e) => Effect.logWarning(`${e.message}; reading the match list again`),
    ),
  )
  const final = yield* Ref.get(counts)
  return { ...final, interrupted: yield* Ref.get(interrupted) }
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

const undoFile = (file: ArchiveFile, size: number) =>
  file
    .truncate(size)
    .pipe(
      Effect.catchAll((e) =>
        Effect.logError(`${e.message}; lines of a rolled-back batch may remain at its end`),
      ),
    )

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
