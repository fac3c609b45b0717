import { Chunk, Effect, Option, Stream } from "effect"
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
  readonly pageSize: number
  readonly stopping: Effect.Effect<boolean>
}

/**
 * The `_changes` feed (`style=all_docs`) as a stream of pages, from `since` to its end. The first
 * page is small, so purging starts after a short read; later pages are full size. Stops reading
 * once the run is stopping.
 */
export const changesFeed = (
  couch: CouchClientShape,
  counter: Counter,
  options: FeedOptions,
): Stream.Stream<ChangesPage, CouchError | ConfigError> =>
  Stream.paginateChunkEffect({ from: options.since, limit: options.firstPage }, ({ from, limit }) =>
    Effect.gen(function* () {
      const none = Option.none<{ from: string; limit: number }>()
      if (yield* options.stopping) return [Chunk.empty<ChangesPage>(), none] as const
      const page = yield* counter
        .retried(couch.changes(options.db, { since: from, limit, style: "all_docs" }))
        .pipe(Effect.catchTag("CouchBadRequest", (e) => refusedSince(options, from, e)))
      const last = page.results.length < limit || page.pending === 0
      return [
        Chunk.of(page),
        last ? none : Option.some({ from: page.last_seq, limit: options.pageSize }),
      ] as const
    }),
  )

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
