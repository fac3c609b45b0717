/**
 * The purge of one database as a Job (the runner's unit for the CLI, the HTTP mode and the
 * library): builds its checkpoint store and leases once, and turns decoded options into settings.
 */
import { FileSystem } from "@effect/platform"
import { Context, Effect, Layer, Option } from "effect"
import { CouchClient } from "../couch/client.ts"
import type { Job } from "../jobs/job.ts"
import { defaultRetryPolicy } from "../shared/retry.ts"
import { makeFileCheckpointStore } from "./checkpoint-file.ts"
import { makeLocalDocCheckpointStore } from "./checkpoint-local.ts"
import { makeLeases } from "./lease.ts"
import { leasedPurge, type PurgeError } from "./leased.ts"
import { PurgeOptions, settingsOf } from "./options.ts"
import { type PurgeOutcome, purgeProblems } from "./outcome.ts"

export class PurgeJob extends Context.Tag("dbsweep/PurgeJob")<
  PurgeJob,
  Job<PurgeOptions, PurgeOutcome, typeof PurgeOptions.Encoded, PurgeError>
>() {
  /** The job; needs the CouchDB client and a file system (for `checkpointFile`). */
  static readonly make = Effect.gen(function* () {
    const couch = yield* CouchClient
    const fs = yield* FileSystem.FileSystem
    const local = yield* makeLocalDocCheckpointStore(couch)
    const leases = yield* makeLeases(couch)
    return PurgeJob.of({
      name: "purge",
      options: PurgeOptions,
      target: (o) => o.db,
      problems: purgeProblems,
      run: (o, context) =>
        Effect.flatMap(
          leases.forRun({ ...defaultRetryPolicy, retries: o.retries, base: o.retryBase }),
          (run) =>
            leasedPurge(
              couch,
              Option.match(o.checkpointFile, {
                onNone: () => local,
                onSome: (path) => makeFileCheckpointStore(fs, path),
              }),
              settingsOf(o, o.db),
              context,
              { leases: run, ttl: o.leaseTtl, compact: o.compact },
            ),
        ),
    })
  })
  static readonly layer = Layer.effect(PurgeJob, PurgeJob.make)
}
