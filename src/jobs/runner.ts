import {
  Cause,
  Clock,
  Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  ParseResult,
  Ref,
  Schema,
  type Stream,
  SubscriptionRef,
} from "effect"
import type { AppError } from "../shared/classify.ts"
import { ConfigError } from "../shared/errors.ts"
import { Progress, type ProgressShape } from "../shared/progress.ts"
import type { Job } from "./job.ts"
import { describeSchedule, type JobSchedule } from "./schedule.ts"
import { scheduleLoop } from "./schedule-loop.ts"
import { noProgress, type RunState, type RunStatus, type ScheduleStatus } from "./status.ts"

export interface RunHandle {
  readonly id: string
  /** True when a run of this job and target was already running: this is that run. */
  readonly existing: boolean
}

export interface JobRunnerShape {
  /**
   * Starts a run of `job` (options decoded with its Schema), or hands back the run of the same job
   * and target already in progress.
   */
  readonly start: <O, S, I>(
    job: Job<O, S, I>,
    options: O,
    trigger?: RunStatus["trigger"],
  ) => Effect.Effect<RunHandle, ConfigError>
  /** Starts (or joins) a run and waits for its end. Interrupting the wait stops the run gracefully. */
  readonly run: <O, S, I>(
    job: Job<O, S, I>,
    options: O,
    report?: (summary: S) => Effect.Effect<void>,
  ) => Effect.Effect<S, AppError>
  /** How a run ended (waits for it); none for an unknown id. */
  readonly await: (id: string) => Effect.Effect<Option.Option<Exit.Exit<unknown, AppError>>>
  /** Asks a run to stop (no new work; work in flight finishes, state is saved) and waits for it. */
  readonly stop: (id: string) => Effect.Effect<boolean>
  readonly get: (id: string) => Effect.Effect<Option.Option<RunStatus>>
  /** Running runs first, then finished ones, newest first (a bounded history). */
  readonly list: Effect.Effect<ReadonlyArray<RunStatus>>
  /** The run's status as it changes (the current one first); none for an unknown id. */
  readonly watch: (id: string) => Effect.Effect<Option.Option<Stream.Stream<RunStatus>>>
  /**
   * Runs `job` on `schedule` until the runner closes or `unschedule`: runs never overlap, and an
   * error no later run can fix (a refused login, a missing table) stops the schedule.
   */
  readonly schedule: <O, S, I>(
    job: Job<O, S, I>,
    options: O,
    schedule: JobSchedule,
    onRun?: (exit: Exit.Exit<S, AppError>) => Effect.Effect<void>,
  ) => Effect.Effect<string, ConfigError>
  readonly unschedule: (id: string) => Effect.Effect<boolean>
  readonly schedules: Effect.Effect<ReadonlyArray<ScheduleStatus>>
  /** Waits until the schedule has stopped: its status, or the error that stopped it. */
  readonly awaitSchedule: (id: string) => Effect.Effect<Option.Option<ScheduleStatus>, AppError>
}

export class JobRunner extends Context.Tag("dbsweep/JobRunner")<JobRunner, JobRunnerShape>() {
  /** The runner; `Progress` is where runs also show their progress (a bar, log lines, or nothing). */
  static readonly layer = (options: { readonly history?: number } = {}) =>
    Layer.scoped(JobRunner, makeRunner(options.history ?? 100))
}

interface Entry {
  readonly key: string
  readonly status: SubscriptionRef.SubscriptionRef<RunStatus>
  readonly stopFlag: Ref.Ref<boolean>
  readonly fiber: Fiber.Fiber<unknown, AppError>
}

interface ScheduleEntry {
  readonly status: Ref.Ref<ScheduleStatus>
  readonly fiber: Fiber.Fiber<void, AppError>
}

const iso = (millis: number) => new Date(millis).toISOString()

/** One line for a run that failed: the error's own message, never a stack. */
export const failureLine = (cause: Cause.Cause<AppError>): string =>
  Option.match(Cause.failureOption(cause), {
    onSome: (e) => e.message.split("\n")[0]!,
    onNone: () =>
      Cause.isInterruptedOnly(cause)
        ? "interrupted"
        : `internal error: ${String(Cause.squash(cause)).split("\n")[0]} (please report it)`,
  })

/** One line naming each option that is wrong. */
const badOptions = (job: string, e: ParseResult.ParseError) =>
  new ConfigError({
    message: `bad ${job} options: ${ParseResult.ArrayFormatter.formatErrorSync(e)
      .map((i) => `${i.path.join(".") || "options"} ${i.message}`)
      .join("; ")}`,
  })

/** Options from outside (an HTTP body, a library caller's JSON), decoded with the job's Schema. */
export const decodeOptions = <O, S, I>(job: Job<O, S, I>, input: unknown) =>
  Schema.decodeUnknown(job.options)(input).pipe(Effect.mapError((e) => badOptions(job.name, e)))

/** Options already typed (the CLI's), checked against the same Schema's rules. */
const validateOptions = <O, S, I>(job: Job<O, S, I>, options: O) =>
  Schema.validate(Schema.typeSchema(job.options))(options).pipe(
    Effect.mapError((e) => badOptions(job.name, e)),
  )

