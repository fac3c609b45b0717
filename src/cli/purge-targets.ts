/**
 * Which databases `dbsweep purge` is asked for: --db (names and globs) or COUCHDB_DB_NAME,
 * whether that is the one database of a plain run, and this worker's --partition; apart from the
 * command so these rules read, and are checked before parsing, on their own.
 */
import { Config, Effect, Either, Option } from "effect"
import { isGlob } from "../couch/all-dbs.ts"
import { checkDatabaseName } from "../couch/names.ts"
import { resolvePartition } from "../purge/partition.ts"
import { ConfigError } from "../shared/errors.ts"

/**
 * A `--db` with no value, or an empty one, in the arguments of `purge`. The parser of a repeated
 * flag drops both without a word, which would turn `--db "$DB"` with DB unset into another
 * selection; so they are refused before parsing, with the message a single `--db` always gave.
 */
export const dbFlagProblem = (argv: ReadonlyArray<string>): string | undefined => {
  if (!argv.includes("purge")) return undefined
  for (const [i, arg] of argv.entries()) {
    if (arg === "--db=") return `--db / COUCHDB_DB_NAME ${checkEmpty}`
    if (arg !== "--db") continue
    const next = argv[i + 1]
    if (next === undefined || next.startsWith("--")) {
      return "--db needs a value (e.g. --db NAME, or a glob such as --db 'userdb-*')"
    }
    if (next === "") return `--db / COUCHDB_DB_NAME ${checkEmpty}`
  }
  return undefined
}
const checkEmpty = Either.match(checkDatabaseName(""), { onLeft: (why) => why, onRight: () => "is empty" })

/** The one database of a run that names exactly one (and no glob, no --all-dbs): purged as always. */
export const oneDatabase = (dbs: ReadonlyArray<string>, allDbs: boolean) =>
  !allDbs && dbs.length === 1 && !isGlob(dbs[0]!) ? Option.some(dbs[0]!) : Option.none()

/** The databases named by --db, or by COUCHDB_DB_NAME when --db is not given. */
export const namedTargets = (given: ReadonlyArray<string>, allDbs: boolean) =>
  given.length > 0
    ? Effect.succeed(given)
    : Config.option(Config.string("COUCHDB_DB_NAME")).pipe(
        Effect.orElseSucceed(() => Option.none<string>()),
        Effect.flatMap((env) =>
          Option.match(env, {
            onNone: () =>
              allDbs
                ? Effect.succeed<ReadonlyArray<string>>([])
                : new ConfigError({
                    message:
                      "no database given: pass --db NAME (or a glob, or --all-dbs) or set COUCHDB_DB_NAME",
                  }),
            onSome: (name) => Effect.succeed<ReadonlyArray<string>>([name]),
          }),
        ),
      )

/** `--partition`, else JOB_COMPLETION_INDEX and DBSWEEP_PARTITIONS (a Kubernetes Indexed Job). */
export const partitionOption = (flag: Option.Option<string>) =>
  Effect.gen(function* () {
    const env = (name: string) =>
      Config.option(Config.string(name)).pipe(
        Effect.orElseSucceed(() => Option.none<string>()),
        Effect.map(Option.getOrUndefined),
      )
    const resolved = resolvePartition(Option.getOrUndefined(flag), {
      index: yield* env("JOB_COMPLETION_INDEX"),
      count: yield* env("DBSWEEP_PARTITIONS"),
    })
    if ("problem" in resolved) return yield* new ConfigError({ message: resolved.problem })
    return resolved.partition
  })
