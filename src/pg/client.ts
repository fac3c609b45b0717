import {
  Cause,
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  ParseResult,
  Predicate,
  Redacted,
  Schema,
  type Scope,
} from "effect"
import postgres from "postgres"
import { type RetryPolicy, withRetry } from "../shared/retry.ts"
import { connectionOf, type PgEndpoint, type PgSettings } from "./config.ts"
import { fromDriver, isRetryable, PgConnectError, type PgError, PgQueryError } from "./errors.ts"
import { probe } from "./probe.ts"

export type Sql = postgres.Sql
export type ReservedSql = postgres.ReservedSql

/** One connection taken from the pool for a while (a transaction, an advisory lock). */
export interface PgSession {
  readonly query: <A>(operation: string, run: (sql: ReservedSql) => Promise<A>) => Effect.Effect<A, PgError>
}

/** Session settings for a side pool: every statement on it runs under these limits. */
export interface PgLimits {
  readonly max: number
  readonly lockTimeout: Duration.Duration
  readonly statementTimeout: Duration.Duration
}

export interface PgClientShape {
  readonly endpoint: PgEndpoint
  /**
   * A second pool, for the scope, whose sessions carry `lock_timeout`/`statement_timeout`: each
   * single statement on it is a short transaction of its own under those limits, without the
   * BEGIN/SET LOCAL/COMMIT round trips.
   */
  readonly limited: (limits: PgLimits) => Effect.Effect<Pick<PgClientShape, "query">, never, Scope.Scope>
  /** A statement on any pooled connection. */
  readonly query: <A>(operation: string, run: (sql: Sql) => Promise<A>) => Effect.Effect<A, PgError>
  /** A connection of its own until the scope closes. */
  readonly session: Effect.Effect<PgSession, PgError, Scope.Scope>
  /**
   * Runs `body` inside BEGIN … COMMIT on a connection of its own; any failure or interrupt rolls
   * back, so nothing is ever half-done.
   */
  readonly transaction: <A, E, R>(
    operation: string,
    body: (tx: PgSession) => Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | PgError, R>
  /**
   * Hands each row of a large result to `onRow` as it arrives, without holding the result. (Not a
   * portal cursor: the driver's cursor writes on a connection the server may have closed.)
   */
  readonly forEach: (
    operation: string,
    run: (sql: Sql) => postgres.PendingQuery<postgres.Row[]>,
    onRow: (row: postgres.Row) => void,
  ) => Effect.Effect<number, PgError>
}

export class PgClient extends Context.Tag("dbsweep/PgClient")<PgClient, PgClientShape>() {
  /** A pool for `settings`, opened when the layer is built (retrying per `retry`) and ended with its scope. */
  static readonly layer = (settings: PgSettings, retry: RetryPolicy) =>
    Layer.scoped(PgClient, make(settings, retry))
}

/** Decodes driver rows with `schema`; a mismatch is a query error naming the operation. */
export const decodeRows =
  <A, I>(schema: Schema.Schema<A, I>, operation: string) =>
  (rows: unknown): Effect.Effect<ReadonlyArray<A>, PgError> =>
    Schema.decodeUnknown(Schema.Array(schema))(rows).pipe(
      Effect.mapError(
        (e) =>
          new PgQueryError({
            operation,
            code: "decode",
            reason: ParseResult.TreeFormatter.formatErrorSync(e).split("\n")[0]!,
          }),
      ),
    )

const make = Effect.fn("PgClient.make")(function* (settings: PgSettings, retry: RetryPolicy) {
  const { endpoint, password, parameters } = yield* connectionOf(settings)
  const target = endpoint.display

  /**
   * The driver can leave a query's promise unsettled when the server cuts its connection mid-way
   * (pg_terminate_backend, a failover). A query that outlives every server-side limit is taken for
   * a lost connection: a retryable PgConnectError instead of a hang.
   */
  const watchdog =
    (limit: Duration.Duration) =>
    <A>(operation: string, effect: Effect.Effect<A, PgError>): Effect.Effect<A, PgError> =>
      effect.pipe(
        Effect.timeoutFail({
          duration: limit,
          onTimeout: () =>
            new PgConnectError({
              target,
              reason: `no answer to ${operation} within ${Duration.format(limit)}; the connection was probably cut`,
            }),
        }),
      )
  const guard = watchdog(Duration.sum(settings.connectTimeout, Duration.minutes(2)))

  const open = (max: number, session: Record<string, string>) =>
    Effect.acquireRelease(
      Effect.sync(() =>
        postgres({
          host: endpoint.host,
          port: endpoint.port,
          database: endpoint.database,
          username: endpoint.user,
          ...(Option.isSome(password) ? { password: Redacted.value(password.value) } : {}),
          ssl: endpoint.ssl === undefined || endpoint.ssl === "disable" ? false : endpoint.ssl,
          max,
          connect_timeout: Math.max(1, Math.round(Duration.toSeconds(settings.connectTimeout))),
          // A pool whose sessions carry a statement_timeout skips the driver's array type lookup on
          // each new connection: that lookup runs under the timeout, outside any query's promise, and
          // a timeout there crashed the process. Batches send no arrays as parameters. (The main
          // pool keeps it: postgres 3.4.9 never hands out a reserved connection without it.)
          fetch_types: !("statement_timeout" in session),
          idle_timeout: 60,
          // Notices ("… already exists, skipping") are not ours to print: stdout is for --json.
          onnotice: () => undefined,
          connection: { application_name: "dbsweep", ...session, ...parameters },
        }),
      ),
      (pool) => Effect.promise(() => pool.end({ timeout: 5 })),
    )
  const sql = yield* open(settings.poolSize, {})

  const query = <A>(operation: string, run: (s: Sql) => Promise<A>) =>
    guard(
      operation,
      Effect.tryPromise({ try: () => run(sql), catch: (e) => fromDriver(e, target, operation) }),
    )

  const session: PgClientShape["session"] = Effect.acquireRelease(
    guard(
      "taking a connection",
      Effect.tryPromise({
        try: () => sql.reserve(),
        catch: (e) => fromDriver(e, target, "taking a connection"),
      }),
    ),
    (reserved) => Effect.sync(() => reserved.release()),
  ).pipe(
    Effect.map(
      (reserved): PgSession => ({
        query: (operation, run) =>
          guard(
            operation,
            Effect.tryPromise({ try: () => run(reserved), catch: (e) => fromDriver(e, target, operation) }),
          ),
      }),
    ),
  )

  const transaction: PgClientShape["transaction"] = (operation, body) =>
    Effect.scoped(
      Effect.gen(function* () {
        const tx = yield* session
        yield* tx.query(operation, (s) => s`begin`)
        return yield* body(tx).pipe(
          Effect.tap(() => tx.query(operation, (s) => s`commit`)),
          // If the connection is gone the server has already rolled back, and the driver must not
          // be asked to write on it.
          Effect.onError((cause) =>
            Cause.failureOption(cause).pipe(
              Option.filter((e) => Predicate.isTagged(e, "PgConnectError")),
              Option.isSome,
            )
              ? Effect.void
              : tx.query(operation, (s) => s`rollback`).pipe(Effect.ignore),
          ),
        )
      }),
    )

  const forEach: PgClientShape["forEach"] = (operation, run, onRow) =>
    Effect.tryPromise({
      try: () =>
        run(sql).forEach((row) => {
          onRow(row)
        }),
      catch: (e) => fromDriver(e, target, operation),
    }).pipe(Effect.map((result) => result.count))

  // Fail fast, and clearly, when the server is down, is not PostgreSQL or refuses the login: one
  // probe and one login per attempt, each under the connect timeout. On failure the pool is ended
  // at once, so the driver opens nothing more.
  const connectLimit = Duration.sum(settings.connectTimeout, Duration.seconds(5))
  yield* probe(endpoint, settings.connectTimeout).pipe(
    Effect.zipRight(
      watchdog(connectLimit)(
        "connecting",
        Effect.tryPromise({
          try: () => sql`select 1`,
          catch: (e) => fromDriver(e, target, "connecting"),
        }),
      ),
    ),
    withRetry(retry, isRetryable, (e: PgError) => Effect.logWarning(`${e.message}; retrying`)),
    Effect.tapError(() => Effect.promise(() => sql.end({ timeout: 0 }))),
  )

  const limited: PgClientShape["limited"] = (limits) =>
    open(limits.max, {
      lock_timeout: `${Math.round(Duration.toMillis(limits.lockTimeout))}`,
      statement_timeout: `${Math.round(Duration.toMillis(limits.statementTimeout))}`,
    }).pipe(
      Effect.map((pool) => {
        const limit = watchdog(
          Duration.sum(settings.connectTimeout, Duration.sum(limits.lockTimeout, limits.statementTimeout)),
        )
        return {
          query: <A>(operation: string, run: (s: Sql) => Promise<A>) =>
            limit(
              operation,
              Effect.tryPromise({ try: () => run(pool), catch: (e) => fromDriver(e, target, operation) }),
            ),
        }
      }),
    )

  return PgClient.of({ endpoint, forEach, limited, query, session, transaction })
})
