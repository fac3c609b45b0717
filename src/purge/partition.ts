/**
 * `--partition i/n`: n workers split the selected databases with no coordination. A database
 * belongs to partition `fnv1a32(utf-8 of its name) mod n`: the same on every host, in every
 * runtime and in every version of dbsweep (never a random seed nor an engine's hash order), so
 * workers 0..n-1 over the same selection cover each database exactly once.
 */

export interface Partition {
  /** This worker's partition, from 0 to count - 1. */
  readonly index: number
  /** How many workers split the databases. */
  readonly count: number
}

/** The largest number of partitions (a Kubernetes Indexed Job allows 100,000 completions). */
export const maxPartitions = 100_000

const encoder = new TextEncoder()

/** 32-bit FNV-1a of the UTF-8 bytes of `text`, as an unsigned integer. */
export const fnv1a32 = (text: string): number => {
  let hash = 0x811c9dc5
  for (const byte of encoder.encode(text)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** The partition (0 to count - 1) a database belongs to. */
export const partitionOf = (db: string, count: number): number => fnv1a32(db) % count

/** Whether `db` is this worker's to purge. */
export const inPartition = (db: string, p: Partition): boolean => partitionOf(db, p.count) === p.index

/** How a partition is written: `2/4`. */
export const showPartition = (p: Partition): string => `${p.index}/${p.count}`

const whole = (raw: string): number | undefined => {
  const text = raw.trim()
  return /^\d{1,9}$/.test(text) ? Number(text) : undefined
}

/** Why `count` cannot be a number of partitions, if it cannot. */
export const countProblem = (raw: string): string | undefined => {
  const n = whole(raw)
  return n !== undefined && n >= 1 && n <= maxPartitions
    ? undefined
    : `must be a whole number from 1 to ${maxPartitions} (got ${JSON.stringify(raw)})`
}

/** Why `index` cannot be a partition of `count`, if it cannot. */
export const indexProblem = (raw: string, count: number): string | undefined => {
  const i = whole(raw)
  return i !== undefined && i < count
    ? undefined
    : `must be a whole number from 0 to ${count - 1} with ${count} partitions (got ${JSON.stringify(raw)})`
}

/** `i/n` read, or why it cannot be. */
export const parsePartition = (raw: string): { partition: Partition } | { problem: string } => {
  const parts = raw.split("/")
  if (parts.length !== 2) {
    return {
      problem: `must be i/n, this worker's index from 0 and the number of workers, e.g. 0/4 (got ${JSON.stringify(raw)})`,
    }
  }
  const [i, n] = parts as [string, string]
  const nWhy = countProblem(n)
  if (nWhy !== undefined) return { problem: `n ${nWhy}` }
  const count = whole(n)!
  const iWhy = indexProblem(i, count)
  if (iWhy !== undefined) return { problem: `i ${iWhy}` }
  return { partition: { index: whole(i)!, count } }
}

/**
 * The partition from the command line or, without `--partition`, from a Kubernetes Indexed Job:
 * `JOB_COMPLETION_INDEX` (set by Kubernetes in each pod) and `DBSWEEP_PARTITIONS` (set in the
 * manifest to the Job's `completions`). JOB_COMPLETION_INDEX alone is not a partition: a Job may be
 * indexed for other reasons, and guessing n would skip databases.
 */
export const resolvePartition = (
  flag: string | undefined,
  env: { readonly index: string | undefined; readonly count: string | undefined },
): { partition: Partition | undefined } | { problem: string } => {
  if (flag !== undefined) {
    const parsed = parsePartition(flag)
    return "problem" in parsed ? { problem: `--partition ${parsed.problem}` } : parsed
  }
  if (env.count === undefined) return { partition: undefined }
  const nWhy = countProblem(env.count)
  if (nWhy !== undefined) return { problem: `DBSWEEP_PARTITIONS ${nWhy}` }
  const count = whole(env.count)!
  if (env.index === undefined) {
    return {
      problem: `DBSWEEP_PARTITIONS is ${count} but JOB_COMPLETION_INDEX is not set: run as a Kubernetes Indexed Job (completionMode: Indexed) or pass --partition i/${count}`,
    }
  }
  const iWhy = indexProblem(env.index, count)
  if (iWhy !== undefined) return { problem: `JOB_COMPLETION_INDEX ${iWhy} (DBSWEEP_PARTITIONS)` }
  return { partition: { index: whole(env.index)!, count } }
}
