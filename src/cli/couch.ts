import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Console, Duration, Effect, Either, type Layer, Option, Schema } from "effect"
import { compact, defaultPoll, info } from "../couch/admin.ts"
import { BadInputFile } from "../couch/admin-errors.ts"
import { CouchClient } from "../couch/client.ts"
import { couchLayer } from "../couch/connection.ts"
import { checkDatabaseName } from "../couch/names.ts"
import { parseEndpoint, replicate, replicationProblem } from "../couch/replicate.ts"
import { compactionText, ensureText, infoText, replicationText } from "../couch/reports.ts"
import { JsonObject } from "../couch/schema.ts"
import { ensureDesignDoc } from "../couch/views.ts"
import { ConfigError } from "../shared/errors.ts"
import { logProgress, Progress } from "../shared/progress.ts"
import { commonOptions, stderrIsTerminal, withLogFormat } from "./common.ts"
import { couchOptions } from "./couch-connection.ts"
import { durationOption, shown } from "./options.ts"
import { terminalProgress } from "./progress-bar.ts"

/**
 * `dbsweep couch …`: the CouchDB admin helpers operators need around a purge: database details,
 * compaction, replication as a `_replicator` document, and design docs kept in files.
 */

const connection = { ...commonOptions, ...couchOptions }
const json = Options.boolean("json").pipe(Options.withDescription("print the result as JSON on stdout"))
const dbArg = Args.text({ name: "db" }).pipe(Args.withDescription("the database"))
const poll = durationOption("poll", {
  fallback: `${Duration.toMillis(defaultPoll)}ms`,
  min: Duration.millis(10),
  max: Duration.minutes(10),
  description: "time between two looks at a running compaction or replication",
})

const checkedDb = (name: string) =>
  Either.mapLeft(checkDatabaseName(name), (why) => new ConfigError({ message: `database ${why}` }))

/** A bar on a terminal, a log line per step otherwise. */
const progressLayer = (): Layer.Layer<Progress> => (stderrIsTerminal() ? terminalProgress : logProgress(0))

/** Runs `program` with the CouchDB client of the connection flags and the chosen log format. */
interface ConnectionFlags {
  readonly url: Option.Option<string>
  readonly user: Option.Option<string>
  readonly timeout: Duration.Duration
  readonly logFormat: Parameters<typeof withLogFormat>[0]
}
const withCouch =
  (o: ConnectionFlags) =>
  <A, E, R>(program: Effect.Effect<A, E, R>) =>
    program.pipe(Effect.provide(couchLayer(o)), withLogFormat(o.logFormat))

const print = <A>(asJson: boolean, value: A, text: (a: A) => string) =>
  Console.log(asJson ? JSON.stringify(value) : text(value))

const infoCommand = Command.make("info", { ...connection, db: dbArg, json }, (o) =>
  Effect.gen(function* () {
    const db = yield* checkedDb(o.db)
    const couch = yield* CouchClient
    yield* print(o.json, yield* info(couch, db), infoText)
  }).pipe(withCouch(o)),
).pipe(
  Command.withDescription(
    "Doc and tombstone counts, sizes, fragmentation, seqs, and whether a purge is worth running",
  ),
)

const compactCommand = Command.make(
  "compact",
  {
    ...connection,
    db: dbArg,
    views: Options.boolean("views").pipe(
      Options.withDescription("also compact every design doc's views and clean up old index files"),
    ),
    wait: Options.boolean("wait").pipe(
      Options.withDescription("wait until the compaction is done and report the space reclaimed"),
    ),
    poll,
    json,
  },
  (o) =>
    Effect.gen(function* () {
      const db = yield* checkedDb(o.db)
      const couch = yield* CouchClient
      const progress = yield* Progress
      const report = yield* compact(couch, db, { views: o.views, wait: o.wait, poll: o.poll }, progress)
      yield* print(o.json, report, compactionText)
    }).pipe(Effect.provide(progressLayer()), withCouch(o)),
).pipe(
  Command.withDescription(
    "Compact a database (POST /db/_compact) to give back the space of old revisions and purged documents",
  ),
)

const selectorOption = Options.text("selector").pipe(
  Options.withDescription(
    'replicate only documents matching this Mango selector (JSON), e.g. {"type":"order"}',
  ),
  Options.optional,
)

