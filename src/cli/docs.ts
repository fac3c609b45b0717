import { text as readAll } from "node:stream/consumers"
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Console, Effect, Option, Schema, Stream } from "effect"
import { docsApp } from "../app.ts"
import type { CouchSettings } from "../couch/connection.ts"
import { MigrateJob, type MigrateOptions, type MigrateSummary } from "../docs/migrate.ts"
import type { DocumentStoreShape } from "../docs/store.ts"
import { parseStoreSpec, StoreFactory, storeSpecHelp } from "../docs/stores.ts"
import type { AppError } from "../errors.ts"
import { ConfigError } from "../shared/errors.ts"
import { fileProblem } from "../shared/files.ts"
import type { LogFormat } from "../shared/logging.ts"
import { logProgress, silentProgress } from "../shared/progress.ts"
import { commonOptions, stderrIsTerminal, withLogFormat } from "./common.ts"
import { couchOptions } from "./couch-connection.ts"
import { integerOption, pathOption } from "./options.ts"
import { runOnce } from "./run-job.ts"

const storeOption = Options.text("store").pipe(
  Options.withDescription(
    `where the documents are: ${storeSpecHelp} (env DATABASE_PROVIDER; default memory)`,
  ),
  Options.withFallbackConfig(Config.string("DATABASE_PROVIDER")),
  Options.withDefault("memory"),
)
const connection = { ...commonOptions, ...couchOptions }
const collectionArg = Args.text({ name: "COLLECTION" })
const idArg = Args.text({ name: "ID" })

/** Runs `f` against the store `--store` / DATABASE_PROVIDER names. */
const withStore = <A>(
  o: CouchSettings & { readonly store: string; readonly logFormat: Option.Option<LogFormat> },
  f: (store: DocumentStoreShape) => Effect.Effect<A, AppError>,
) =>
  Effect.gen(function* () {
    const spec = yield* parseStoreSpec(o.store, "--store / DATABASE_PROVIDER")
    const store = yield* (yield* StoreFactory).open(spec)
    return yield* f(store)
  }).pipe(Effect.provide(docsApp(o, silentProgress)), withLogFormat(o.logFormat))

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const line = (value: unknown) => Console.log(JSON.stringify(value))

const getCommand = Command.make(
  "get",
  { ...connection, store: storeOption, collection: collectionArg, id: idArg },
  (o) => withStore(o, (store) => store.get(o.collection, o.id).pipe(Effect.flatMap(line))),
).pipe(Command.withDescription("Print one document as JSON"))

/** The body to save: a JSON object from `--file` or stdin; anything else is refused in one line. */
const readBody = (file: Option.Option<string>) =>
  Effect.gen(function* () {
    const where = Option.match(file, { onNone: () => "stdin", onSome: (f) => `--file ${f}` })
    const text = yield* Option.match(file, {
      onNone: () => Effect.promise(() => readAll(process.stdin)),
      onSome: (path) =>
        FileSystem.FileSystem.pipe(
          Effect.flatMap((fs) => fs.readFileString(path)),
          Effect.mapError(
            (e) => new ConfigError({ message: `cannot read --file ${path}: ${fileProblem(e)}` }),
          ),
        ),
    })
    const parsed = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: () =>
        new ConfigError({ message: `the document on ${where} is not valid JSON: give one JSON object` }),
    })
    return yield* Schema.decodeUnknown(JsonObject)(parsed).pipe(
      Effect.mapError(
        () => new ConfigError({ message: `the document on ${where} is not a JSON object: give one {…}` }),
      ),
    )
  })

const putCommand = Command.make(
  "put",
  {
    ...connection,
    store: storeOption,
    file: pathOption("file", "read the document from this file instead of stdin"),
    collection: collectionArg,
    id: idArg,
  },
  (o) =>
    readBody(o.file).pipe(
      Effect.flatMap((body) => withStore(o, (store) => store.save(o.collection, o.id, body))),
      Effect.flatMap(line),
    ),
).pipe(
  Command.withDescription(
    "Save a document (JSON from --file or stdin) under ID; creates the collection; updates without a _rev",
  ),
)

