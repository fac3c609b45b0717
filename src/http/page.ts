import { Effect, Option } from "effect"
import { type Context, Hono } from "hono"
import { html, raw } from "hono/html"
import { ServeServices } from "../app.ts"
import { JobUnavailable } from "../errors.ts"
import { JobRunner } from "../jobs/runner.ts"
import type { RunStatus } from "../jobs/status.ts"
import { version } from "../version.ts"
import { requireStatusAccess } from "./auth.ts"
import { type CatalogPage, type CatalogQuery, makeCatalog } from "./catalog.ts"
import { makeCleanupGlance } from "./cleanup-glance.ts"
import { type RecordedRuns, readRecordedRuns, withRecorded } from "./cleanup-history.ts"
import { needs } from "./jobs.ts"
import { catalogQuery, databasesTable } from "./page-databases.ts"
import { cleanupSection, historySection, runningSection, schedulesSection } from "./page-runs.ts"
import { pageScript } from "./page-script.ts"
import { pageStyle } from "./page-style.ts"
import { type HttpEnv, type HttpSettings, respond, type ServeRuntime } from "./respond.ts"

/** What the page's sections are built from, read in one program. */
export const pageData = Effect.fn("Http.pageData")(function* () {
  const runner = yield* JobRunner
  const services = yield* ServeServices
  return {
    runs: yield* runner.list,
    schedules: yield* runner.schedules,
    purge: Option.isSome(services.purge),
    cleanup: Option.isSome(services.cleanup),
    /** The history table is read by the sections that show it (after the first paint), not here. */
    recordedIn: Option.map(services.cleanupHistory, (h) => `${h.schema}.${h.table}`),
  }
})

/** The runs recorded in the cleanup history table, when serve was given one. */
const recordedRuns = Effect.gen(function* () {
  const services = yield* ServeServices
  if (Option.isNone(services.pg) || Option.isNone(services.cleanupHistory)) return Option.none<RecordedRuns>()
  return Option.some(yield* readRecordedRuns(services.pg.value, services.cleanupHistory.value))
})

type PageData = Effect.Effect.Success<ReturnType<typeof pageData>>

/** When a run last changed each database: a purge finished (or still going) there makes its details stale. */
const changedAt = (runs: ReadonlyArray<RunStatus>) => {
  const at = new Map<string, number>()
  for (const r of runs) {
    if (r.job !== "purge") continue
    const t = r.finishedAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(r.finishedAt)
    at.set(r.target, Math.max(at.get(r.target) ?? 0, t))
  }
  return at
}

/** When a cleanup run last changed the pending table (a real run; one going now counts as now). */
const lastCleanup = (runs: ReadonlyArray<RunStatus>) =>
  Math.max(
    0,
    ...runs
      .filter((r) => r.job === "cleanup")
      .map((r) => (r.finishedAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(r.finishedAt))),
  )

const unavailable = (job: keyof typeof needs) =>
  html`<p class="unavailable">${job} is unavailable: ${needs[job]}</p>`

const section = (
  id: string,
  title: string,
  body: unknown,
  busy = false,
) => html`<section aria-labelledby="${id}-h" id="${id}">
<h2 id="${id}-h">${title}</h2>
<div id="${id}-box" aria-busy="${busy ? "true" : "false"}">${body}</div>
</section>`

const signIn = (tokenRequired: boolean) =>
  tokenRequired
    ? html`<form id="sign-in" aria-label="Sign in">
<span id="sign-in-fields"><label for="token">Token</label> <input id="token" type="password" autocomplete="off" size="24">
<button type="submit">Sign in</button></span>
<span id="signed-in" hidden>Signed in for this tab <button type="button" id="sign-out">Sign out</button></span>
</form>`
    : html`<p class="muted">No token set: actions are open from this machine only.</p>`

