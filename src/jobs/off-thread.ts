import {
  Cause,
  Console,
  type Context,
  Effect,
  Exit,
  type Layer,
  Option,
  Queue,
  Schedule,
  Schema,
} from "effect"
import { addCounterTotals, type CounterTotal, counterTotals } from "../shared/metrics.ts"
import { type ProgressShape, partOf } from "../shared/progress.ts"
import type { Job, JobError, RunContext } from "./job.ts"

/**
 * A job's runs on a Web Worker (Bun, Deno and browsers have the same `Worker`), so a busy run never
 * holds up the thread that answers HTTP. The job keeps its name, options, target and problems; its
 * `run` sends the encoded options to a fresh worker, which builds the same job and runs it, and
 * relays back what the run does: progress, `Console.log` lines (a `list`), the counters it moved,
 * and its end (the summary, or the error encoded by the app's error Schema). The run's stop flag
 * is relayed to the worker, so a stop or a shutdown still ends the run gracefully.
 */

/** What the main thread sends: the run (once), then a stop request when the run is asked to stop. */
export type ToWorker =
  | {
      readonly type: "run"
      /** Which job the worker is to build and run (the worker's own key for it). */
      readonly job: string
      readonly options: unknown
      /** What the worker needs to build the job (settings as plain data). */
      readonly setup: unknown
    }
  | { readonly type: "stop" }

/**
 * What the worker sends back, in the order it happened. Progress of a part of the run (one
 * database of many) names the part the worker numbered when it began.
 */
export type FromWorker =
  | { readonly type: "part"; readonly part: number; readonly label: string }
  | { readonly type: "start"; readonly part?: number; readonly label: string; readonly total: number }
  | { readonly type: "advance"; readonly part?: number; readonly done: number }
  | { readonly type: "hold"; readonly part?: number; readonly reason: string; readonly n: number }
  | { readonly type: "stop"; readonly part?: number }
  | { readonly type: "log"; readonly text: unknown }
  | { readonly type: "counters"; readonly totals: ReadonlyArray<CounterTotal> }
  | { readonly type: "done"; readonly summary: unknown }
  | { readonly type: "failed"; readonly error: unknown }
  /** Not one of the job's errors (a defect, an error with no Schema): its message only. */
  | { readonly type: "died"; readonly message: string }

/** How the main thread reaches workers, and turns an error sent back into the job's own error. */
export interface JobThread {
  /** A fresh worker running the job-worker entry (each entry point knows where that file is). */
  readonly spawn: () => Worker
  /** What the worker calls the job. */
  readonly key: string
  /** What the worker needs besides the options: settings as plain data. */
  readonly setup: unknown
  /** An encoded error back into the tagged error the job failed with. */
  readonly decodeError: (encoded: unknown) => Effect.Effect<JobError, unknown>
}

/** How often the stop flag is looked at, and how often a worker sends its counters. */
const stopPoll = "100 millis"
const countersEvery = "1 second"
/** How often summed progress advances are posted to the main thread, in ms. */
const advanceEvery = 100

/** Why a worker ended without a word: its own error event, or a message that could not be read. */
class WorkerDied extends Error {}

/** `job`, run on a worker from `thread` each time. */
export const offThread = <O, S, I, E extends JobError>(
  job: Job<O, S, I, E>,
  thread: JobThread,
): Job<O, S, I, E> => ({
  ...job,
  run: (options, context) =>
    Effect.scoped(
      Effect.gen(function* () {
        const encoded = yield* Schema.encode(job.options)(options).pipe(Effect.orDie)
        yield* Effect.logDebug(`${job.name} of ${job.target(options)} runs on a job worker`)
        const inbox = yield* Queue.unbounded<FromWorker>()
        const worker = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const w = thread.spawn()
            w.onmessage = (event: MessageEvent<FromWorker>) => Queue.unsafeOffer(inbox, event.data)
            w.onerror = (event: ErrorEvent) => {
              event.preventDefault?.()
              Queue.unsafeOffer(inbox, { type: "died", message: event.message || "the job worker failed" })
            }
            w.onmessageerror = () =>
              Queue.unsafeOffer(inbox, {
                type: "died",
                message: "a message from the job worker was unreadable",
              })
            return w
          }),
          (w) => Effect.sync(() => w.terminate()),
        )
        const send = (message: ToWorker) => worker.postMessage(message)
        send({ type: "run", job: thread.key, options: encoded, setup: thread.setup })
        yield* relayStop(context, () => send({ type: "stop" }))
        const seen = new Map<string, number>()
        const parts = new Map<number, ProgressShape>()
        const progressOf = (part: number | undefined) =>
          (part === undefined ? undefined : parts.get(part)) ?? context.progress
        for (;;) {
          const message = yield* Queue.take(inbox)
          switch (message.type) {
            case "part":
              parts.set(message.part, yield* partOf(context.progress, message.label))
              break
            case "start":
              yield* progressOf(message.part).start(message.label, message.total)
              break
            case "advance":
              yield* progressOf(message.part).advance(message.done)
              break
            case "hold":
              yield* progressOf(message.part).hold?.(message.reason, message.n) ?? Effect.void
              break
            case "stop":
              yield* progressOf(message.part).stop
              break
            case "log":
              yield* Console.log(message.text)
              break
            case "counters":
              addCounterTotals(message.totals, seen)
              break
            case "done":
              // The worker ran this very job: its summary is this job's summary.
              return message.summary as S
            case "failed": {
              const error = yield* thread
                .decodeError(message.error)
                .pipe(Effect.orElseSucceed(() => undefined))
              if (error === undefined)
                return yield* Effect.die(new WorkerDied("an unknown error from the job worker"))
              // The worker ran this very job, so the error is one of the job's errors.
              return yield* Effect.fail(error as E)
            }
            case "died":
              return yield* Effect.die(new WorkerDied(message.message))
          }
        }
      }),
    ),
})

