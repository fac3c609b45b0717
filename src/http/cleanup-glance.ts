import { Clock, Effect, Schema } from "effect"
import { countMatches } from "../cleanup/statements.ts"
import { type CleanupTarget, defaultTarget, resolveTarget } from "../cleanup/target.ts"
import { decodeRows, type PgClientShape } from "../pg/client.ts"

/**
 * Cleanup at a glance: the tables the server's cleanup works on (those of `POST /jobs/cleanup`
 * without a target, and of its schedule) and how many pending rows match a user right now — the
 * count a dry run gives, read with the same checks and SQL, kept briefly so a reload costs nothing.
 */

export interface CleanupGlance {
  readonly users: string
  readonly pending: string
  readonly rule: string
  /** Pending rows that match a user now, or why they could not be counted. */
  readonly matching: { readonly count: number } | { readonly error: string }
  readonly countedAt: string
}

const Count = Schema.Struct({ n: Schema.NumberFromString })

/** How long a count is shown before it is read again. */
export const glanceTtlMs = 30_000

const describe = (t: CleanupTarget) => ({
  users: `${t.schema}.${t.usersTable} (${t.usersEmailColumn})`,
  pending: `${t.schema}.${t.pendingTable} (${t.pendingEmailColumn})`,
  rule: `a pending row goes when its email equals a user's${t.caseSensitive ? " exactly" : " (ignoring case)"}`,
})

/** A glance reader with its own short cache (one per HTTP app). */
export const makeCleanupGlance = () => {
  let kept: { readonly at: number; readonly glance: CleanupGlance } | undefined
  /** `changedAt`: when a cleanup run last finished (or now, while one runs): a count before it is stale. */
  return (pg: PgClientShape, changedAt: number) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (kept !== undefined && now - kept.at < glanceTtlMs && kept.at > changedAt) return kept.glance
      const matching = yield* resolveTarget(pg, defaultTarget, { delete: false }).pipe(
        Effect.flatMap((target) => pg.query("counting matches", (sql) => countMatches(sql, target))),
        Effect.flatMap(decodeRows(Count, "counting matches")),
        Effect.map((rows) => ({ count: rows[0]?.n ?? 0 })),
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => ({ message: "timed out after 5 s" }) }),
        Effect.catchAll((e) => Effect.succeed({ error: e.message.split("\n")[0]! })),
      )
      const glance: CleanupGlance = {
        ...describe(defaultTarget),
        matching,
        countedAt: new Date(now).toISOString(),
      }
      kept = { at: now, glance }
      return glance
    })
}
