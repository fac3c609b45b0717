/** Runs the cleanup library against a test database, the way the CLI does, with quick retries. */
import { Duration, Effect, Exit, Logger, LogLevel, Option, Redacted } from "effect"
import { defaultCleanupOptions } from "../../src/cleanup/options.ts"
import type { CleanupSummary } from "../../src/cleanup/run.ts"
import { type CleanupOptions, runCleanup } from "../../src/cleanup/run.ts"
import { PgClient, type PgClientShape } from "../../src/pg/client.ts"
import type { PgSettings } from "../../src/pg/config.ts"
import type { RetryPolicy } from "../../src/shared/retry.ts"

export const quickRetry: RetryPolicy = {
  retries: 2,
  base: Duration.millis(50),
  factor: 2,
  cap: Duration.millis(200),
}

export const settingsFor = (url: string, poolSize = 4): PgSettings => ({
  url: Option.some(Redacted.make(url)),
  host: Option.none(),
  port: Option.none(),
  database: Option.none(),
  user: Option.none(),
  password: Option.none(),
  sslmode: Option.none(),
  connectTimeout: Duration.seconds(5),
  poolSize,
})

export const optionsWith = (overrides: Partial<CleanupOptions> = {}): CleanupOptions => ({
  ...defaultCleanupOptions,
  retry: quickRetry,
  ...overrides,
})

/** Runs `body` with a pool on `url`; logs below error are dropped to keep test output readable. */
export const withClient = <A, E>(
  url: string,
  body: (client: PgClientShape) => Effect.Effect<A, E>,
  retry: RetryPolicy = quickRetry,
) =>
  Effect.runPromiseExit(
    Effect.gen(function* () {
      const client = yield* PgClient
      return yield* body(client)
    }).pipe(
      Effect.provide(PgClient.layer(settingsFor(url, 6), retry)),
      Effect.scoped,
      Logger.withMinimumLogLevel(process.env.PG_TEST_LOG === "debug" ? LogLevel.Debug : LogLevel.Error),
    ),
  )

export const cleanup = async (
  url: string,
  overrides: Partial<CleanupOptions> = {},
  stopping: Effect.Effect<boolean> = Effect.succeed(false),
): Promise<CleanupSummary> => {
  const exit = await withClient(url, (client) => runCleanup(client, optionsWith(overrides), stopping))
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`cleanup failed: ${String(Exit.isFailure(exit) ? exit.cause : "")}`)
}
