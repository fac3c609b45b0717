import { Clock, Deferred, Effect, Exit, Fiber, Option, Ref, type Stream, SubscriptionRef } from "effect"
import type { ConfigError } from "../shared/errors.ts"
import type { ProgressShape } from "../shared/progress.ts"
import type { Job, JobError } from "./job.ts"
import { validateOptions } from "./options.ts"
import { progressOf } from "./run-progress.ts"
import { failureLine, noProgress, type RunStatus, stateOf } from "./status.ts"

/**
 * The run registry: one run per job and target at a time, each run's status (kept as it changes),
 * its stop flag and fiber, and a bounded history of finished runs.
 */

export interface RunHandle {
  readonly id: string
  /** True when a run of this job and target was already running: this is that run. */
  readonly existing: boolean
}

interface Entry {
  readonly key: string
  readonly status: SubscriptionRef.SubscriptionRef<RunStatus>
  readonly stopFlag: Ref.Ref<boolean>
  readonly fiber: Fiber.Fiber<unknown, JobError>
}

/** The registry's state, shared by the functions below (each run's fiber updates it). */
interface RunTable {
  readonly display: ProgressShape
  readonly historySize: number
  /** The running run per job and target. */
  readonly active: Ref.Ref<Map<string, string>>
  readonly entries: Ref.Ref<Map<string, Entry>>
  /** Finished runs' ids, newest first. */
  readonly history: Ref.Ref<ReadonlyArray<string>>
  readonly counter: Ref.Ref<number>
}

const iso = (millis: number) => new Date(millis).toISOString()

/** A fresh id: `prefix-n`, n counting runs and schedules together. */
const nextId = (table: RunTable, prefix: string) =>
  Ref.updateAndGet(table.counter, (n) => n + 1).pipe(Effect.map((n) => `${prefix}-${n}`))

/** Drops the ids that fell out of the history from the entries. */
const forget = (table: RunTable, dropped: ReadonlyArray<string>) =>
  dropped.length === 0
    ? Effect.void
    : Ref.update(table.entries, (m) => {
        const next = new Map(m)
        for (const old of dropped) next.delete(old)
        return next
      })

/** Records the end of a run in its status and moves it to the history. */
const finish = (
  table: RunTable,
  id: string,
  key: string,
  exit: Exit.Exit<unknown, JobError>,
  problems: Option.Option<string>,
) =>
  Effect.gen(function* () {
    const entry = (yield* Ref.get(table.entries)).get(id)
    const now = yield* Clock.currentTimeMillis
    if (entry !== undefined) {
      const state = stateOf(exit, problems, yield* Ref.get(entry.stopFlag))
      yield* SubscriptionRef.update(entry.status, (s) => ({
        ...s,
        state,
        finishedAt: iso(now),
        summary: Exit.isSuccess(exit) ? exit.value : s.summary,
        error: Exit.isSuccess(exit) ? Option.getOrUndefined(problems) : failureLine(exit.cause),
      }))
    }
    yield* Ref.update(table.active, (m) => {
      const next = new Map(m)
      if (next.get(key) === id) next.delete(key)
      return next
    })
    const dropped = yield* Ref.modify(table.history, (h) => {
      const all = [id, ...h]
      return [all.slice(table.historySize), all.slice(0, table.historySize)] as const
    })
    yield* forget(table, dropped)
  })

