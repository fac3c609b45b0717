import { Option } from "effect"
import { html } from "hono/html"
import type { RunStatus, ScheduleStatus } from "../jobs/status.ts"
import type { CleanupGlance } from "./cleanup-glance.ts"
import type { RecordedRuns } from "./cleanup-history.ts"
import { historyChart } from "./page-chart.ts"
import {
  cleanupView,
  count,
  duration,
  type Field,
  ms,
  partWords,
  progressWords,
  purgeView,
  runKind,
  summaryFields,
} from "./page-format.ts"

/** Running now, history, cleanup and schedules: the page's sections built from the runner. */

const stateWords: Record<RunStatus["state"], string> = {
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  interrupted: "stopped",
}

export const stateOf = (r: RunStatus) => stateWords[r.state]

const time = (iso: string | undefined) =>
  iso === undefined ? "" : html`<time datetime="${iso}">${iso.replace("T", " ").slice(0, 19)} UTC</time>`

const fields = (list: ReadonlyArray<Field>) =>
  list.length === 0
    ? ""
    : html`<dl class="fields">${list.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`

/** One bar per database at work in a run of many (the script keeps the list current from the event stream). */
const partsList = (r: RunStatus) =>
  html`<ul class="parts" aria-label="Databases of ${r.id} in progress">${(r.progress.parts ?? []).map(
    (p) => html`<li class="part" data-db="${p.name}"><span class="part-name">${p.name}</span>
<progress aria-label="${p.name}" max="${Math.max(p.total, 1)}" value="${p.done}"></progress>
<span class="part-words">${partWords(p)}</span></li>`,
  )}</ul>`

/** One running run: a labelled bar fed by its event stream, a bar per database for runs of many, and Stop. */
const runningItem = (
  r: RunStatus,
  actions: boolean,
) => html`<li class="run" data-run="${r.id}" data-job="${r.job}" data-target="${r.target}">
<div class="run-head"><span id="label-${r.id}"><strong>${runKind(r)}</strong> of <span class="target">${r.target}</span></span>
<span class="muted">${r.trigger === "schedule" ? "scheduled" : "started by hand"}, ${time(r.startedAt)}</span></div>
<progress aria-labelledby="label-${r.id}" max="${Math.max(r.progress.total, 1)}" value="${r.progress.done}"></progress>
<span class="words" aria-live="off">${progressWords(r)}</span>
${partsList(r)}
${actions ? html`<button type="button" class="stop" data-run="${r.id}" aria-label="Stop ${r.id}">Stop</button>` : ""}
</li>`

export const runningSection = (runs: ReadonlyArray<RunStatus>, actions: boolean) => {
  const running = runs.filter((r) => r.state === "running")
  return running.length === 0
    ? html`<p class="empty" id="nothing-running">Nothing is running.</p><ul id="running-list" class="runs"></ul>`
    : html`<ul id="running-list" class="runs">${running.map((r) => runningItem(r, actions))}</ul>`
}

/** Finished runs of `job` that did real work, oldest first: one chart point each. */
export const chartRuns = (runs: ReadonlyArray<RunStatus>, job: "purge" | "cleanup") =>
  runs
    .filter((r) => r.job === job && r.state !== "running")
    .filter((r) =>
      job === "purge"
        ? Option.match(purgeView(r), { onNone: () => r.state !== "succeeded", onSome: (p) => !p.dryRun })
        : Option.match(cleanupView(r), { onNone: () => r.state !== "succeeded", onSome: (c) => !c.dryRun }),
    )
    .slice(0, 60)
    .reverse()

const removed = (r: RunStatus) =>
  Option.getOrUndefined(purgeView(r))?.purgedRevs ?? Option.getOrUndefined(cleanupView(r))?.deleted ?? 0

/** Where the cleanup runs come from besides the runner: the history table, or why it could not be read. */
const recordedNote = (recorded: Option.Option<RecordedRuns>) =>
  Option.match(recorded, {
    onNone: () => "",
    onSome: (r) =>
      "error" in r
        ? html`<p class="error" id="recorded-note">Cannot read the cleanup history ${r.table}: ${r.error}</p>`
        : html`<p class="muted" id="recorded-note">Cleanup runs from this server and from those recorded in ${r.table} (by any host).</p>`,
  })