const page = (data: PageData, tokenRequired: boolean, search: string) => html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>dbsweep status</title><style>${raw(pageStyle)}</style></head><body>
<header class="top"><h1>dbsweep <span class="muted">${version}</span></h1>${signIn(tokenRequired)}</header>
<main>
<p id="message" role="status" aria-live="polite"></p>
${section("running", "Running now", runningSection(data.runs, data.purge || data.cleanup))}
${section(
  "databases",
  "Databases",
  data.purge
    ? html`<p class="muted">Reading the databases…</p><noscript><a href="/page/databases${search}">The databases table</a> (this page loads it with its script).</noscript>`
    : unavailable("purge"),
  data.purge,
)}
${section(
  "cleanup",
  "Cleanup",
  data.cleanup ? html`<p class="muted">Counting pending rows…</p>` : unavailable("cleanup"),
  data.cleanup,
)}
${section("schedules", "Schedules", schedulesSection(data.schedules, data.runs))}
${
  Option.isSome(data.recordedIn)
    ? section("history", "History", html`<p class="muted">Reading the cleanup history…</p>`, true)
    : section("history", "History", historySection(data.runs, Option.none()))
}
</main>
<script>${raw(pageScript)}</script>
</body></html>`

const parts = ["databases", "running", "history", "cleanup", "schedules"] as const
type Part = (typeof parts)[number]

/**
 * `GET /` (the status page) and `GET /page/{part}` (one section, for the page's script to refresh
 * it), both server-rendered; `GET /databases` is the databases table as JSON.
 */
export const pageRoutes = (runtime: ServeRuntime, settings: HttpSettings) => {
  const catalog = makeCatalog()
  const glance = makeCleanupGlance()
  const read = requireStatusAccess(settings)

  const databases = (q: (name: string) => string | undefined) =>
    Effect.gen(function* () {
      const services = yield* ServeServices
      if (Option.isNone(services.couch)) return Option.none<{ page: CatalogPage; query: CatalogQuery }>()
      const runs = yield* (yield* JobRunner).list
      const query = catalogQuery(q)
      const page = yield* catalog.page(services.couch.value, query, changedAt(runs))
      return Option.some({ page, query })
    })

  const fragment = (part: Part, c: Context<HttpEnv>) =>
    Effect.gen(function* () {
      const data = yield* pageData()
      const services = yield* ServeServices
      switch (part) {
        case "running":
          return runningSection(data.runs, data.purge || data.cleanup)
        case "history": {
          const recorded = yield* recordedRuns
          return historySection(withRecorded(data.runs, recorded), recorded)
        }
        case "schedules":
          return schedulesSection(data.schedules, data.runs)
        case "cleanup":
          return yield* Option.match(services.pg, {
            onNone: () => Effect.succeed(unavailable("cleanup")),
            onSome: (pg) =>
              Effect.flatMap(glance(pg, lastCleanup(data.runs)), (g) =>
                Effect.map(recordedRuns, (recorded) =>
                  cleanupSection(g, withRecorded(data.runs, recorded), data.schedules, recorded),
                ),
              ),
          })
        case "databases":
          return yield* databases((n) => c.req.query(n)).pipe(
            Effect.map(
              Option.match({
                onNone: () => unavailable("purge"),
                onSome: ({ page, query }) => databasesTable(page, query, data.purge),
              }),
            ),
            // CouchDB down or refusing: the section says so in one line; the rest of the page works.
            Effect.catchAll((e) =>
              Effect.succeed(
                html`<p class="error" role="alert">Cannot read the databases: ${e.message.split("\n")[0]}</p>`,
              ),
            ),
          )
      }
    })

  return new Hono<HttpEnv>()
    .get("/", read, async (c) =>
      c.html(
        page(await runtime.runPromise(pageData()), settings.token !== undefined, new URL(c.req.url).search),
      ),
    )
    .get("/page/:part", read, async (c) => {
      const part = parts.find((p) => p === c.req.param("part"))
      if (part === undefined) return c.text(`no such section: pick one of ${parts.join(", ")}`, 404)
      return c.html(await runtime.runPromise(fragment(part, c)))
    })
    .get("/databases", read, (c) =>
      respond(
        runtime,
        c,
        databases((n) => c.req.query(n)).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(new JobUnavailable({ job: "purge", needs: needs.purge })),
              onSome: Effect.succeed,
            }),
          ),
        ),
      ),
    )
}
