// The library API (src/index.ts) from a program of one's own, on any runtime: purges a CouchDB
// database, then counts what a cleanup would delete (a dry run). Settings come from the same
// variables as the CLI's: COUCHDB_URL, COUCHDB_USER, COUCHDB_PASSWORD; DATABASE_URL or PG*.
//   node_modules/.bin/deno run --allow-all scripts/library-example.ts orders
//   node_modules/.bin/bun build scripts/library-example.ts --target=node --outfile dist/example.mjs
//   node dist/example.mjs orders
// Prints one JSON line: {"runtime", "purge": {db, purgedDocs, …}, "cleanup": {matched, …}}.
import * as NodeFileSystem from "@effect/platform-node-shared/NodeFileSystem"
import { Duration, Effect, Layer, Logger, LogLevel, Option, Schema } from "effect"
import {
  CleanupJob,
  cleanupApp,
  defaultCleanupOptions,
  JobRunner,
  loadPgSettings,
  PurgeJob,
  PurgeOptions,
  purgeApp,
  silentProgress,
} from "../src/index.ts"

const db = process.argv[2]
if (db === undefined) {
  console.error("usage: library-example DATABASE")
  process.exit(2)
}

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : `node ${process.versions.node}`

const purge = Effect.gen(function* () {
  const runner = yield* JobRunner
  const options = Schema.decodeUnknownSync(PurgeOptions)({ db })
  return yield* runner.run(yield* PurgeJob, options)
}).pipe(
  Effect.provide(
    purgeApp(
      {
        url: Option.fromNullable(process.env.COUCHDB_URL),
        user: Option.fromNullable(process.env.COUCHDB_USER),
        timeout: Duration.seconds(30),
      },
      silentProgress,
    ),
  ),
  // The password may come from COUCHDB_PASSWORD_FILE: the file system of this runtime.
  Effect.provide(NodeFileSystem.layer),
)

const cleanupDryRun = Effect.gen(function* () {
  const runner = yield* JobRunner
  return yield* runner.run(yield* CleanupJob, { ...defaultCleanupOptions, dryRun: true })
}).pipe(
  Effect.provide(
    Layer.unwrapEffect(
      Effect.map(loadPgSettings, (settings) =>
        cleanupApp(
          { settings: { ...settings, poolSize: 3 }, retry: defaultCleanupOptions.retry },
          silentProgress,
        ),
      ),
    ),
  ),
)

const main = Effect.gen(function* () {
  const purged = yield* purge
  const cleanup = yield* cleanupDryRun
  return { runtime, purge: purged, cleanup }
})

// Effect's default logger writes to stdout: keep it for errors, so stdout holds the one JSON line.
Effect.runPromise(main.pipe(Logger.withMinimumLogLevel(LogLevel.Error))).then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.error(`library-example: ${String(error)}`)
    process.exit(1)
  },
)
