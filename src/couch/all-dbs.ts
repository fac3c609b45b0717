import { HttpClientRequest } from "@effect/platform"
import { Chunk, Effect, Option, Stream } from "effect"
import type { CouchClientShape } from "./client.ts"
import { AllDbs } from "./schema.ts"

/**
 * The database names of a server, read from `_all_dbs` a page at a time (`start_key`/`end_key`/
 * `limit`, JSON keys, COUCHDB-FACTS §4), and globs to pick among them. The status page's table and
 * a purge of many databases read them the same way, so 100,000 databases cost a bounded request each.
 */

export interface AllDbsPage {
  readonly startKey: string
  readonly endKey: string
  readonly limit: number
  readonly descending: boolean
  readonly skip: number
}

/** One page of names, in `_all_dbs` (code-point) order. */
export const allDbsPage = (couch: CouchClientShape, params: AllDbsPage) =>
  couch
    .request(
      "GET /_all_dbs",
      undefined,
      HttpClientRequest.get("/_all_dbs", {
        urlParams: {
          start_key: JSON.stringify(params.startKey),
          end_key: JSON.stringify(params.endKey),
          limit: String(params.limit),
          ...(params.descending ? { descending: "true" } : {}),
          ...(params.skip > 0 ? { skip: String(params.skip) } : {}),
        },
      }),
      AllDbs,
    )
    .pipe(Effect.map((r) => r.body))

const globChars = /[*?]/

/** Whether `text` is a glob (has `*` or `?`) rather than one name. */
export const isGlob = (text: string) => globChars.test(text)

/** The literal start of a glob: every matching name begins with it, so `_all_dbs` can start there. */
export const globPrefix = (glob: string) => {
  const at = glob.search(globChars)
  return at === -1 ? glob : glob.slice(0, at)
}

/**
 * A glob (`*` any run of characters, `?` one) as a test on a name, matched in O(name × glob) steps
 * (no regular expression, so no pattern a visitor types can make it backtrack for long).
 */
export const globTest = (glob: string): ((name: string) => boolean) => {
  if (glob === "") return () => true
  return (name) => {
    let n = 0
    let g = 0
    let star = -1
    let mark = 0
    while (n < name.length) {
      if (g < glob.length && (glob[g] === "?" || (glob[g] !== "*" && glob[g] === name[n]))) {
        n++
        g++
      } else if (g < glob.length && glob[g] === "*") {
        star = g++
        mark = n
      } else if (star !== -1) {
        g = star + 1
        n = ++mark
      } else return false
    }
    while (g < glob.length && glob[g] === "*") g++
    return g === glob.length
  }
}

/** The end of the key range of names that start with `prefix` (database names are ASCII). */
export const prefixEnd = (prefix: string) => `${prefix}\ufff0`

/**
 * Every name matching `glob` (all names for ""), in `_all_dbs` order, as a stream read `pageSize`
 * names a request from the glob's literal prefix on: memory holds one page, however many databases.
 */
export const matchingDbs = (couch: CouchClientShape, glob: string, pageSize = 1000) => {
  const prefix = globPrefix(glob)
  const test = globTest(glob)
  return Stream.paginateChunkEffect({ start: prefix, skip: 0 }, (at) =>
    allDbsPage(couch, {
      startKey: at.start,
      endKey: prefixEnd(prefix),
      limit: pageSize,
      descending: false,
      skip: at.skip,
    }).pipe(
      Effect.map((names) => {
        const last = names[names.length - 1]
        // The next page starts at the last name, skipping it (start_key is inclusive).
        const next =
          names.length < pageSize || last === undefined
            ? Option.none()
            : Option.some({ start: last, skip: 1 })
        return [Chunk.fromIterable(names.filter(test)), next] as const
      }),
    ),
  )
}
