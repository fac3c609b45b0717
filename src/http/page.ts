import { Effect, Option } from "effect"
import { Hono } from "hono"
import { html, raw } from "hono/html"
import { ServeServices } from "../app.ts"
import { JobRunner } from "../jobs/runner.ts"
import type { RunStatus, ScheduleStatus } from "../jobs/status.ts"
import { requireStatusAccess } from "./auth.ts"
import { needs } from "./jobs.ts"
import type { HttpEnv, HttpSettings, ServeRuntime } from "./respond.ts"

/** What the page shows, read in one program. */
export const pageData = Effect.fn("Http.pageData")(function* () {
  const runner = yield* JobRunner
  const services = yield* ServeServices
  return {
    runs: yield* runner.list,
    schedules: yield* runner.schedules,
    purge: Option.isSome(services.purge),
    cleanup: Option.isSome(services.cleanup),
  }
})

const progressText = (r: RunStatus) =>
  r.progress.total > 0 ? `${r.progress.done} / ${r.progress.total} (${r.progress.ratePerSecond}/s)` : ""

const summaryText = (r: RunStatus) => (r.summary === undefined ? "" : JSON.stringify(r.summary))

const runRow = (r: RunStatus) => html`<tr data-run="${r.id}">
  <td>${r.id}</td><td>${r.job}</td><td>${r.target}</td><td class="state">${r.state}</td>
  <td class="progress">${progressText(r)}</td><td>${r.startedAt}</td>
  <td class="summary"><code>${summaryText(r)}</code>${r.error === undefined ? "" : html`<div class="error">${r.error}</div>`}</td>
</tr>`

const scheduleRow = (s: ScheduleStatus) => html`<tr>
  <td>${s.job}</td><td>${s.target}</td><td>${s.schedule}</td><td>${s.state}</td>
  <td>${s.nextRunAt ?? ""}</td><td>${s.runs}</td><td>${s.error ?? ""}</td>
</tr>`

/**
 * The page's script: starts purges (asking for the token once, kept for the tab only) and follows
 * runs through their event streams. It writes text with textContent only: nothing is parsed as HTML.
 */
const script = (tokenRequired: boolean) => `
const tokenRequired = ${JSON.stringify(tokenRequired)};
function token() {
  let t = sessionStorage.getItem("dbsweep-token");
  if (!t && tokenRequired) { t = prompt("dbsweep token") || ""; sessionStorage.setItem("dbsweep-token", t); }
  return t;
}
function cell(tr, cls, text) { const td = tr.querySelector("." + cls); if (td) td.textContent = text; }
function render(s) {
  let tr = document.querySelector('tr[data-run="' + CSS.escape(s.id) + '"]');
  if (!tr) {
    tr = document.createElement("tr"); tr.dataset.run = s.id;
    for (const c of ["id", "job", "target", "state", "progress", "started", "summary"]) {
      const td = document.createElement("td"); td.className = c; tr.appendChild(td);
    }
    document.querySelector("#runs tbody").prepend(tr);
    cell(tr, "id", s.id); cell(tr, "job", s.job); cell(tr, "target", s.target); cell(tr, "started", s.startedAt);
  }
  cell(tr, "state", s.state);
  cell(tr, "progress", s.progress.total > 0 ? s.progress.done + " / " + s.progress.total + " (" + s.progress.ratePerSecond + "/s)" : "");
  cell(tr, "summary", (s.summary === undefined ? "" : JSON.stringify(s.summary)) + (s.error ? " " + s.error : ""));
}
function follow(id) {
  const events = new EventSource("/jobs/" + encodeURIComponent(id) + "/events");
  events.addEventListener("status", (e) => { const s = JSON.parse(e.data); render(s); if (s.state !== "running") events.close(); });
  events.onerror = () => events.close();
}
async function startPurge(dryRun) {
  const db = document.querySelector("#db").value.trim();
  const headers = { "content-type": "application/json" };
  const t = token(); if (t) headers.authorization = "Bearer " + t;
  const res = await fetch("/jobs/purge", { method: "POST", headers, body: JSON.stringify({ db, dryRun }) });
  const body = await res.json();
  const out = document.querySelector("#message");
  if (res.status === 401) sessionStorage.removeItem("dbsweep-token");
  if (!res.ok) { out.textContent = body.message; return; }
  out.textContent = (dryRun ? "dry run " : "run ") + body.id + " started";
  follow(body.id);
}
for (const tr of document.querySelectorAll('tr[data-run]')) {
  if (tr.querySelector(".state").textContent === "running") follow(tr.dataset.run);
}
`

const page = (
  data: Effect.Effect.Success<ReturnType<typeof pageData>>,
  tokenRequired: boolean,
) => html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dbsweep</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin-bottom:1.5rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
code{font-size:12px;white-space:pre-wrap;word-break:break-all}.error{color:#b00}
</style></head><body>
<h1>dbsweep</h1>
<h2>Purge</h2>
${
  data.purge
    ? html`<form onsubmit="return false"><label>database <input id="db" name="db"></label>
<button id="dry-run" type="button" onclick="startPurge(true)">Dry run</button>
<button id="run" type="button" onclick="startPurge(false)">Run</button></form>`
    : html`<p class="unavailable">purge is unavailable: ${needs.purge}</p>`
}
<p id="message" role="status"></p>
${data.cleanup ? "" : html`<p class="unavailable">cleanup is unavailable: ${needs.cleanup}</p>`}
<h2>Runs</h2>
<table id="runs"><thead><tr><th>id</th><th>job</th><th>target</th><th>state</th><th>progress</th><th>started</th><th>summary</th></tr></thead>
<tbody>${data.runs.map(runRow)}</tbody></table>
<h2>Schedules</h2>
<table id="schedules"><thead><tr><th>job</th><th>target</th><th>schedule</th><th>state</th><th>next run</th><th>runs</th><th>error</th></tr></thead>
<tbody>${data.schedules.map(scheduleRow)}</tbody></table>
<script>${raw(script(tokenRequired))}</script>
</body></html>`

/** `GET /`: the status page, server-rendered (no front-end build). */
export const pageRoutes = (runtime: ServeRuntime, settings: HttpSettings) =>
  new Hono<HttpEnv>().get("/", requireStatusAccess(settings), async (c) =>
    c.html(page(await runtime.runPromise(pageData()), settings.token !== undefined)),
  )
