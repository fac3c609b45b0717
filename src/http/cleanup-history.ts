import { Effect, Option, Schema } from "effect"
import type { CleanupHistoryTable } from "../app.ts"
import { recentHistory } from "../cleanup/statements.ts"
import type { RunStatus } from "../jobs/status.ts"
import { decodeRows, type PgClientShape } from "../pg/client.ts"

/**
 * The cleanup history table serve was given (`--cleanup-history-table` / CLEANUP_HISTORY_TABLE),
 * read for the status page: every run recorded there (this server's, the CLI's, other replicas'),
 * shown as runs beside the runner's own, each once.
 */

/** The runs read from the table, or why they could not be read. */
export type RecordedRuns =
  | { readonly table: string; readonly runs: ReadonlyArray<RunStatus> }
  | { readonly table: string; readonly error: string }

const Row = Schema.Struct({
  id: Schema.String,
  started_at: Schema.DateFromSelf,
  ended_at: Schema.DateFromSelf,
  host: Schema.String,
  target: Schema.String,
  dry_run: Schema.Boolean,
  skipped: Schema.Boolean,
  deleted: Schema.NumberFromString,
  batches: Schema.Number,
  failed_batches: Schema.Number,
  error: Schema.NullOr(Schema.String),
})

/** How many recorded runs the page reads: the chart shows at most 60. */
export const recordedLimit = 60

/** A table that does not exist yet: no run has been recorded (the first run creates it). */
const undefinedTable = "42P01"

export const readRecordedRuns = (pg: PgClientShape, h: CleanupHistoryTable): Effect.Effect<RecordedRuns> => {
  const table = `${h.schema}.${h.table}`
  return pg
    .query("reading the cleanup history", (sql) => recentHistory(sql, h.schema, h.table, recordedLimit))
    .pipe(
      Effect.flatMap(decodeRows(Row, "reading the cleanup history")),
      Effect.map(
        (rows): RecordedRuns => ({
          table,
          runs: rows.map(
            (r): RunStatus => ({
              id: `${h.table}#${r.id}`,
              job: "cleanup",
              target: r.target,
              trigger: "manual",
              state: r.error === null ? "succeeded" : "failed",
              progress: { label: "", done: r.deleted, total: r.deleted, ratePerSecond: 0 },
              startedAt: r.started_at.toISOString(),
              finishedAt: r.ended_at.toISOString(),
              summary: {
                target: r.target,
                dryRun: r.dry_run,
                skipped: r.skipped,
                deleted: r.deleted,
                batches: r.batches,
                failedBatches: r.failed_batches,
                durationMs: r.ended_at.getTime() - r.started_at.getTime(),
                host: r.host,
                recordedIn: table,
              },
              error: r.error ?? undefined,
            }),
          ),
        }),
      ),
      Effect.timeoutFail({
        duration: "5 seconds",
        onTimeout: () => ({ message: "timed out after 5 s", code: "" }),
      }),
      Effect.catchAll((e) =>
        Effect.succeed<RecordedRuns>(
          "code" in e && e.code === undefinedTable
            ? { table, runs: [] }
            : { table, error: e.message.split("\n")[0]! },
        ),
      ),
    )
}

const startedOf = (r: RunStatus) => {
  const s = r.summary as { startedAt?: unknown } | undefined
  return typeof s?.startedAt === "string" ? Date.parse(s.startedAt) : undefined
}

/**
 * The runner's cleanup runs and the recorded ones, newest first, each run once: a run of this
 * server is in both, matched by the start its summary gives (the time written to the table); a run
 * that failed before it had a summary, by failing within a second of the recorded start.
 */
export const withRecorded = (
  runs: ReadonlyArray<RunStatus>,
  recorded: Option.Option<RecordedRuns>,
): ReadonlyArray<RunStatus> => {
  if (Option.isNone(recorded) || !("runs" in recorded.value)) return runs
  const mine = runs.filter((r) => r.job === "cleanup")
  const others = recorded.value.runs.filter((row) => {
    const at = Date.parse(row.startedAt)
    return !mine.some((r) => {
      const started = startedOf(r)
      if (started !== undefined) return started === at
      return r.state === "failed" && row.state === "failed" && Math.abs(Date.parse(r.startedAt) - at) < 1000
    })
  })
  return [...runs, ...others].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
}