/** A progress reporter that keeps the run's status and also shows it on the display. */
const progressOf = (
  display: ProgressShape,
  status: SubscriptionRef.SubscriptionRef<RunStatus>,
  startedAt: number,
): ProgressShape => {
  const rate = (done: number) =>
    Clock.currentTimeMillis.pipe(
      Effect.map((now) => Math.round(done / Math.max((now - startedAt) / 1000, 0.001))),
    )
  return {
    start: (label, total) =>
      SubscriptionRef.update(status, (s) => ({
        ...s,
        progress: { label, done: 0, total, ratePerSecond: 0 },
      })).pipe(Effect.zipRight(display.start(label, total))),
    advance: (n) =>
      SubscriptionRef.get(status).pipe(
        Effect.flatMap((s) => {
          const done = s.progress.done + n
          return rate(done).pipe(
            Effect.flatMap((ratePerSecond) =>
              SubscriptionRef.set(status, {
                ...s,
                progress: { ...s.progress, done, total: Math.max(s.progress.total, done), ratePerSecond },
              }),
            ),
          )
        }),
        Effect.zipRight(display.advance(n)),
      ),
    stop: display.stop,
  }
}

/** How a run ended: a run stopped on request that returned its summary was interrupted. */
const stateOf = (
  exit: Exit.Exit<unknown, AppError>,
  problems: Option.Option<string>,
  stopped: boolean,
): RunState =>
  Exit.isFailure(exit)
    ? Cause.isInterruptedOnly(exit.cause)
      ? "interrupted"
      : "failed"
    : Option.isSome(problems)
      ? "failed"
      : stopped
        ? "interrupted"
        : "succeeded"

/**
 * The runner: a registry of runs (status, stop flag, fiber), the active run per job and target,
 * a bounded history, and schedules. A service constructor of small methods, so longer than the
 * ~150 lines a function should span: each method is short.
 */
