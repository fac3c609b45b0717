import { Duration, Effect, Option, Schema } from "effect"
import { decodeRows, type PgClientShape, type ReservedSql, type Sql } from "../pg/client.ts"
import type { PgError } from "../pg/errors.ts"
import { type ArchiveFile, type ArchiveFileError, openArchiveFile } from "./archive-file.ts"
import type { CleanupOptions } from "./options.ts"
import * as Statements from "./statements.ts"
import type { ResolvedTarget } from "./target.ts"

const Deleted = Schema.Struct({ id: Schema.String, row: Schema.optional(Schema.String) })
const DeletedCount = Schema.Struct({ n: Schema.Number })

/** Deletes one batch (its own transaction) and returns the rows deleted. */
export type BatchStatement = (
  n: number,
  spec: Statements.BatchSpec,
) => Effect.Effect<number, PgError | ArchiveFileError>

const undoFile = (file: ArchiveFile, size: number) =>
  file
    .truncate(size)
    .pipe(
      Effect.catchAll((e) =>
        Effect.logError(`${e.message}; lines of a rolled-back batch may remain at its end`),
      ),
    )

/**
 * The batch statement for this run, for the scope: without an archive file one statement on a
 * pool whose sessions carry the time limits (a transaction of its own); with one, a transaction
 * whose rows are on disk before it commits, and cut from the file again if it does not.
 */
export const makeBatchStatement = Effect.fn("Cleanup.makeBatchStatement")(function* (
  client: PgClientShape,
  target: ResolvedTarget,
  options: CleanupOptions,
) {
  const archiveTable = target.archive?.name
  const file = Option.isSome(options.archiveFile)
    ? yield* openArchiveFile(options.archiveFile.value)
    : undefined
  const mode: Statements.ArchiveMode =
    archiveTable !== undefined ? "table" : file !== undefined ? "rows" : "none"
  const statement = (spec: Statements.BatchSpec) => (sql: Sql | ReservedSql) =>
    Statements.deleteBatch(sql, target, spec, { mode, table: archiveTable })

  if (file === undefined) {
    const limited = yield* client.limited({
      max: options.concurrency,
      lockTimeout: options.lockTimeout,
      statementTimeout: options.statementTimeout,
    })
    const plain: BatchStatement = (n, spec) =>
      limited.query(`cleanup batch ${n}`, statement(spec)).pipe(
        Effect.flatMap(decodeRows(DeletedCount, `cleanup batch ${n}`)),
        Effect.map((rows) => rows[0]?.n ?? 0),
      )
    return plain
  }

  const lockMs = `${Math.round(Duration.toMillis(options.lockTimeout))}`
  const statementMs = `${Math.round(Duration.toMillis(options.statementTimeout))}`
  // A file batch must commit right after its lines are synced, and be undone if it does not: one at a time.
  const fileTurn = yield* Effect.makeSemaphore(1)
  const withFile: BatchStatement = (n, spec) => {
    const operation = `cleanup batch ${n}`
    const body = client.transaction(operation, (tx) =>
      Effect.gen(function* () {
        yield* tx.query(
          operation,
          (sql) =>
            sql`select set_config('lock_timeout', ${lockMs}, true), set_config('statement_timeout', ${statementMs}, true)`,
        )
        const rows = yield* tx
          .query(operation, statement(spec))
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
  return withFile
})