/** The --selector JSON object, or a usage error naming the flag. */
const parseSelector = (raw: Option.Option<string>) =>
  Option.match(raw, {
    onNone: () => Either.right(Option.none<Readonly<Record<string, unknown>>>()),
    onSome: (text) => {
      const parsed = jsonObject(text)
      return Option.isSome(parsed)
        ? Either.right(parsed)
        : Either.left(
            new ConfigError({
              message: `--selector ${shown(text)} is not a JSON object: give a Mango selector such as '{"type":"order"}'`,
            }),
          )
    },
  })

/** The text as a JSON object (not an array, not a scalar), or none. */
const jsonObject = (text: string) =>
  Option.liftThrowable((t: string): unknown => JSON.parse(t))(text).pipe(
    Option.filter((v) => !Array.isArray(v)),
    Option.flatMap(Schema.decodeUnknownOption(JsonObject)),
  )

const endpoint = (flag: string, raw: string) =>
  Either.mapLeft(parseEndpoint(flag, raw), (message) => new ConfigError({ message }))

const replicateCommand = Command.make(
  "replicate",
  {
    ...connection,
    source: Options.text("source").pipe(
      Options.withDescription("source database URL, credentials inside (http://user:password@host:5984/db)"),
    ),
    target: Options.text("target").pipe(Options.withDescription("target database URL, credentials inside")),
    continuous: Options.boolean("continuous").pipe(
      Options.withDescription("keep replicating new changes (else one-off)"),
    ),
    createTarget: Options.boolean("create-target").pipe(
      Options.withDescription("create the target database if it does not exist"),
    ),
    selector: selectorOption,
    id: Options.text("id").pipe(
      Options.withDescription("the _replicator document id (default dbsweep-SOURCE-to-TARGET-TIME)"),
      Options.optional,
    ),
    wait: Options.boolean("wait").pipe(
      Options.withDescription("wait until a one-off completes or fails (a continuous one: until it runs)"),
    ),
    poll,
    json,
  },
  (o) =>
    Effect.gen(function* () {
      const source = yield* endpoint("--source", o.source)
      const target = yield* endpoint("--target", o.target)
      const selector = yield* parseSelector(o.selector)
      const couch = yield* CouchClient
      const report = yield* replicate(couch, {
        source,
        target,
        continuous: o.continuous,
        createTarget: o.createTarget,
        selector,
        id: o.id,
        wait: o.wait,
        poll: o.poll,
      })
      yield* print(o.json, report, replicationText)
      const problem = replicationProblem(report)
      if (Option.isSome(problem)) return yield* problem.value
    }).pipe(withCouch(o)),
).pipe(
  Command.withDescription(
    "Replicate through a _replicator document (survives restarts); credentials are never printed",
  ),
)

/** The design doc in `path`: a JSON object whose _id starts with _design/. */
const readDesignDoc = (path: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const bad = (why: string) => new BadInputFile({ message: `--file ${shown(path)} ${why}` })
    const text = yield* fs
      .readFileString(path)
      .pipe(Effect.mapError(() => bad("cannot be read: check the path and its permissions")))
    const doc = jsonObject(text)
    if (Option.isNone(doc))
      return yield* bad(
        'is not a JSON object: give a design document such as {"_id":"_design/app","views":{…}}',
      )
    const body = doc.value
    const id = body._id
    if (typeof id !== "string" || !id.startsWith("_design/") || id.length === "_design/".length)
      return yield* bad('has no "_id" of a design document: add "_id": "_design/NAME"')
    return { ...body, _id: id }
  })

const ensureCommand = Command.make(
  "ensure",
  {
    ...connection,
    db: dbArg,
    file: Options.text("file").pipe(Options.withDescription("the design document as JSON, with its _id")),
    json,
  },
  (o) =>
    Effect.gen(function* () {
      const db = yield* checkedDb(o.db)
      const doc = yield* readDesignDoc(o.file)
      const couch = yield* CouchClient
      yield* print(o.json, yield* ensureDesignDoc(couch, db, doc), ensureText)
    }).pipe(withCouch(o)),
).pipe(
  Command.withDescription(
    "Create or update a design doc from a file only when it differs (an identical write would rebuild its indexes)",
  ),
)

const viewsCommand = Command.make("views").pipe(
  Command.withDescription("Design documents (views) kept in files"),
  Command.withSubcommands([ensureCommand]),
)

export const couchCommand = Command.make("couch").pipe(
  Command.withDescription("CouchDB admin helpers: info, compact, replicate, views ensure"),
  Command.withSubcommands([infoCommand, compactCommand, replicateCommand, viewsCommand]),
)
