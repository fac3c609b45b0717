/**
 * The page's inline script, held as text (the binary serves it; no build, no CDN). It loads the
 * slower sections after the first paint, keeps the token for the tab, starts and stops runs, and
 * follows each run through its event stream. Server HTML is only ever taken from this server's
 * own fragments (escaped there); anything else is written with textContent.
 */
export const pageScript = `
"use strict";
const key = "dbsweep-token";
const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const say = (text) => { $("#message").textContent = text; };
const fmt = (n) => Number(n).toLocaleString("en-US");
function dur(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s - m * 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}
function words(p, target) {
  const held = Object.entries(p.held || {}).filter(function (e) { return e[1] > 0; })
    .map(function (e) { return e[0] + " " + fmt(e[1]); }).join(", ");
  if (!p.total && !p.done) return held ? "held back: " + held : "starting…";
  const left = p.ratePerSecond > 0 && p.total > p.done ? (p.total - p.done) / p.ratePerSecond : null;
  return [fmt(p.done) + " / " + fmt(p.total) + (p.label && p.label !== target ? " " + p.label : ""), fmt(p.ratePerSecond) + "/s",
    left === null ? "" : "about " + dur(left * 1000) + " left", held ? "held back: " + held : ""].filter(Boolean).join(" · ");
}

// Sign-in: the token lives in sessionStorage (this tab only), never in the page or a cookie.
function token() { return sessionStorage.getItem(key) || ""; }
function showSignIn() {
  const signedIn = token() !== "";
  const form = $("#sign-in");
  if (!form) return;
  $("#signed-in").hidden = !signedIn;
  $("#sign-in-fields").hidden = signedIn;
}
function headers() {
  const h = { "content-type": "application/json" };
  if (token()) h.authorization = "Bearer " + token();
  return h;
}
async function refused(res) {
  let body = {};
  try { body = await res.json(); } catch (e) { body = { message: "HTTP " + res.status }; }
  if (res.status === 401) {
    const had = token() !== "";
    sessionStorage.removeItem(key); showSignIn();
    say((had ? "The token was refused" : "This action needs the token") +
      ": sign in with the token dbsweep serve was started with (DBSWEEP_TOKEN).");
    const input = $("#token"); if (input) input.focus();
  } else say(body.message || ("HTTP " + res.status));
}

async function load(part, query) {
  const box = $("#" + part + "-box");
  if (!box) return;
  box.setAttribute("aria-busy", "true");
  try {
    const res = await fetch("/page/" + part + (query || ""), { headers: headers() });
    if (res.ok) box.innerHTML = await res.text();
    else box.textContent = "could not load: HTTP " + res.status;
  } catch (e) { box.textContent = "could not load: " + e.message; }
  box.setAttribute("aria-busy", "false");
  if (part === "running") followAll();
  if (part === "databases") restoreResults();
  tick();
}

// A run of many databases: one bar per database at work, added and dropped as the stream says.
function showParts(li, id, parts) {
  let list = $("ul.parts", li);
  if (!list) {
    list = document.createElement("ul"); list.className = "parts";
    list.setAttribute("aria-label", "Databases of " + id + " in progress");
    li.appendChild(list);
  }
  const names = new Set(parts.map((p) => p.name));
  for (const item of $$("li.part", list)) if (!names.has(item.dataset.db)) item.remove();
  for (const p of parts) {
    let item = $$("li.part", list).find((el) => el.dataset.db === p.name);
    if (!item) {
      item = document.createElement("li"); item.className = "part"; item.dataset.db = p.name;
      const name = document.createElement("span"); name.className = "part-name"; name.textContent = p.name;
      const bar = document.createElement("progress"); bar.setAttribute("aria-label", p.name);
      const said = document.createElement("span"); said.className = "part-words";
      item.append(name, bar, said);
      list.appendChild(item);
    }
    const bar = $("progress", item);
    bar.max = Math.max(p.total, 1); bar.value = p.done;
    $(".part-words", item).textContent = fmt(p.done) + " / " + fmt(p.total);
  }
}

const followed = new Map();
function follow(id, onEnd) {
  if (followed.has(id)) { if (onEnd) followed.get(id).push(onEnd); return; }
  followed.set(id, onEnd ? [onEnd] : []);
  const events = new EventSource("/jobs/" + encodeURIComponent(id) + "/events");
  events.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    const li = $('li.run[data-run="' + CSS.escape(id) + '"]');
    if (li) {
      const bar = $("progress", li);
      bar.max = Math.max(s.progress.total, 1); bar.value = s.progress.done;
      $(".words", li).textContent = words(s.progress, s.target);
      showParts(li, s.id, s.progress.parts || []);
    }
    if (s.state !== "running") {
      events.close();
      const ends = followed.get(id) || [];
      followed.delete(id);
      for (const f of ends) f(s);
      refreshAfterRun();
    }
  });
  events.onerror = () => { events.close(); followed.delete(id); };
}
function followAll() { for (const li of $$("li.run")) follow(li.dataset.run); }
let refreshing = null;
function refreshAfterRun() {
  clearTimeout(refreshing);
  refreshing = setTimeout(() => {
    load("running"); load("history"); load("cleanup"); load("schedules"); load("databases", location.search);
  }, 150);
}

// What each row's last action said, put back whenever the table is loaded again.
const results = new Map();
function rowResult(db, text) {
  results.set(db, text);
  const cell = $('tr[data-db="' + CSS.escape(db) + '"] .result');
  if (cell) cell.textContent = text;
}
function restoreResults() { for (const [db, text] of results) rowResult(db, text); }
function outcome(s, dryRun) {
  const m = s.summary || {};
  if (s.state === "failed") return "failed: " + (s.error || "see the history");
  if (m.state === "skipped") return "skipped: " + m.reason + " (" + m.holder + ", until " + m.expiresAt + ")";
  if (dryRun) {
    const ids = (m.listed || []).join(", ");
    return "would purge " + fmt(m.tombstones || 0) + " tombstones (" + fmt(m.revs || 0) + " revisions)" +
      (ids ? "; first ids: " + ids : "");
  }
  return (s.state === "interrupted" ? "stopped after purging " : "purged ") + fmt(m.purgedRevs || 0) + " revisions";
}
async function startPurge(db, dryRun) {
  rowResult(db, dryRun ? "dry run starting…" : "purge starting…");
  const res = await fetch("/jobs/purge", { method: "POST", headers: headers(),
    body: JSON.stringify({ db, dryRun, list: dryRun }) });
  if (!res.ok) { rowResult(db, ""); return refused(res); }
  const body = await res.json();
  say((dryRun ? "Dry run " : "Purge ") + body.id + " of " + db + " started.");
  follow(body.id, (s) => { rowResult(db, outcome(s, dryRun)); say(s.id + ": " + outcome(s, dryRun) + "."); });
  load("running");
}
async function stopRun(id, button) {
  button.disabled = true;
  say("Stopping " + id + " (work in flight finishes, the checkpoint is saved)…");
  const res = await fetch("/jobs/" + encodeURIComponent(id), { method: "DELETE", headers: headers() });
  button.disabled = false;
  if (!res.ok) return refused(res);
  say(id + " stopped.");
  refreshAfterRun();
}

document.addEventListener("click", (e) => {
  const b = e.target.closest("button");
  if (!b) return;
  if (b.classList.contains("dry-run")) startPurge(b.dataset.db, true);
  else if (b.classList.contains("purge")) startPurge(b.dataset.db, false);
  else if (b.classList.contains("stop")) stopRun(b.dataset.run, b);
  else if (b.id === "sign-out") { sessionStorage.removeItem(key); showSignIn(); say("Signed out."); $("#token").focus(); }
});
const form = $("#sign-in");
if (form) form.addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("#token").value.trim();
  if (!value) { say("Enter the token the server was started with."); return; }
  sessionStorage.setItem(key, value); $("#token").value = "";
  showSignIn(); say("Signed in for this tab.");
});

function tick() {
  const now = Date.now();
  for (const el of $$(".countdown")) {
    const left = Date.parse(el.dataset.at) - now;
    el.textContent = left > 0 ? "in " + dur(Math.ceil(left / 1000) * 1000) : "due now";
  }
}
showSignIn();
load("databases", location.search);
load("cleanup");
// With a cleanup history table the history is read after the first paint.
if ($("#history-box").getAttribute("aria-busy") === "true") load("history");
followAll();
tick();
setInterval(tick, 1000);
// Runs started elsewhere (a schedule, another tab) show up within a few seconds.
setInterval(() => { if (followed.size === 0) load("running"); }, 5000);
`