/** Starts a run of `job`, or hands back the run of the same job and target already going. */
const start = <O, S, I, E extends JobError>(
  table: RunTable,
  job: Job<O, S, I, E>,
  input: O,
  trigger: RunStatus["trigger"],
): Effect.Effect<RunHandle, ConfigError> =>
  Effect.gen(function* () {
    const options = yield* validateOptions(job, input)
    const target = job.target(options)
    const key = `${job.name}\u0000${target}`
    const running = (yield* Ref.get(table.active)).get(key)
    if (running !== undefined) return { id: running, existing: true }
    const id = yield* nextId(table, job.name)
    const startedAt = yield* Clock.currentTimeMillis
    const status = yield* SubscriptionRef.make<RunStatus>({
      id,
      job: job.name,
      target,
      trigger,
      state: "running",
      progress: noProgress,
      startedAt: iso(startedAt),
      finishedAt: undefined,
      summary: undefined,
      error: undefined,
    })
    const stopFlag = yield* Ref.make(false)
    const progress = progressOf(table.display, status, startedAt)
    const context = { stopping: Ref.get(stopFlag), progress }
    // The run starts once it is registered, so its end always finds its entry.
    const registered = yield* Deferred.make<void>()
    // A daemon fiber: a run outlives the request that started it, and ends gracefully through its
    // stop flag (the runner's finalizer raises it for every run still going).
    // (`start` is uninterruptible, so it cannot be cut between forking and registering; the run
    // itself must be interruptible again, or no timeout inside it could cancel a request.)
    const fiber = yield* Effect.forkDaemon(
      Deferred.await(registered).pipe(
        Effect.zipRight(job.run(options, context)),
        Effect.onExit((exit) =>
          // Advances summed since the last publish, in case the run ended without stopping its progress.
          progress.flush.pipe(
            Effect.zipRight(
              finish(table, id, key, exit, Exit.isSuccess(exit) ? job.problems(exit.value) : Option.none()),
            ),
          ),
        ),
        // Its failure is reported through `await`, not as an "unhandled error" log line.
        Effect.withUnhandledErrorLogLevel(Option.none()),
        Effect.interruptible,
      ),
    )
    yield* Ref.update(table.entries, (m) => new Map(m).set(id, { key, status, stopFlag, fiber }))
    yield* Ref.update(table.active, (m) => new Map(m).set(key, id))
    yield* Deferred.succeed(registered, undefined)
    return { id, existing: false }
  }).pipe(Effect.uninterruptible)

const entryOf = (table: RunTable, id: string) =>
  Ref.get(table.entries).pipe(Effect.map((m) => Option.fromNullable(m.get(id))))

/** Asks a run to stop (no new work; work in flight finishes, state is saved) and waits for it. */
const stop = (table: RunTable, id: string) =>
  entryOf(table, id).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.succeed(false),
        onSome: (entry) =>
          Ref.set(entry.stopFlag, true).pipe(Effect.zipRight(Fiber.await(entry.fiber)), Effect.as(true)),
      }),
    ),
  )

/**
 * A run's fiber with its job's summary and error types. Runs are keyed by job name and target,
 * and each was started by a Job of that name, so its fiber yields that Job's summary and fails
 * with that Job's error (the registry holds runs of every job, hence the one cast).
 */
const typedFiber = <O, S, I, E extends JobError>(table: RunTable, _job: Job<O, S, I, E>, id: string) =>
  entryOf(table, id).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.die(`run ${id} vanished`),
        onSome: (e) => Effect.succeed(e.fiber as Fiber.Fiber<S, E>),
      }),
    ),
  )

/**
 * Waits for a run; `report` sees how it ended however the wait ends. Interrupting the wait (a
 * signal) stops the run gracefully and still reports what it did.
 */
const awaitTyped = <O, S, I, E extends JobError>(
  table: RunTable,
  job: Job<O, S, I, E>,
  id: string,
  report: (exit: Exit.Exit<S, E>) => Effect.Effect<void>,
) =>
  typedFiber(table, job, id).pipe(
    Effect.flatMap((fiber) =>
      Fiber.await(fiber).pipe(
        Effect.tap(report),
        Effect.onInterrupt(() =>
          stop(table, id).pipe(Effect.zipRight(Fiber.await(fiber)), Effect.flatMap(report)),
        ),
      ),
    ),
  )

