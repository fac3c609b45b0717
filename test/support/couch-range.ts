// Key ranges over sorted ids, as `_all_docs` and `_all_dbs` read them:
// https://docs.couchdb.org/en/stable/api/database/bulk-api.html#db-all-docs
import { fail, parseJson } from "./couch-revs.ts"

/**
 * Raw code point order (COUCHDB-FACTS §4: `- 1 A B _design/x a b ~ é`), which is UTF-8 byte order.
 * JavaScript compares UTF-16 units, which puts astral characters (surrogates) below U+E000–U+FFFF.
 */
export const codePointOrder = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      if (x < 0xd800 || y < 0xd800) return x - y
      const lift = (u: number): number => (u <= 0xdfff ? u + 0x2000 : u - 0x800)
      return lift(x) - lift(y)
    }
  }
  return a.length - b.length
}

/** An integer query parameter of a view-like read (couch_mrview_http:parse_int). */
export const intParam = (q: URLSearchParams, name: string, dflt: number): number => {
  const v = q.get(name)
  if (v === null) return dflt
  const n = Number(v)
  return Number.isInteger(n) && n >= 0
    ? n
    : fail(400, "query_parse_error", `Invalid value for integer: "${v}"`)
}

/** A JSON-encoded query parameter (`start_key="a"`); plain text is a 400 "invalid UTF-8 JSON". */
export const jsonParam = (q: URLSearchParams, ...names: string[]): unknown => {
  const v = names.map((n) => q.get(n)).find((x) => x !== null)
  return v == null ? undefined : parseJson(v)
}

/**
 * The slice of `ids` (sorted by codePointOrder) that key/start_key/end_key/inclusive_end/
 * descending/skip/limit select, in output order, and the `offset` of its first row.
 */
export const keyRange = (ids: readonly string[], q: URLSearchParams): { keys: string[]; offset: number } => {
  const bound = (key: string, strict: boolean): number => {
    let lo = 0
    let hi = ids.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const c = codePointOrder(ids[mid] ?? "", key)
      if (c < 0 || (strict && c === 0)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const key = jsonParam(q, "key")
  const startKey = key ?? jsonParam(q, "startkey", "start_key")
  const endKey = key ?? jsonParam(q, "endkey", "end_key")
  const inclusive = q.get("inclusive_end") !== "false"
  const desc = q.get("descending") === "true"
  const skip = intParam(q, "skip", 0)
  const limit = intParam(q, "limit", Number.MAX_SAFE_INTEGER)
  const hasStart = typeof startKey === "string"
  const hasEnd = typeof endKey === "string"
  // index range [lo, hi) in ascending order; descending reads it from the top
  const lo = desc ? (hasEnd ? bound(endKey, !inclusive) : 0) : hasStart ? bound(startKey, false) : 0
  const hi = desc
    ? hasStart
      ? bound(startKey, true)
      : ids.length
    : hasEnd
      ? bound(endKey, inclusive)
      : ids.length
  const keys: string[] = []
  for (let k = skip; k < hi - lo && keys.length < limit; k++) keys.push(ids[desc ? hi - 1 - k : lo + k] ?? "")
  const offset = Math.min((desc ? ids.length - hi : lo) + skip, ids.length)
  return { keys, offset }
}
