import { Effect, Either, Stream } from "effect"
import { isGlob, matchingDbs } from "../couch/all-dbs.ts"
import type { CouchClientShape } from "../couch/client.ts"
import { checkDatabaseName, systemDatabaseNames } from "../couch/names.ts"
import { leasesDb } from "./lease-doc.ts"

/**
 * Which databases a purge of many works on: names, globs matched against `_all_dbs` (read in
 * pages), or every database. CouchDB's own system databases are left out of globs and of "all"
 * unless named: purging `_users` or `_replicator` is a decision to make by name. So is dbsweep's
 * own lease database (`dbsweep_leases`): bookkeeping that appears while the run selects.
 */

export interface Targets {
  /** Names and globs (`userdb-*`), in the order given. */
  readonly dbs: ReadonlyArray<string>
  /** Every database of the server (system databases only where named in `dbs`). */
  readonly allDbs: boolean
}

/** Why a name or glob cannot select a database, if it cannot: checked before any request. */
export const targetProblem = (target: string): string | undefined => {
  if (!isGlob(target))
    return Either.match(checkDatabaseName(target), { onLeft: (why) => why, onRight: () => undefined })
  // A glob is a name with `*`/`?` in places: the rest must be characters a name may hold.
  return /^[a-z0-9_$()+/*?-]+$/.test(target)
    ? undefined
    : `${JSON.stringify(target)} cannot match a database: names hold only a-z, 0-9 and _$()+-/ (a glob adds * and ?)`
}

/** What the selection is, in a few words (the run's target, log lines). */
export const describeTargets = (t: Targets): string =>
  t.allDbs ? (t.dbs.length === 0 ? "all databases" : `all databases, ${t.dbs.join(", ")}`) : t.dbs.join(", ")

export interface Selected {
  /** The databases, each once: names in the order given, then matches in `_all_dbs` order. */
  readonly dbs: ReadonlyArray<string>
  /** Globs (and "all") that matched no database. */
  readonly unmatched: ReadonlyArray<string>
}

/**
 * The databases `targets` names: a name as it is (a missing one fails as that database's own
 * error), a glob and "all" read from `_all_dbs` a page at a time.
 */
export const selectDbs = Effect.fn("Purge.selectDbs")(function* (
  couch: CouchClientShape,
  targets: Targets,
  pageSize = 1000,
) {
  const names = targets.dbs.filter((t) => !isGlob(t))
  const named = new Set(names)
  const chosen = new Set<string>(names)
  const unmatched: Array<string> = []
  const patterns = [...targets.dbs.filter(isGlob), ...(targets.allDbs ? ["*"] : [])]
  for (const glob of patterns) {
    let matched = 0
    yield* Stream.runForEach(matchingDbs(couch, glob, pageSize), (db) =>
      Effect.sync(() => {
        if ((systemDatabaseNames.includes(db) || db === leasesDb) && !named.has(db)) return
        matched += 1
        chosen.add(db)
      }),
    )
    if (matched === 0) unmatched.push(glob === "*" && targets.allDbs ? "--all-dbs" : glob)
  }
  const selected: Selected = { dbs: [...chosen], unmatched }
  return selected
})
