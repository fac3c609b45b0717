import { BunContext } from "@effect/platform-bun"
import { Clock, Duration, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { CouchClient, type CouchClientShape } from "../../src/couch/client.ts"
import { CheckpointStore } from "../../src/purge/checkpoint.ts"
import { FileCheckpointStore } from "../../src/purge/checkpoint-file.ts"
import { LocalDocCheckpointStore } from "../../src/purge/checkpoint-local.ts"
import { runPurge } from "../../src/purge/purge.ts"
import type { PurgeSettings } from "../../src/purge/settings.ts"
import { Progress, silentProgress } from "../../src/shared/progress.ts"
import type { CouchTarget } from "./couch-target.ts"

/** Runs the purge program in this process against `t`, as the CLI would, with quick retries. */
export const purgeIn = (
  t: CouchTarget,
  db: string,
  overrides: Partial<PurgeSettings> & {
    checkpointFile?: string
    stopping?: Effect.Effect<boolean>
    /** The run's clock reads this much ahead of the real one (an injected time; sleeps stay real). */
    clockOffsetMs?: number
    /** What the run talks to instead of the client itself (a test interleaves its own writes). */
    wrapCouch?: (couch: CouchClientShape) => CouchClientShape
  } = {},
) => {
  const { checkpointFile, stopping, clockOffsetMs, wrapCouch, ...rest } = overrides
  const settings: PurgeSettings = {
    db,
    batch: "auto",
    concurrency: 10,
    retry: { retries: 4, base: Duration.millis(5), factor: 2, cap: Duration.millis(200) },
    since: Option.none(),
    dryRun: false,
    list: false,
    pageSize: 0,
    checkpointEveryMs: 0,
    ...rest,
  }
  const client = CouchClient.layer({
    url: t.url,
    user: Option.some(t.user),
    password: Option.some(Redacted.make(t.password)),
    timeout: Duration.seconds(10),
  })
  const store = checkpointFile === undefined ? LocalDocCheckpointStore : FileCheckpointStore(checkpointFile)
  return Effect.gen(function* () {
    const couch = yield* CouchClient
    const checkpoints = yield* CheckpointStore
    const progress = yield* Progress
    return yield* runPurge(wrapCouch === undefined ? couch : wrapCouch(couch), checkpoints, settings, {
      stopping: stopping ?? Effect.succeed(false),
      progress,
    })
  }).pipe(
    Effect.provide(
      Layer.mergeAll(store, silentProgress).pipe(
        Layer.provideMerge(client),
        Layer.provideMerge(BunContext.layer),
      ),
    ),
    Logger.withMinimumLogLevel(LogLevel.Warning),
    clockOffsetMs === undefined ? (e) => e : Effect.withClock(shiftedClock(clockOffsetMs)),
    Effect.runPromise,
  )
}

/** A clock `offsetMs` ahead of the real one: what a run sees of time, while its sleeps stay real. */
export const shiftedClock = (offsetMs: number): Clock.Clock => {
  const real = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => real.unsafeCurrentTimeMillis() + offsetMs,
    currentTimeMillis: Effect.sync(() => real.unsafeCurrentTimeMillis() + offsetMs),
    unsafeCurrentTimeNanos: () => real.unsafeCurrentTimeNanos() + BigInt(offsetMs) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => real.unsafeCurrentTimeNanos() + BigInt(offsetMs) * 1_000_000n),
    sleep: (d) => real.sleep(d),
  }
}