const deleteCommand = Command.make(
  "delete",
  { ...connection, store: storeOption, collection: collectionArg, id: idArg },
  (o) => withStore(o, (store) => store.delete(o.collection, o.id).pipe(Effect.flatMap(line))),
).pipe(Command.withDescription("Delete a document (it leaves a tombstone, like CouchDB)"))

const listCommand = Command.make(
  "list",
  {
    ...connection,
    store: storeOption,
    pageSize: integerOption("page-size", {
      min: 1,
      max: 10_000,
      fallback: 1000,
      description: "documents per page read",
    }),
    collection: collectionArg,
  },
  (o) => withStore(o, (store) => Stream.runForEach(store.list(o.collection, { pageSize: o.pageSize }), line)),
).pipe(
  Command.withDescription("Print every document of a collection as NDJSON, in id order (no _design/ docs)"),
)

const collectionsCommand = Command.make("collections", { ...connection, store: storeOption }, (o) =>
  withStore(o, (store) => store.collections.pipe(Effect.flatMap((names) => Effect.forEach(names, line)))),
).pipe(Command.withDescription("Print the collections, one JSON string a line"))

const humanSummary = (s: MigrateSummary): string =>
  [
    `${s.dryRun ? "would migrate" : "migrated"} ${s.from} → ${s.to}: read ${s.read}, ${s.dryRun ? "would write" : "written"} ${s.written}, already there ${s.skipped}, failed ${s.failed} in ${(s.durationMs / 1000).toFixed(1)}s`,
    ...s.collections.map(
      (c) =>
        `  ${c.collection}: read ${c.read}, written ${c.written}, skipped ${c.skipped}, failed ${c.failed}`,
    ),
    ...s.failures.slice(0, 10).map((f) => `  failed ${f.collection}/${f.id}: ${f.error} ${f.reason}`),
    ...(s.interrupted ? ["  interrupted: run again to continue (what arrived is skipped)"] : []),
  ].join("\n")

const migrateCommand = Command.make(
  "migrate",
  {
    ...connection,
    from: Options.text("from").pipe(Options.withDescription(`source store: ${storeSpecHelp}`)),
    to: Options.text("to").pipe(Options.withDescription(`target store: ${storeSpecHelp}`)),
    collections: Options.text("collections").pipe(
      Options.withDescription("comma-separated collections to copy (default: all of the source)"),
      Options.optional,
    ),
    dryRun: Options.boolean("dry-run").pipe(
      Options.withDescription("count what would be written; write nothing"),
    ),
    batch: integerOption("batch", {
      min: 1,
      max: 10_000,
      fallback: 500,
      description: "documents per bulk write",
    }),
    concurrency: integerOption("concurrency", {
      min: 1,
      max: 100,
      fallback: 10,
      description: "bulk writes in flight",
    }),
    json: Options.boolean("json").pipe(Options.withDescription("print the final summary as JSON on stdout")),
  },
  (o) =>
    Effect.gen(function* () {
      yield* parseStoreSpec(o.from, "--from")
      yield* parseStoreSpec(o.to, "--to")
      const options: MigrateOptions = {
        from: o.from,
        to: o.to,
        collections: Option.map(o.collections, (c) =>
          c
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== ""),
        ),
        dryRun: o.dryRun,
        batch: o.batch,
        concurrency: o.concurrency,
      }
      yield* runOnce(yield* MigrateJob, options, { json: o.json, human: humanSummary })
    }).pipe(
      Effect.provide(docsApp(o, stderrIsTerminal() ? logProgress(2_000) : logProgress(10_000))),
      withLogFormat(o.logFormat),
    ),
).pipe(
  Command.withDescription(
    "Copy collections between stores (memory, couchdb, file:DIR, ndjson:FILE, couchbackup:FILE): streamed, bulk, idempotent (documents already equal are skipped)",
  ),
)

export const docsCommand = Command.make("docs").pipe(
  Command.withDescription("A document store over CouchDB, files or memory, and migration between stores"),
  Command.withSubcommands([
    getCommand,
    putCommand,
    deleteCommand,
    listCommand,
    collectionsCommand,
    migrateCommand,
  ]),
)
