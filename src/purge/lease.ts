import { hostname } from "node:os"
import { pid } from "node:process"
import { Clock, Duration, Effect, Either, Option, Ref } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { RetryPolicy } from "../shared/retry.ts"
import { leaseDocId, leasesDb, trustedUntil } from "./lease-doc.ts"
import { type HeldElsewhere, type Holding, type LeaseError, release, renewLoop, take } from "./lease-keep.ts"
import { makeLeaseStore } from "./lease-store.ts"

export type { HeldElsewhere, LeaseError } from "./lease-keep.ts"

/**
 * One purger per database across hosts: before a database is purged its lease is taken (a PUT
 * of `dbsweep_leases/purge:<db>`, compare-and-set by `_rev`), renewed every TTL/3 while the purge
 * runs, and released (DELETE with its rev) at the end, on failure and on Ctrl-C/SIGTERM. A holder
 * that crashed stops renewing, and its lease expires after the TTL; a later run then takes over.
 * Requests per database: one PUT to take, one every TTL/3 to renew, one DELETE to release; the
 * lease database is created once per run, when the first PUT finds it missing.
 */

/** The lease of a database this purger holds, as the purge sees it. */
export interface Lease {
  /** Why the lease was lost (another purger took it, or it could not be renewed in time); none while held. */
  readonly lost: Effect.Effect<Option.Option<string>>
  /**
   * How long this purger may still write as the holder (ms): until a fifth of the TTL before the
   * expiry it last wrote; 0 once the lease is lost or that time has passed.
   */
  readonly trustedFor: Effect.Effect<number>
}

/** A run's leases: the lease database is created at most once per run. */
export interface RunLeases {
  /**
   * Runs `use` while holding `db`'s lease; `Left` (without running it) when another purger holds
   * it. The lease is released however `use` ends.
   */
  readonly withLease: <A, E>(
    db: string,
    ttl: Duration.Duration,
    use: (lease: Lease) => Effect.Effect<A, E>,
  ) => Effect.Effect<Either.Either<A, HeldElsewhere>, E | LeaseError>
}

export interface Leases {
  /** This purger's name in the leases it takes: host, pid and a random part. */
  readonly holder: string
  /** A run's leases; `retry` is the run's policy for the lease requests. */
  readonly forRun: (retry: RetryPolicy) => Effect.Effect<RunLeases>
}

/**
 * This process's leases. `holder` names it to operators (host, pid and a random part, so two job
 * workers of one process differ); the databases it holds now are known here, so two runs in one
 * process never both take a database's lease as their own.
 */
export const makeLeases = (couch: CouchClientShape): Effect.Effect<Leases> =>
  Effect.gen(function* () {
    const holder = `${hostname()}:${pid}:${globalThis.crypto.randomUUID().slice(0, 8)}`
    /** The databases this process holds (or is taking) now: a second run here skips them. */
    const here = yield* Ref.make(new Map<string, Ref.Ref<Holding> | "taking">())
    const where = (db: string) => `${couch.server}/${leasesDb}/${leaseDocId(db)}`
    const forget = (db: string) =>
      Ref.update(here, (m) => {
        const next = new Map(m)
        next.delete(db)
        return next
      })

    const forRun = (retry: RetryPolicy) =>
      Effect.gen(function* () {
        const store = makeLeaseStore(couch, retry)
        const ensureDb = yield* Effect.cached(
          Effect.logInfo(`creating the ${leasesDb} database, where purge leases are kept`).pipe(
            Effect.zipRight(store.createDb(leasesDb)),
          ),
        )

        /** Claims `db` in this process, then takes its lease; `Left`: someone else has it. */
        const acquire = (db: string, ttlMs: number) =>
          Effect.gen(function* () {
            const mine = yield* Ref.modify(here, (m) =>
              m.has(db) ? [m.get(db), m] : [undefined, new Map(m).set(db, "taking")],
            )
            if (mine !== undefined) {
              // Another run of this very process is purging it.
              const writtenAt =
                mine === "taking" ? yield* Clock.currentTimeMillis : (yield* Ref.get(mine)).writtenAt
              const expiresAt = new Date(writtenAt + ttlMs).toISOString()
              return Either.left<HeldElsewhere>({ holder, expiresAt, lease: where(db) })
            }
            const taken = yield* take(store, ensureDb, {
              server: couch.server,
              db,
              holder,
              ttlMs,
              where: where(db),
            }).pipe(Effect.onError(() => forget(db)))
            if (Either.isLeft(taken)) {
              yield* forget(db)
              return Either.left<HeldElsewhere>(taken.left)
            }
            const state = yield* Ref.make(taken.right)
            yield* Ref.update(here, (m) => new Map(m).set(db, state))
            return Either.right(state)
          })

        const withLease = <A, E>(
          db: string,
          ttl: Duration.Duration,
          use: (lease: Lease) => Effect.Effect<A, E>,
        ): Effect.Effect<Either.Either<A, HeldElsewhere>, E | LeaseError> =>
          Effect.scoped(
            Effect.gen(function* () {
              const ttlMs = Duration.toMillis(ttl)
              const taken = yield* Effect.acquireRelease(acquire(db, ttlMs), (t) =>
                Either.isLeft(t)
                  ? Effect.void
                  : release(store, t.right, db, holder).pipe(Effect.zipRight(forget(db))),
              )
              if (Either.isLeft(taken)) {
                yield* Effect.logInfo(`${db}: held by another purger, skipped`).pipe(
                  Effect.annotateLogs({ db, holder: taken.left.holder, expires_at: taken.left.expiresAt }),
                )
                return Either.left(taken.left)
              }
              const state = taken.right
              yield* Effect.logDebug(`${db}: lease taken`).pipe(
                Effect.annotateLogs({ db, holder, ttl_ms: ttlMs }),
              )
              // Forked after the release was registered, so it is stopped before the release runs.
              yield* Effect.forkScoped(renewLoop(store, state, { db, holder, ttlMs }))
              const lease: Lease = {
                lost: Effect.map(Ref.get(state), (h) => h.lost),
                trustedFor: Effect.flatMap(Ref.get(state), (h) =>
                  Effect.map(Clock.currentTimeMillis, (now) =>
                    Option.isSome(h.lost) ? 0 : Math.max(0, trustedUntil(h.writtenAt, ttlMs) - now),
                  ),
                ),
              }
              return Either.right(yield* use(lease))
            }),
          )
        const run: RunLeases = { withLease }
        return run
      })
    const leases: Leases = { holder, forRun }
    return leases
  })
