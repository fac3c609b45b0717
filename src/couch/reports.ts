import type { CompactionReport, DbReport } from "./admin.ts"
import type { ReplicationReport } from "./replicate.ts"
import type { EnsureReport } from "./views.ts"

/** The `couch` commands' results as lines a person reads (the CLI prints JSON with --json). */

const units = ["B", "KiB", "MiB", "GiB", "TiB"] as const

/** 1536 → "1.5 KiB"; bytes below 1 KiB as they are. */
export const bytes = (n: number): string => {
  let value = Math.abs(n)
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const text = unit === 0 ? `${value} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`
  return n < 0 ? `-${text}` : text
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`

export const infoText = (r: DbReport): string =>
  [
    `${r.db}`,
    `  documents      ${r.docCount} (design docs included)`,
    `  tombstones     ${r.tombstones}`,
    `  file size      ${bytes(r.sizes.file)} (active ${bytes(r.sizes.active)}, external ${bytes(r.sizes.external)})`,
    `  fragmentation  ${percent(r.fragmentation)} (1 - active/file: what compaction would give back)`,
    `  update_seq     ${r.updateSeq}`,
    `  purge_seq      ${r.purgeSeq}`,
    `  compaction     ${r.compactRunning ? "running" : "not running"}`,
    `  purge          ${r.purgeWorthIt ? "worth running" : "not needed"}: ${r.purgeReason}`,
  ].join("\n")

export const compactionText = (r: CompactionReport): string => {
  const views =
    r.views.length === 0 ? "" : ` and the views of ${r.views.map((v) => `_design/${v}`).join(", ")}`
  if (!r.waited || r.fileAfter === undefined) {
    return `${r.db}: compaction started${views}; file size ${bytes(r.fileBefore)} (active ${bytes(r.activeBefore)}). Pass --wait to wait for it and see the space reclaimed.`
  }
  return `${r.db}: compacted${views} in ${(r.durationMs / 1000).toFixed(1)}s: file size ${bytes(r.fileBefore)} -> ${bytes(r.fileAfter)} (reclaimed ${bytes(r.reclaimed ?? 0)})`
}

export const replicationText = (r: ReplicationReport): string => {
  const lines = [
    `replication ${r.id} (${r.continuous ? "continuous" : "one-off"}): ${r.state}`,
    `  ${r.source} -> ${r.target}`,
    `  document _replicator/${r.id} rev ${r.rev}`,
  ]
  if (r.info !== null) {
    const parts = Object.entries(r.info)
      .filter(([, v]) => v !== null && typeof v !== "object")
      .map(([k, v]) => `${k} ${String(v)}`)
    if (parts.length > 0) lines.push(`  ${parts.join(", ")}`)
  }
  if (r.state === "unknown")
    lines.push("  the scheduler has not picked it up yet: look again with GET /_scheduler/docs")
  return lines.join("\n")
}

export const ensureText = (r: EnsureReport): string => `${r.db}/${r.id}: ${r.outcome} (rev ${r.rev})`
