import { Effect, Exit, Option, Schema, Scope } from "effect"
import { decodeRows, type PgClientShape } from "./client.ts"
import { PgConnectError, type PgError } from "./errors.ts"

/** A held session-level advisory lock. */
export interface AdvisoryLock {
  readonly name: string
  /** Fails when the session that holds the lock is gone (and with it, the lock). */
  readonly check: Effect.Effect<void, PgError>
}

const Locked = Schema.Struct({ locked: Schema.Boolean, pid: Schema.Number })
const Held = Schema.Struct({ held: Schema.Boolean })

/**
 * Tries to take the session-level advisory lock named `name` (hashed to a 64-bit key by the
 * server) on a connection of its own, without waiting. `None` when another session holds it.
 * The lock is released, and its connection returned, when the caller's scope closes; if the
 * process dies, PostgreSQL drops the lock with the connection.
 */
export const tryAdvisoryLock = Effect.fn("Pg.tryAdvisoryLock")(function* (
  client: PgClientShape,
  name: string,
) {
  const scope = yield* Scope.make()
  const session = yield* client.session.pipe(
    Scope.extend(scope),
    Effect.onError(() => Scope.close(scope, Exit.void)),
  )
  const rows = yield* session
    .query(
      "taking the advisory lock",
      (sql) =>
        sql`select pg_try_advisory_lock(hashtextextended(${name}, 0)) as locked, pg_backend_pid() as pid`,
    )
    .pipe(
      Effect.flatMap(decodeRows(Locked, "taking the advisory lock")),
      Effect.onError(() => Scope.close(scope, Exit.void)),
    )
  const first = rows[0]
  if (first === undefined || !first.locked) {
    yield* Scope.close(scope, Exit.void)
    return Option.none<AdvisoryLock>()
  }
  // Checked from another connection: the driver must not be asked to write on a connection the
  // server has closed (it can throw outside the promise), so the holder is used only while alive.
  const check = client
    .query(
      "checking the advisory lock",
      (sql) =>
        sql`select exists (select 1 from pg_locks where locktype = 'advisory' and pid = ${first.pid} and granted) as held`,
    )
    .pipe(
      Effect.flatMap(decodeRows(Held, "checking the advisory lock")),
      Effect.flatMap((r) =>
        r[0]?.held === true
          ? Effect.void
          : new PgConnectError({
              target: client.endpoint.display,
              reason: "the session holding the advisory lock ended",
            }),
      ),
    )
  yield* Effect.addFinalizer(() =>
    check.pipe(
      Effect.zipRight(
        session.query(
          "releasing the advisory lock",
          (sql) => sql`select pg_advisory_unlock(hashtextextended(${name}, 0))`,
        ),
      ),
      Effect.ignore,
      Effect.zipRight(Scope.close(scope, Exit.void)),
    ),
  )
  const lock: AdvisoryLock = { name, check }
  return Option.some(lock)
})
