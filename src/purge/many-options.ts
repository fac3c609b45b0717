/**
 * The options of a purge of many databases as a Schema: the one-database purge's options, less
 * the database and the checkpoint file, plus the selection (names, globs, all) and its partition.
 */
import { Option, Schema, Struct } from "effect"
import { PurgeOptions } from "./options.ts"
import { maxPartitions } from "./partition.ts"
import { targetProblem } from "./targets.ts"

const NameOrGlob = Schema.String.pipe(
  Schema.filter((target) => {
    const why = targetProblem(target)
    return why === undefined ? true : why
  }),
)

/**
 * A purge of many databases: names and globs (`userdb-*`) and/or every database, `dbConcurrency`
 * databases at once, each with its own `_local` checkpoint. The other options are the one-database
 * purge's, applied to each (a checkpoint file holds one database's seq, so it is not one of them).
 */
export const PurgeManyOptions = Schema.Struct({
  ...Struct.omit(PurgeOptions.fields, "db", "checkpointFile"),
  dbs: Schema.optionalWith(Schema.Array(NameOrGlob), { default: () => [] }),
  allDbs: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  dbConcurrency: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 8 }),
  /** This worker's share of the selected databases (`--partition i/n`): by a stable hash of the name. */
  partition: Schema.optional(
    Schema.Struct({
      index: Schema.Int.pipe(Schema.nonNegative()),
      count: Schema.Int.pipe(Schema.between(1, maxPartitions)),
    }),
  ),
}).pipe(
  Schema.filter((o) => {
    if (o.dbs.length === 0 && !o.allDbs) return "name the databases (dbs: names or globs) or ask for allDbs"
    // A seq belongs to one database's feed: only 0 and now mean the same in every database.
    if (Option.isSome(o.since) && !["0", "now"].includes(o.since.value))
      return "since must be 0 or now when purging several databases (a seq belongs to one database)"
    if (o.partition !== undefined && o.partition.index >= o.partition.count)
      return `partition.index must be from 0 to ${o.partition.count - 1} with partition.count ${o.partition.count}`
    return true
  }),
)
export type PurgeManyOptions = typeof PurgeManyOptions.Type