export const historySection = (runs: ReadonlyArray<RunStatus>, recorded: Option.Option<RecordedRuns>) => {
  const finished = runs.filter((r) => r.state !== "running")
  const purges = chartRuns(runs, "purge").map((run) => ({ run, value: removed(run) }))
  const cleanups = chartRuns(runs, "cleanup").map((run) => ({ run, value: removed(run) }))
  return html`<div class="charts">
${historyChart("purge-chart", "Purge runs", "revisions purged", purges)}
${historyChart("cleanup-chart", "Cleanup runs", "rows deleted", cleanups)}
</div>
${recordedNote(recorded)}
<h3>Last runs</h3>
${
  finished.length === 0
    ? html`<p class="empty">No run has finished yet.</p>`
    : html`<div class="scroll"><table id="history-table">
<thead><tr><th scope="col">Run</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Started</th><th scope="col">Took</th><th scope="col">Summary</th></tr></thead>
<tbody>${finished.slice(0, 20).map(
        (r) => html`<tr data-run="${r.id}">
<th scope="row">${runKind(r)}<div class="muted">${r.id}</div></th><td>${r.target}</td>
<td><span class="badge state-${stateOf(r)}">${stateOf(r)}</span>${r.error === undefined ? "" : html`<div class="error">${r.error}</div>`}</td>
<td>${time(r.startedAt)}</td><td class="num">${duration(ms(r) ?? 0)}</td>
<td class="summary">${fields(summaryFields(r))}</td></tr>`,
      )}</tbody></table></div>`
}`
}

const countdown = (iso: string | undefined) =>
  iso === undefined
    ? html`<span class="muted">—</span>`
    : html`${time(iso)} <span class="countdown" data-at="${iso}"></span>`

/** The outcome of a schedule's last run, from the runner's history. */
const lastOutcome = (s: ScheduleStatus, runs: ReadonlyArray<RunStatus>) => {
  const last = runs.find((r) => r.id === s.lastRunId)
  if (last === undefined) return s.lastRunId === undefined ? "no run yet" : s.lastRunId
  return `${stateOf(last)} (${last.id})`
}

export const schedulesSection = (schedules: ReadonlyArray<ScheduleStatus>, runs: ReadonlyArray<RunStatus>) =>
  schedules.length === 0
    ? html`<p class="empty">No schedule: start dbsweep serve with --purge-every / --purge-cron or --cleanup-every / --cleanup-cron.</p>`
    : html`<div class="scroll"><table id="schedules-table">
<thead><tr><th scope="col">Job</th><th scope="col">Target</th><th scope="col">Schedule</th><th scope="col">State</th><th scope="col">Next run</th><th scope="col">Runs</th><th scope="col">Last outcome</th><th scope="col">Stopped by</th></tr></thead>
<tbody>${schedules.map(
        (
          s,
        ) => html`<tr data-schedule="${s.id}"><th scope="row">${s.job}</th><td>${s.target}</td><td>${s.schedule}</td>
<td><span class="badge state-${s.state}">${s.state}</span></td><td class="next">${countdown(s.nextRunAt)}</td>
<td class="num">${count(s.runs)}</td><td>${lastOutcome(s, runs)}</td><td class="error">${s.error ?? ""}</td></tr>`,
      )}</tbody></table></div>`

/** Cleanup at a glance: its tables, what matches now, its last runs and its next scheduled one. */
export const cleanupSection = (
  glance: CleanupGlance,
  runs: ReadonlyArray<RunStatus>,
  schedules: ReadonlyArray<ScheduleStatus>,
  recorded: Option.Option<RecordedRuns>,
) => {
  const last = runs.filter((r) => r.job === "cleanup" && r.state !== "running").slice(0, 5)
  const next = schedules.find((s) => s.job === "cleanup" && s.nextRunAt !== undefined)
  return html`<dl class="glance">
<div><dt>Users table</dt><dd>${glance.users}</dd></div>
<div><dt>Pending table</dt><dd>${glance.pending}</dd></div>
<div><dt>Rule</dt><dd>${glance.rule}</dd></div>
<div><dt>Matching now</dt><dd id="cleanup-pending">${
    "count" in glance.matching
      ? html`<strong class="big">${count(glance.matching.count)}</strong> pending rows match a user (counted ${time(glance.countedAt)})`
      : html`<span class="error">could not count: ${glance.matching.error}</span>`
  }</dd></div>
<div><dt>Next scheduled run</dt><dd>${next === undefined ? "none scheduled" : countdown(next.nextRunAt)}</dd></div>
</dl>
<h3>Last cleanup runs</h3>
${recordedNote(recorded)}
${
  last.length === 0
    ? html`<p class="empty">No cleanup run yet.</p>`
    : html`<ul class="cleanup-runs">${last.map(
        (r) =>
          html`<li><span class="badge state-${stateOf(r)}">${stateOf(r)}</span> ${runKind(r)} ${time(r.startedAt)} ${fields(summaryFields(r))}</li>`,
      )}</ul>`
}`
}