/** Sends `stop` once the run is asked to stop (until the run ends, which closes the scope). */
const relayStop = (context: RunContext, stop: () => void) =>
  context.stopping.pipe(
    Effect.repeat({ until: (asked) => asked, schedule: Schedule.spaced(stopPoll) }),
    Effect.zipRight(Effect.sync(stop)),
    Effect.forkScoped,
  )

/** The worker's side: where it posts to, and how it encodes an error of the job. */
export interface WorkerPort {
  readonly post: (message: FromWorker) => void
  /** The error as plain data, or none when the Schema does not know it. */
  readonly encodeError: (error: unknown) => Option.Option<unknown>
}

/**
 * Runs the job `tag` names, built by `layer`, in the worker with `options` as the main thread
 * encoded them, posting what happens to `port`; `stopping` is true once the main thread sent
 * `stop`. Never fails: how the run ended (the layer failing too) is the last message.
 */
export const runForMain = <Id, O, S, I, E extends JobError>(
  tag: Context.Tag<Id, Job<O, S, I, E>>,
  layer: Layer.Layer<Id, unknown>,
  options: unknown,
  stopping: () => boolean,
  port: WorkerPort,
): Effect.Effect<void> => {
  let parts = 0
  // Advances are summed and posted at most every `advanceEvery` ms: each message is work on the
  // thread that answers HTTP, and a purge advances once a batch (hundreds of times a second).
  // Any other message posts the sums first, so the main thread sees everything in order.
  const advanced = new Map<number | undefined, number>()
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    for (const [part, done] of advanced) port.post({ type: "advance", part, done })
    advanced.clear()
  }
  const post = (message: FromWorker) => {
    flush()
    port.post(message)
  }
  const progress = (part: number | undefined): ProgressShape => ({
    start: (label, total) => Effect.sync(() => post({ type: "start", part, label, total })),
    advance: (done) =>
      Effect.sync(() => {
        advanced.set(part, (advanced.get(part) ?? 0) + done)
        timer ??= setTimeout(flush, advanceEvery)
      }),
    hold: (reason, n) => Effect.sync(() => post({ type: "hold", part, reason, n })),
    stop: Effect.sync(() => post({ type: "stop", part })),
    part: (label) =>
      Effect.sync(() => {
        const id = ++parts
        post({ type: "part", part: id, label })
        return progress(id)
      }),
  })
  const context: RunContext = { stopping: Effect.sync(stopping), progress: progress(undefined) }
  const sendCounters = Effect.sync(() => post({ type: "counters", totals: counterTotals() }))
  const run = Effect.gen(function* () {
    const j = yield* tag
    const decoded = yield* Schema.decodeUnknown(j.options)(options).pipe(Effect.orDie)
    yield* Effect.forkScoped(sendCounters.pipe(Effect.delay(countersEvery), Effect.forever))
    return yield* j.run(decoded, context)
  }).pipe(Effect.scoped, Effect.provide(layer), (self) =>
    // `Console.log` (a purge's `list` lines) goes to the main thread, which logs it there.
    Console.consoleWith((base) =>
      Effect.withConsole(self, {
        ...base,
        log: (...args: ReadonlyArray<unknown>) =>
          Effect.sync(() => post({ type: "log", text: args.length === 1 ? args[0] : args.join(" ") })),
      }),
    ),
  )
  return Effect.exit(run).pipe(
    Effect.flatMap((exit) =>
      Effect.zipRight(
        sendCounters,
        Effect.sync(() => post(endOf(exit, port))),
      ),
    ),
  )
}

/** The message that tells how a run ended. */
const endOf = (exit: Exit.Exit<unknown, unknown>, port: WorkerPort): FromWorker => {
  if (Exit.isSuccess(exit)) return { type: "done", summary: exit.value }
  const failure = Cause.failureOption(exit.cause)
  const encoded = Option.flatMap(failure, port.encodeError)
  if (Option.isSome(encoded)) return { type: "failed", error: encoded.value }
  const message = Option.match(failure, {
    onSome: (e) => (e instanceof Error ? e.message : String(e)),
    onNone: () => Cause.pretty(exit.cause).split("\n")[0]!,
  })
  return { type: "died", message }
}