/** Running runs first, then finished ones, newest first. */
const list = (table: RunTable) =>
  Effect.gen(function* () {
    const all = yield* Ref.get(table.entries)
    const finished = new Set(yield* Ref.get(table.history))
    const statuses = yield* Effect.forEach([...all.values()], (e) => SubscriptionRef.get(e.status))
    const running = statuses.filter((s) => !finished.has(s.id))
    const done = statuses.filter((s) => finished.has(s.id))
    const newestFirst = (a: RunStatus, b: RunStatus) =>
      b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id)
    return [...running.sort(newestFirst), ...done.sort(newestFirst)]
  })

/** Every run still going is asked to stop, and awaited. */
const stopAll = (table: RunTable) =>
  Ref.get(table.entries).pipe(
    Effect.flatMap((runs) =>
      Effect.forEach(
        [...runs.values()],
        (e) => Ref.set(e.stopFlag, true).pipe(Effect.zipRight(Fiber.await(e.fiber))),
        { concurrency: "unbounded", discard: true },
      ),
    ),
  )

/** The run registry's operations (the runner's run half). */
export interface Runs {
  readonly nextId: (prefix: string) => Effect.Effect<string>
  readonly start: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
    options: O,
    trigger: RunStatus["trigger"],
  ) => Effect.Effect<RunHandle, ConfigError>
  readonly awaitRun: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
    id: string,
    report: (exit: Exit.Exit<S, E>) => Effect.Effect<void>,
  ) => Effect.Effect<Exit.Exit<S, E>>
  /** How a run ended (waits for it); none for an unknown id. */
  readonly await: (id: string) => Effect.Effect<Option.Option<Exit.Exit<unknown, JobError>>>
  /** Asks a run to stop (no new work; work in flight finishes, state is saved) and waits for it. */
  readonly stop: (id: string) => Effect.Effect<boolean>
  readonly get: (id: string) => Effect.Effect<Option.Option<RunStatus>>
  /** Running runs first, then finished ones, newest first (a bounded history). */
  readonly list: Effect.Effect<ReadonlyArray<RunStatus>>
  /** The runs of one job, in the order of `list`, with that job's summary type. */
  readonly runsOf: <O, S, I, E extends JobError>(
    job: Job<O, S, I, E>,
  ) => Effect.Effect<ReadonlyArray<RunStatus<S>>>
  /** The run's status as it changes (the current one first); none for an unknown id. */
  readonly watch: (id: string) => Effect.Effect<Option.Option<Stream.Stream<RunStatus>>>
  /** Asks every run still going to stop, and waits for them (the runner closing). */
  readonly stopAll: Effect.Effect<void>
}

export const makeRuns = (display: ProgressShape, historySize: number): Effect.Effect<Runs> =>
  Effect.gen(function* () {
    const table: RunTable = {
      display,
      historySize,
      active: yield* Ref.make(new Map<string, string>()),
      entries: yield* Ref.make(new Map<string, Entry>()),
      history: yield* Ref.make<ReadonlyArray<string>>([]),
      counter: yield* Ref.make(0),
    }
    return {
      nextId: (prefix) => nextId(table, prefix),
      start: (job, options, trigger) => start(table, job, options, trigger),
      awaitRun: (job, id, report) => awaitTyped(table, job, id, report),
      await: (id) =>
        entryOf(table, id).pipe(Effect.flatMap(Effect.transposeMapOption((e) => Fiber.await(e.fiber)))),
      stop: (id) => stop(table, id),
      get: (id) =>
        entryOf(table, id).pipe(
          Effect.flatMap(Effect.transposeMapOption((e) => SubscriptionRef.get(e.status))),
        ),
      list: list(table),
      // Every run of a job's name was started by that job, so its summary is that job's summary.
      runsOf: <O, S, I, E extends JobError>(job: Job<O, S, I, E>) =>
        list(table).pipe(Effect.map((all) => all.filter((r): r is RunStatus<S> => r.job === job.name))),
      watch: (id) => entryOf(table, id).pipe(Effect.map(Option.map((e) => e.status.changes))),
      stopAll: stopAll(table),
    }
  })
