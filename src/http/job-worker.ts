// The job worker: a Web Worker that runs one run of a job for `dbsweep serve`, away from the
// thread that answers HTTP (see src/jobs/off-thread.ts). The Bun entry point starts it; the
// binary carries it as a second entry point of the build (scripts/build.ts).
// Node's file system services (Bun's are built on them), so the worker stays free of Bun-only code.
import { layer as fileSystem } from "@effect/platform-node-shared/NodeFileSystem"
import { Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { PurgeWorkerSetup, workerJobKeys, workerPurgeJobs } from "../app.ts"
import { encodeAppError } from "../errors.ts"
import { type FromWorker, runForMain, type ToWorker } from "../jobs/off-thread.ts"
import { PurgeJob } from "../purge/job.ts"
import { PurgeManyJob } from "../purge/many.ts"
import { withLogger } from "../shared/logging.ts"

/** The worker's global scope, as much of it as is used here. */
declare const self: {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null
  postMessage: (message: FromWorker) => void
}

let stopping = false
const post = (message: FromWorker) => self.postMessage(message)

const decodeSetup = Schema.decodeUnknownEither(PurgeWorkerSetup)

const start = (job: string, options: unknown, raw: unknown) => {
  if (job !== workerJobKeys.one && job !== workerJobKeys.many)
    return post({ type: "died", message: `the job worker cannot run ${job}` })
  const decoded = decodeSetup(raw)
  if (decoded._tag === "Left")
    return post({ type: "died", message: "the job worker was given no usable setup" })
  const setup = decoded.right
  const level = LogLevel.fromLiteral(setup.log.level)
  const layer = workerPurgeJobs(setup).pipe(Layer.provide(fileSystem))
  const port = { post, encodeError: encodeAppError }
  const run =
    job === workerJobKeys.one
      ? runForMain(PurgeJob, layer, options, () => stopping, port)
      : runForMain(PurgeManyJob, layer, options, () => stopping, port)
  Effect.runFork(
    run.pipe(withLogger({ ...setup.log, format: setup.log.format }), Logger.withMinimumLogLevel(level)),
  )
}

self.onmessage = (event) => {
  const message = event.data
  if (message.type === "stop") stopping = true
  else start(message.job, message.options, message.setup)
}
