import { Effect } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { CouchError } from "../couch/errors.ts"
import type { ChangesPage } from "../couch/schema.ts"
import { ConfigError } from "../shared/errors.ts"
import type { Counter } from "./counts.ts"

export interface FeedOptions {
  readonly db: string
  readonly since: string
  /** The user gave `since` (else it came from the checkpoint in `store`). */
  readonly sinceGiven: boolean
  readonly store: string
  readonly firstPage: number
  /** Rows between two seqs in a page (see `ChangesParams.seqInterval`). */
  readonly seqInterval: number
  readonly pageSize: number
  readonly stopping: Effect.Effect<boolean>
}

/**
 * Reads the `_changes` feed (`style=all_docs`) from `since` to its end, a page at a time, handing
 * each page to `onPage` before reading the next (which waits while `onPage` does: that is the
 * backpressure). The first page is small, so purging starts after a short read; later pages are
 * full size. Stops reading once the run is stopping.
 */
export const readFeed = <E>(
  couch: CouchClientShape,
  counter: Counter,
  options: FeedOptions,
  onPage: (page: ChangesPage, from: string) => Effect.Effect<void, E>,
): Effect.Effect<void, CouchError | ConfigError | E> =>
  Effect.gen(function* () {
    let from = options.since
    let limit = options.firstPage
    while (!(yield* options.stopping)) {
      const page = yield* counter
        .retried(
          couch.changes(options.db, {
            since: from,
            limit,
            style: "all_docs",
            seqInterval: options.seqInterval,
          }),
        )
        .pipe(Effect.catchTag("CouchBadRequest", (e) => refusedSince(options, from, e)))
      yield* onPage(page, from)
      if (page.results.length < limit || page.pending === 0) return
      from = page.last_seq
      limit = options.pageSize
    }
  })

/**
 * Only the first `since` comes from outside (a flag or the checkpoint); CouchDB refuses a seq it
 * cannot read with 400 (e.g. a last_seq.txt written for another database): a usage error then.
 */
const refusedSince = (options: FeedOptions, from: string, e: CouchError & { readonly reason: string }) =>
  from === options.since && /sequence|since/i.test(e.reason)
    ? Effect.fail<ConfigError | CouchError>(
        new ConfigError({
          message: options.sinceGiven
            ? `--since ${options.since} is not a seq database "${options.db}" accepts (${e.reason}): use 0, now or a seq from its _changes feed`
            : `the checkpoint in ${options.store} holds a seq database "${options.db}" refuses (${e.reason}): remove it, or pass --since 0 to start over`,
        }),
      )
    : Effect.fail(e)