const makeRunner = Effect.fn("JobRunner.make")(function* (historySize: number) {
  const display = yield* Progress
  const active = yield* Ref.make(new Map<string, string>())
  const entries = yield* Ref.make(new Map<string, Entry>())
  const history = yield* Ref.make<ReadonlyArray<string>>([])
  const scheduleEntries = yield* Ref.make(new Map<string, ScheduleEntry>())
  const counter = yield* Ref.make(0)

  const nextId = (prefix: string) =>
    Ref.updateAndGet(counter, (n) => n + 1).pipe(Effect.map((n) => `${prefix}-${n}`))

  /** Records the end of a run in its status and moves it to the history. */
  const finish = (
    id: string,
    key: string,
    exit: Exit.Exit<unknown, AppError>,
    problems: Option.Option<string>,
  ) =>
    Effect.gen(function* () {
      const entry = (yield* Ref.get(entries)).get(id)
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
      yield* Ref.update(active, (m) => {
        const next = new Map(m)
        if (next.get(key) === id) next.delete(key)
        return next
      })
      const dropped = yield* Ref.modify(history, (h) => {
        const all = [id, ...h]
        return [all.slice(historySize), all.slice(0, historySize)] as const
      })
      if (dropped.length > 0) {
        yield* Ref.update(entries, (m) => {
          const next = new Map(m)
          for (const old of dropped) next.delete(old)
          return next
        })
      }
    })

  const start: JobRunnerShape["start"] = (job, input, trigger = "manual") =>
    Effect.gen(function* () {
      const options = yield* validateOptions(job, input)
      const target = job.target(options)
      const key = `${job.name}\u0000${target}`
      const running = (yield* Ref.get(active)).get(key)
      if (running !== undefined) return { id: running, existing: true }
      const id = yield* nextId(job.name)
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
      const context = { stopping: Ref.get(stopFlag), progress: progressOf(display, status, startedAt) }
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
            finish(id, key, exit, Exit.isSuccess(exit) ? job.problems(exit.value) : Option.none()),
          ),
          // Its failure is reported through `await`, not as an "unhandled error" log line.
          Effect.withUnhandledErrorLogLevel(Option.none()),
          Effect.interruptible,
        ),
      )
      yield* Ref.update(entries, (m) => new Map(m).set(id, { key, status, stopFlag, fiber }))
      yield* Ref.update(active, (m) => new Map(m).set(key, id))
      yield* Deferred.succeed(registered, undefined)
      return { id, existing: false }
    }).pipe(Effect.uninterruptible)

  const entryOf = (id: string) => Ref.get(entries).pipe(Effect.map((m) => Option.fromNullable(m.get(id))))

  const stop: JobRunnerShape["stop"] = (id) =>
    entryOf(id).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (entry) =>
            Ref.set(entry.stopFlag, true).pipe(Effect.zipRight(Fiber.await(entry.fiber)), Effect.as(true)),
        }),
      ),
    )

  const awaitRun: JobRunnerShape["await"] = (id) =>
    entryOf(id).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (e) => Effect.asSome(Fiber.await(e.fiber)),
        }),
      ),
    )

  /**
   * A run's fiber with its summary type. Runs are keyed by job name and target, and each was
   * started by a Job of that name, so its fiber yields that Job's summary.
   */
  const typedFiber = <O, S, I>(_job: Job<O, S, I>, id: string) =>
    entryOf(id).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.die(`run ${id} vanished`),
          onSome: (e) => Effect.succeed(e.fiber as Fiber.Fiber<S, AppError>),
        }),
      ),
    )

  /**
   * Waits for a run; `report` sees its summary however the wait ends. Interrupting the wait (a
   * signal) stops the run gracefully and still reports what it did.
   */
  const awaitTyped = <O, S, I>(
    job: Job<O, S, I>,
    id: string,
    report: (exit: Exit.Exit<S, AppError>) => Effect.Effect<void>,
  ) =>
    typedFiber(job, id).pipe(
      Effect.flatMap((fiber) =>
        Fiber.await(fiber).pipe(
          Effect.tap(report),
          Effect.onInterrupt(() =>
            stop(id).pipe(Effect.zipRight(Fiber.await(fiber)), Effect.flatMap(report)),
          ),
        ),
      ),
    )

  const run: JobRunnerShape["run"] = (job, options, report = () => Effect.void) =>
    start(job, options).pipe(
      Effect.flatMap((handle) =>
        awaitTyped(job, handle.id, (exit) => (Exit.isSuccess(exit) ? report(exit.value) : Effect.void)),
      ),
      Effect.flatten,
    )

  const get: JobRunnerShape["get"] = (id) =>
    entryOf(id).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (e) => Effect.asSome(SubscriptionRef.get(e.status)),
        }),
      ),
    )

  const list: JobRunnerShape["list"] = Effect.gen(function* () {
    const all = yield* Ref.get(entries)
    const finished = new Set(yield* Ref.get(history))
    const statuses = yield* Effect.forEach([...all.values()], (e) => SubscriptionRef.get(e.status))
    const running = statuses.filter((s) => !finished.has(s.id))
    const done = statuses.filter((s) => finished.has(s.id))
    const newestFirst = (a: RunStatus, b: RunStatus) =>
      b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id)
    return [...running.sort(newestFirst), ...done.sort(newestFirst)]
  })

  const watch: JobRunnerShape["watch"] = (id) =>
    entryOf(id).pipe(Effect.map(Option.map((e) => e.status.changes)))

  const schedule: JobRunnerShape["schedule"] = (job, input, spec, onRun = () => Effect.void) =>
    Effect.gen(function* () {
      const options = yield* validateOptions(job, input)
      const id = yield* nextId(`schedule-${job.name}`)
      const status = yield* Ref.make<ScheduleStatus>({
        id,
        job: job.name,
        target: job.target(options),
        schedule: describeSchedule(spec),
        state: "waiting",
        nextRunAt: undefined,
        runs: 0,
        lastRunId: undefined,
        error: undefined,
      })
      const fiber = yield* Effect.forkDaemon(
        scheduleLoop({ start, awaitRun: awaitTyped }, job, options, spec, status, onRun),
      )
      yield* Ref.update(scheduleEntries, (m) => new Map(m).set(id, { status, fiber }))
      return id
    })

  const scheduleOf = (id: string) =>
    Ref.get(scheduleEntries).pipe(Effect.map((m) => Option.fromNullable(m.get(id))))

  const unschedule: JobRunnerShape["unschedule"] = (id) =>
    scheduleOf(id).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (e) => Fiber.interrupt(e.fiber).pipe(Effect.as(true)),
        }),
      ),
    )

  const schedules: JobRunnerShape["schedules"] = Ref.get(scheduleEntries).pipe(
    Effect.flatMap((m) => Effect.forEach([...m.values()], (e) => Ref.get(e.status))),
  )

  const awaitSchedule: JobRunnerShape["awaitSchedule"] = (id) =>
    scheduleOf(id).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (e) =>
            Fiber.await(e.fiber).pipe(
              // Interrupted (unscheduled, the runner closing) is a normal end; a failure is the error.
              Effect.flatMap((exit) =>
                Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
                  ? Effect.failCause(exit.cause)
                  : Effect.void,
              ),
              Effect.zipRight(Ref.get(e.status)),
              Effect.asSome,
            ),
        }),
      ),
    )

  // Closing the runner (the CLI ending, a signal, the server stopping): schedules first, so none
  // starts a new run, then every run still going is asked to stop and awaited.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      const loops = yield* Ref.get(scheduleEntries)
      yield* Effect.forEach([...loops.values()], (e) => Fiber.interrupt(e.fiber), { discard: true })
      const runs = yield* Ref.get(entries)
      yield* Effect.forEach(
        [...runs.values()],
        (e) => Ref.set(e.stopFlag, true).pipe(Effect.zipRight(Fiber.await(e.fiber))),
        { concurrency: "unbounded", discard: true },
      )
    }),
  )

  return JobRunner.of({
    start,
    run,
    await: awaitRun,
    stop,
    get,
    list,
    watch,
    schedule,
    unschedule,
    schedules,
    awaitSchedule,
  })
})
