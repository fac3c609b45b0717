import type { ReplicationInfo } from "../couch/replications.ts"

/**
 * `--respect-replications`: which of the server's replications read a database, and what they
 * hold back. Pure, so the rules are tested on their own.
 *
 * A replication reads `db` when its source URL's path ends in a segment that, URL-decoded, is
 * `db`: `http://host:5984/userdb-1/`, `https://u:p@host/couch/userdb-1` (behind a proxy path) and
 * `http://host/a%2Fb` (the database `a/b`) all match. The host is not compared: the scheduler shows
 * the URL it was given, which may name this server by another address, so a replication from a
 * database of the same name elsewhere is respected too (it holds back more, never less).
 */
export const sourceDbName = (source: string): string | undefined => {
  if (!URL.canParse(source)) return source.replace(/\/+$/, "") || undefined
  const segments = new URL(source).pathname.replace(/\/+$/, "").split("/")
  const last = segments.at(-1)
  if (last === undefined || last === "") return undefined
  try {
    return decodeURIComponent(last)
  } catch {
    return undefined
  }
}

/** States in which a replication is not replicating and may have missed changes: they hold the whole database. */
export const brokenStates: ReadonlyArray<string> = ["crashing", "error", "failed"]

/** How a replication is named in logs and to `--ignore-replication`: its document id, else its replication id. */
export const replicationName = (r: ReplicationInfo) => r.docId ?? r.replicationId ?? r.source

/** Whether `--ignore-replication ID` names `r`: by its document id, replication id or database/doc id. */
const isIgnored = (r: ReplicationInfo, ignore: ReadonlyArray<string>) =>
  ignore.some(
    (id) =>
      id === r.docId ||
      id === r.replicationId ||
      (r.database !== undefined && r.docId !== undefined && id === `${r.database}/${r.docId}`),
  )

export interface Watched {
  /** Replications whose checkpoint holds back the ids changed since it ("0" or none: everything). */
  readonly watched: ReadonlyArray<ReplicationInfo>
  /** Replications in crashing, error or failed state: the whole database waits. */
  readonly broken: ReadonlyArray<ReplicationInfo>
  /** Replications of the database left out by `--ignore-replication`. */
  readonly ignored: ReadonlyArray<ReplicationInfo>
}

/**
 * The replications that read `db`, sorted into those that hold back ids, those that hold back
 * everything (an error state) and those ignored. A completed one-off counts like a running one:
 * recreating its document resumes it from its checkpoint, so what changed after that checkpoint
 * must still be there to replicate; `--ignore-replication` (or deleting the document) lets it go.
 */
export const replicationsOf = (
  db: string,
  all: ReadonlyArray<ReplicationInfo>,
  ignore: ReadonlyArray<string>,
): Watched => {
  const watched: Array<ReplicationInfo> = []
  const broken: Array<ReplicationInfo> = []
  const ignored: Array<ReplicationInfo> = []
  for (const r of all) {
    if (sourceDbName(r.source) !== db) continue
    if (isIgnored(r, ignore)) ignored.push(r)
    else if (brokenStates.includes(r.state)) broken.push(r)
    else watched.push(r)
  }
  return { watched, broken, ignored }
}

/** Whether a replication has checkpointed nothing yet, so everything in the database is new to it. */
export const checkpointsNothing = (r: ReplicationInfo) => r.checkpoint === undefined || r.checkpoint === "0"
