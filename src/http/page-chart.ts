import { html } from "hono/html"
import type { RunStatus } from "../jobs/status.ts"
import { count, duration, ms } from "./page-format.ts"

/**
 * The history chart, drawn on the server as SVG (no script, no library): one point per finished
 * run, oldest on the left; a bar for what the run removed and a dot for how long it took (its own
 * scale, on the right). Stopped and failed runs are marked so a gap in the work has a reason.
 */

export interface ChartPoint {
  readonly run: RunStatus
  /** What the run removed (purged revisions, deleted rows). */
  readonly value: number
}

const width = 640
const height = 200
const left = 56
const right = 56
const top = 16
const bottom = 28

/** A round upper bound for an axis, so its ticks read well. */
const niceMax = (v: number) => {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  const m = v / p
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p
}

const stateMark = (r: RunStatus) =>
  r.state === "interrupted" ? "stopped" : r.state === "failed" ? "failed" : "ok"

export const historyChart = (id: string, title: string, unit: string, points: ReadonlyArray<ChartPoint>) => {
  if (points.length === 0) {
    return html`<p class="empty" id="${id}-empty">No finished ${title.toLowerCase()} yet.</p>`
  }
  const maxValue = niceMax(Math.max(...points.map((p) => p.value)))
  const maxSeconds = niceMax(Math.max(...points.map((p) => (ms(p.run) ?? 0) / 1000)))
  const plotW = width - left - right
  const plotH = height - top - bottom
  const step = plotW / points.length
  const barW = Math.max(2, Math.min(28, step * 0.6))
  const y = (v: number) => top + plotH - (v / maxValue) * plotH
  const ySeconds = (s: number) => top + plotH - (s / maxSeconds) * plotH
  const ticks = [0, 0.5, 1]
  const total = points.reduce((a, p) => a + p.value, 0)
  const line = points
    .map((p, i) => `${(left + step * (i + 0.5)).toFixed(1)},${ySeconds((ms(p.run) ?? 0) / 1000).toFixed(1)}`)
    .join(" ")
  return html`<figure class="chart">
<svg id="${id}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-title ${id}-desc">
<title id="${id}-title">${title}</title>
<desc id="${id}-desc">${points.length} finished runs, ${count(total)} ${unit} in all; bars: ${unit} per run (left scale), dots: run time (right scale).</desc>
${ticks.map(
  (
    t,
  ) => html`<line class="grid" x1="${left}" x2="${width - right}" y1="${y(maxValue * t)}" y2="${y(maxValue * t)}"></line>
<text class="axis" x="${left - 6}" y="${y(maxValue * t) + 4}" text-anchor="end">${count(maxValue * t)}</text>
<text class="axis" x="${width - right + 6}" y="${ySeconds(maxSeconds * t) + 4}">${duration(maxSeconds * t * 1000)}</text>`,
)}
<polyline class="time-line" points="${line}"></polyline>
${points.map((p, i) => {
  const x = left + step * (i + 0.5)
  const seconds = (ms(p.run) ?? 0) / 1000
  return html`<g class="point ${stateMark(p.run)}" data-run="${p.run.id}">
<title>${p.run.id} (${p.run.target}): ${count(p.value)} ${unit} in ${duration(seconds * 1000)}${p.run.state === "succeeded" ? "" : `, ${p.run.state === "interrupted" ? "stopped" : p.run.state}`}</title>
<rect class="bar" x="${x - barW / 2}" y="${y(p.value)}" width="${barW}" height="${Math.max(0, top + plotH - y(p.value))}"></rect>
<circle class="time" cx="${x}" cy="${ySeconds(seconds)}" r="3.5"></circle>
</g>`
})}
<text class="axis" x="${left}" y="${height - 8}">oldest</text>
<text class="axis" x="${width - right}" y="${height - 8}" text-anchor="end">newest</text>
</svg>
<figcaption>${title}: bars are ${unit} per run, dots the run time; stopped runs are amber, failed ones red.</figcaption>
</figure>`
}
