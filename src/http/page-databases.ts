import { html } from "hono/html"
import { type CatalogPage, type CatalogQuery, type DbRow, type SortKey, sortKeys } from "./catalog.ts"
import { bytes, count, percent } from "./page-format.ts"

/**
 * The databases table: one row per database with its tombstones and what a purge or a compaction
 * would give back; column headers sort (on the server), a name filter, pages of `size`, and a Dry
 * run and a Purge button per row. Sorting, filtering and paging are links and a form that reload
 * the page; only the buttons need the script.
 */

const columns: ReadonlyArray<{ readonly key: SortKey; readonly label: string; readonly numeric: boolean }> = [
  { key: "name", label: "Database", numeric: false },
  { key: "docs", label: "Documents", numeric: true },
  { key: "tombstones", label: "Tombstones", numeric: true },
  { key: "share", label: "Tombstone share", numeric: true },
  { key: "file", label: "File / active size", numeric: true },
  { key: "reclaimable", label: "Compaction frees", numeric: true },
  { key: "lastPurge", label: "Last purge", numeric: false },
  { key: "verdict", label: "Verdict", numeric: false },
]

export const pageSize = 50

const firstInt = (v: string | undefined) => {
  const n = Number.parseInt(v ?? "", 10)
  return Number.isFinite(n) && n >= 0 ? n : 0
}

/** The table's query from the page's URL parameters; anything unknown falls back to the default. */
export const catalogQuery = (q: (name: string) => string | undefined): CatalogQuery => {
  const sort = sortKeys.find((k) => k === q("sort")) ?? "name"
  const dirGiven = q("dir")
  const dir = dirGiven === "asc" || dirGiven === "desc" ? dirGiven : sort === "name" ? "asc" : "desc"
  const from = q("from")
  return {
    filter: (q("q") ?? "").trim().slice(0, 200),
    sort,
    dir,
    from: from === undefined || from === "" ? undefined : from,
    page: Math.min(firstInt(q("page")), 100_000),
    size: Math.min(firstInt(q("size")) || pageSize, 500),
  }
}

const link = (query: CatalogQuery, patch: Partial<CatalogQuery>) => {
  const next = { ...query, ...patch }
  const params = new URLSearchParams()
  if (next.filter !== "") params.set("q", next.filter)
  if (next.sort !== "name") params.set("sort", next.sort)
  params.set("dir", next.dir)
  if (next.from !== undefined) params.set("from", next.from)
  if (next.page > 0) params.set("page", String(next.page))
  if (next.size !== pageSize) params.set("size", String(next.size))
  return `/?${params.toString()}#databases`
}

const header = (query: CatalogQuery, c: (typeof columns)[number]) => {
  const active = query.sort === c.key
  const nextDir = active ? (query.dir === "asc" ? "desc" : "asc") : c.numeric ? "desc" : "asc"
  const ariaSort = active ? (query.dir === "asc" ? "ascending" : "descending") : "none"
  const arrow = active ? (query.dir === "asc" ? " ▲" : " ▼") : ""
  return html`<th scope="col" aria-sort="${ariaSort}" class="${c.numeric ? "num" : ""}"><a class="sort" data-sort="${c.key}" href="${link(query, { sort: c.key, dir: nextDir, from: undefined, page: 0 })}">${c.label}${arrow}</a></th>`
}

const when = (iso: string | undefined) =>
  iso === undefined
    ? html`<span class="muted">never</span>`
    : html`<time datetime="${iso}">${iso.replace("T", " ").slice(0, 16)} UTC</time>`

const row = (r: DbRow, actions: boolean) => html`<tr data-db="${r.db}">
<th scope="row" class="name">${r.db}</th>
${
  r.error !== undefined
    ? html`<td colspan="7" class="error">${r.error}</td>`
    : html`<td class="num docs">${count(r.docCount)}</td>
<td class="num tombstones">${count(r.tombstones)}</td>
<td class="num share"><span class="share-bar" style="--share:${(r.share * 100).toFixed(1)}%">${percent(r.share)}</span></td>
<td class="num size">${bytes(r.fileSize)} / ${bytes(r.activeSize)}</td>
<td class="num reclaimable">${bytes(r.reclaimable)}</td>
<td class="last-purge">${when(r.lastPurge)}</td>
<td class="verdict"><span class="badge ${r.worthPurging ? "worth" : "fine"}">${r.worthPurging ? "purge" : "fine"}</span> <span class="reason">${r.reason}</span></td>`
}
<td class="actions">${
  actions
    ? html`<button type="button" class="dry-run" data-db="${r.db}" aria-label="Dry run of ${r.db}">Dry run</button>
<button type="button" class="purge" data-db="${r.db}" aria-label="Purge ${r.db}">Purge</button>`
    : ""
}<div class="result" aria-live="polite"></div></td>
</tr>`

/** The databases section's content for one query. */
export const databasesTable = (
  page: CatalogPage,
  query: CatalogQuery,
  actions: boolean,
) => html`<form class="filter" method="get" action="/#databases" role="search">
<label for="db-filter">Filter by name</label>
<input id="db-filter" name="q" value="${query.filter}" placeholder="orders-* or part of a name" size="28">
<input type="hidden" name="sort" value="${query.sort}"><input type="hidden" name="dir" value="${query.dir}">
<button type="submit">Filter</button>
${query.filter === "" ? "" : html`<a href="${link(query, { filter: "", from: undefined, page: 0 })}">Show all</a>`}
</form>
<p class="count" id="db-count">${
  page.total === undefined
    ? `${page.rows.length} databases shown${page.next === undefined ? "" : ", more on the next page"}`
    : `${count(page.total)} databases${query.filter === "" ? "" : " match"}; showing ${count(page.rows.length)}`
}</p>
<div class="scroll"><table id="db-table">
<caption class="visually-hidden">Databases, sorted by ${columns.find((c) => c.key === query.sort)?.label} (${query.dir === "asc" ? "ascending" : "descending"})</caption>
<thead><tr>${columns.map((c) => header(query, c))}<th scope="col">Actions</th></tr></thead>
<tbody>${page.rows.length === 0 ? html`<tr><td colspan="9" class="empty">No database matches.</td></tr>` : page.rows.map((r) => row(r, actions))}</tbody>
</table></div>
<nav class="pager" aria-label="Database pages">${page.first ? "" : html`<a href="${link(query, { from: undefined, page: 0 })}">First page</a>`}
${
  page.next === undefined
    ? ""
    : html`<a rel="next" href="${link(query, { from: page.next.from, page: page.next.page ?? 0 })}">Next page</a>`
}</nav>`
