import { Option, Schema } from "effect"
import type { PartProgress, RunStatus } from "../jobs/status.ts"

/**
 * How the status page words things: sizes, durations, counts, and each job's summary as labelled
 * fields (never raw JSON). Summaries are decoded with a Schema of what the page shows.
 */

export const bytes = (n: number) => {
  const units = ["B", "KB", "MB", "GB", "TB"]
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export const duration = (ms: number) => {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

export const count = (n: number) => n.toLocaleString("en-US")

export const percent = (share: number) => `${(share * 100).toFixed(share > 0 && share < 0.001 ? 2 : 1)}%`

const n = Schema.Number

const PurgeView = Schema.Struct({
  dryRun: Schema.Boolean,
  tombstones: n,
  revs: n,
  purgedRevs: n,
  alreadyGone: n,
  failedDocs: n,
  failedBatches: n,
  requests: n,
  retries: n,
  durationMs: n,
  /** One database's run saves one checkpoint; a run of many saves one per database (see its databases). */
  checkpointSaved: Schema.optional(Schema.Boolean),
  checkpointError: Schema.optional(Schema.NullOr(Schema.String)),
  interrupted: Schema.optional(Schema.Boolean),
  listed: Schema.optional(Schema.Array(Schema.String)),
  /** A run of many databases: how many it selected, and how they ended. */
  databases: Schema.optional(Schema.Array(Schema.Unknown)),
  succeeded: Schema.optional(n),
  failed: Schema.optional(n),
  /** Databases another purger held (their lease), left alone. */
  skipped: Schema.optional(n),
  /** Tombstones the safety caps held back, by reason. */
  heldBack: Schema.optional(Schema.Record({ key: Schema.String, value: n })),
})
export type PurgeView = typeof PurgeView.Type

/** A one-database purge that left the database alone: another purger holds its lease. */
const SkippedPurgeView = Schema.Struct({
  state: Schema.Literal("skipped"),
  reason: Schema.String,
  holder: Schema.String,
  expiresAt: Schema.String,
  lease: Schema.String,
})

const CleanupView = Schema.Struct({
  target: Schema.String,
  dryRun: Schema.Boolean,
  skipped: Schema.Boolean,
  matched: Schema.optional(Schema.NullOr(n)),
  deleted: n,
  batches: n,
  failedBatches: n,
  /** Not in a history table's rows. */
  retries: Schema.optional(n),
  durationMs: n,
  /** A run read from the cleanup history table: the host that ran it. */
  host: Schema.optional(Schema.String),
})
export type CleanupView = typeof CleanupView.Type

const MigrateView = Schema.Struct({
  from: Schema.String,
  to: Schema.String,
  dryRun: Schema.Boolean,
  read: n,
  written: n,
  skipped: n,
  failed: n,
  durationMs: n,
})

export const purgeView = (r: RunStatus) =>
  r.job === "purge" ? Schema.decodeUnknownOption(PurgeView)(r.summary) : Option.none()
export const cleanupView = (r: RunStatus) =>
  r.job === "cleanup" ? Schema.decodeUnknownOption(CleanupView)(r.summary) : Option.none()

export type Field = readonly [label: string, value: string]

/** A finished run's summary as labelled fields, for any job; none before it has one. */
export const summaryFields = (r: RunStatus): ReadonlyArray<Field> => {
  const skipped = r.job === "purge" ? Schema.decodeUnknownOption(SkippedPurgeView)(r.summary) : Option.none()
  if (Option.isSome(skipped)) {
    const s = skipped.value
    return [
      ["skipped", s.reason],
      ["holder", s.holder],
      ["lease until", s.expiresAt],
      ["lease", s.lease],
    ]
  }
  const purge = purgeView(r)
  if (Option.isSome(purge)) {
    const p = purge.value
    const many: ReadonlyArray<Field> =
      p.databases === undefined
        ? []
        : [
            [
              "databases",
              `${count(p.databases.length)} (${count(p.succeeded ?? 0)} succeeded, ${count(p.failed ?? 0)} failed${p.skipped ? `, ${count(p.skipped)} skipped: held by another purger` : ""})`,
            ],
          ]
    const heldTotal = Object.values(p.heldBack ?? {}).reduce((a, b) => a + b, 0)
    const held: ReadonlyArray<Field> =
      heldTotal === 0
        ? []
        : [["held back", `${count(heldTotal)} tombstones (${heldWords(p.heldBack ?? {})})`]]
    if (p.dryRun) {
      return [
        ...many,
        ...held,
        ["would purge", `${count(p.tombstones)} tombstones (${count(p.revs)} revisions)`],
        ["requests", count(p.requests)],
        ["duration", duration(p.durationMs)],
        ...(p.listed !== undefined && p.listed.length > 0
          ? [["first ids", p.listed.join(", ")] as const]
          : []),
      ]
    }
    return [
      ...many,
      ["purged", `${count(p.purgedRevs)} revisions of ${count(p.tombstones)} tombstones`],
      ...held,
      ["already gone", count(p.alreadyGone)],
      ["failed", `${count(p.failedDocs)} documents, ${count(p.failedBatches)} batches`],
      ["requests", count(p.requests)],
      ["retries", count(p.retries)],
      ["duration", duration(p.durationMs)],
      ...(p.checkpointSaved === undefined
        ? []
        : [
            [
              "checkpoint saved",
              p.checkpointSaved ? "yes" : `no${p.checkpointError ? ` (${p.checkpointError})` : ""}`,
            ] as const,
          ]),
    ]
  }
  const cleanup = cleanupView(r)
  if (Option.isSome(cleanup)) {
    const c = cleanup.value
    const host: ReadonlyArray<Field> = c.host === undefined ? [] : [["host", c.host]]
    if (c.skipped) return [["skipped", "another instance held the lock"], ...host]
    return [
      ...(c.dryRun
        ? [["would delete", c.matched == null ? "not recorded" : count(c.matched)] as const]
        : [["deleted", count(c.deleted)] as const]),
      ["batches", count(c.batches)],
      ["failed batches", count(c.failedBatches)],
      ...(c.retries === undefined ? [] : [["retries", count(c.retries)] as const]),
      ["duration", duration(c.durationMs)],
      ...host,
    ]
  }
  const migrate = r.job === "migrate" ? Schema.decodeUnknownOption(MigrateView)(r.summary) : Option.none()
  if (Option.isSome(migrate)) {
    const m = migrate.value
    return [
      ["from → to", `${m.from} → ${m.to}`],
      ["read", count(m.read)],
      [m.dryRun ? "would write" : "written", count(m.written)],
      ["unchanged", count(m.skipped)],
      ["failed", count(m.failed)],
      ["duration", duration(m.durationMs)],
    ]
  }
  return r.summary === undefined ? [] : [["summary", "recorded (see GET /jobs/{id})"]]
}

/** What kind of run: a dry run or a real one, for the tables. */
export const runKind = (r: RunStatus) => {
  const dry =
    Option.getOrUndefined(purgeView(r))?.dryRun ?? Option.getOrUndefined(cleanupView(r))?.dryRun ?? false
  return `${r.job}${dry ? " (dry run)" : ""}`
}

export const ms = (r: RunStatus) =>
  r.finishedAt === undefined ? undefined : Date.parse(r.finishedAt) - Date.parse(r.startedAt)

/** done / total, rate and time left of a running run, in words. */
/** A database's share of a run of many: done / total (the words the script writes too). */
export const partWords = (p: PartProgress) => `${count(p.done)} / ${count(p.total)}`

/** "grace 3, replication 2": held-back counts by reason, the ones above zero. */
export const heldWords = (held: Readonly<Record<string, number>>) =>
  Object.entries(held)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${count(n)}`)
    .join(", ")

export const progressWords = (r: RunStatus) => {
  const p = r.progress
  const held = heldWords(p.held ?? {})
  if (p.total === 0 && p.done === 0) return held === "" ? "starting…" : `held back: ${held}`
  const left = p.ratePerSecond > 0 && p.total > p.done ? (p.total - p.done) / p.ratePerSecond : undefined
  return [
    `${count(p.done)} / ${count(p.total)}${p.label && p.label !== r.target ? ` ${p.label}` : ""}`,
    `${count(p.ratePerSecond)}/s`,
    left === undefined ? "" : `about ${duration(left * 1000)} left`,
    held === "" ? "" : `held back: ${held}`,
  ]
    .filter((s) => s !== "")
    .join(" · ")
}
