import { Either } from "effect"

/**
 * CouchDB's rule for database names, checked before any request so a bad name is refused with the
 * rule itself (COUCHDB-FACTS §1: 400 illegal_database_name; docs: api/database/common.html#put--db).
 * System databases (`_users`, `_replicator`, `_global_changes`) are the only names that may start
 * with an underscore.
 */
export const databaseNameRule =
  "a database name starts with a lowercase letter and holds only a-z, 0-9 and _ $ ( ) + - /"

const pattern = /^[a-z][a-z0-9_$()+/-]*$/
/** CouchDB's own databases, the only names that start with an underscore. */
export const systemDatabaseNames: ReadonlyArray<string> = ["_users", "_replicator", "_global_changes"]
const systemDatabases = new Set(systemDatabaseNames)
const maxLength = 238

/** The name as given, or why it is not one CouchDB accepts (the value shown on one line). */
export const checkDatabaseName = (name: string): Either.Either<string, string> => {
  const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name)
  if (name === "") return Either.left("is empty: give a database name")
  if (name.length > maxLength) return Either.left(`${shown} is longer than ${maxLength} characters`)
  if (systemDatabases.has(name) || pattern.test(name)) return Either.right(name)
  return Either.left(`${shown} is not a CouchDB database name: ${databaseNameRule}`)
}
