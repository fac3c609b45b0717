import { hostname } from "node:os"
import { pid } from "node:process"
import { Clock, Duration, Effect, Either, Fiber, Option, Ref } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { RetryPolicy } from "../shared/retry.ts"
import { leaseBody, leaseDocId, leasesDb, trustedUntil } from "./lease-doc.ts"
import { type HeldElsewhere, type Holding, type LeaseError, release, renewLoop, take } from "./lease-keep.ts"
import { makeLeaseStore } from "./lease-store.ts"

export type { HeldElsewhere, LeaseError } from "./lease-keep.ts"

/**
 * One purger per database across hosts: before a database is purged its lease is taken (a PUT
 * of `dbsweep_leases/purge:<db>`, compare-and-set by `_rev`), renewed every TTL/3 while the purge
 * runs, and released (DELETE with its rev) at the end, on failure and on Ctrl-C/SIGTERM. A holder
 * that crashed stops renewing, and its lease expires after the TTL; a later run then takes over.
 * Requests per database: one PUT to take, one every TTL/3 to renew, one DELETE to release; the
 * lease database is created once per run, when the first PUT finds it missing. Writes asked for
 * together go as one `_bulk_docs` (lease-store.ts).
 *
 * A run of many databases takes leases a few databases ahead of their purge (`reserve`: their
 * PUTs go together) and gives each back without waiting for it (`settle` waits for them all at
 * the end), so no lease request stands between one database's purge and the next. A lease taken
 * ahead is not renewed until its purge starts: if a third of its TTL has passed by then, it is
 * renewed first; if it expired and another purger took it meanwhile, the database is skipped as
 * held by that purger.
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
  /**
   * Takes the leases of `dbs` ahead of their purge, together; `withLease` then finds each one
   * taken. A lease another purger holds, or one that could not be taken, is left to `withLease`,
   * which meets it as it would have alone. Never fails.
   */
  readonly reserve: (dbs: ReadonlyArray<string>, ttl: Duration.Duration) => Effect.Effect<void>
  /**
   * Waits for the leases given back without waiting, and gives back those taken ahead and never
   * used (a run stopped early). Never fails; the run's end waits for it.
   */
  readonly settle: Effect.Effect<void>
}

export interface Leases {
  /** This purger's name in the leases it takes: host, pid and a random part. */
  readonly holder: string
  /**
   * A run's leases; `retry` is the run's policy for the lease requests. With `releaseLater` (a run
   * of many), `withLease` gives the lease back without waiting for it; the run waits in `settle`.
   */
  readonly forRun: (
    retry: RetryPolicy,
    options?: { readonly releaseLater?: boolean },
  ) => Effect.Effect<RunLeases>
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

    /**
     * Claims `db` in this process (as being taken); what already claims it, if anything, and
     * then the claim is not made.
     */
    const claim = (db: string) =>
      Ref.modify(here, (m) =>
        m.has(db) ? [m.get(db), m] : [undefined, new Map(m).set(db, "taking" as const)],
      )
    /** A lease taken for `db`: recorded as held here. */
    const holding = (db: string, held: Holding) =>
      Effect.tap(Ref.make(held), (state) => Ref.update(here, (m) => new Map(m).set(db, state)))

    const forRun = (retry: RetryPolicy, options: { readonly releaseLater?: boolean } = {}) =>
      Effect.gen(function* () {
        const store = makeLeaseStore(couch, retry)
        /** Leases taken ahead of their database's purge, not used yet. */
        const reserved = new Map<string, Ref.Ref<Holding>>()
        /** Leases being given back without anyone waiting. */
        const releasing = new Set<Fiber.RuntimeFiber<void>>()
        const ensureDb = yield* Effect.cached(
          Effect.logInfo(`creating the ${leasesDb} database, where purge leases are kept`).pipe(
            Effect.zipRight(store.createDb(leasesDb)),
          ),
        )
        /** Gives the lease back and forgets the database here (never fails). */
        const giveBack = (db: string, state: Ref.Ref<Holding>) =>
          release(store, state, db, holder).pipe(Effect.zipRight(forget(db)))
        /** Gives the lease back without waiting: its own fiber, which `settle` waits for. */
        const releaseLater = (db: string, state: Ref.Ref<Holding>) =>
          Effect.flatMap(Effect.forkDaemon(giveBack(db, state)), (fiber) =>
            Effect.sync(() => {
              releasing.add(fiber)
              fiber.addObserver(() => releasing.delete(fiber))
            }),
          )

        /**
         * Takes `db`'s lease (claimed here already; `rev`: this purger's own, taken earlier); the
         * claim is dropped when the lease is not taken.
         */
        const takeClaimed = (db: string, ttlMs: number, rev?: string) =>
          take(store, ensureDb, { server: couch.server, db, holder, ttlMs, where: where(db), rev }).pipe(
            Effect.onError(() => forget(db)),
            Effect.tap((taken) => (Either.isLeft(taken) ? forget(db) : Effect.void)),
          )

        /** Claims `db` in this process, then takes its lease; `Left`: someone else has it. */
        const acquire = (db: string, ttlMs: number) =>
          Effect.gen(function* () {
            const ahead = reserved.get(db)
            if (ahead !== undefined) {
              reserved.delete(db)
              const held = yield* Ref.get(ahead)
              // Fresh: used as taken. Older than a renewal's gap: renewed by taking it again.
              if ((yield* Clock.currentTimeMillis) < held.writtenAt + Math.floor(ttlMs / 3))
                return Either.right(ahead)
              const again = yield* takeClaimed(db, ttlMs, held.rev)
              if (Either.isLeft(again)) return Either.left<HeldElsewhere>(again.left)
              yield* Ref.set(ahead, again.right)
              return Either.right(ahead)
            }
            const mine = yield* claim(db)
            if (mine !== undefined) {
              // Another run of this very process is purging it.
              const writtenAt =
                mine === "taking" ? yield* Clock.currentTimeMillis : (yield* Ref.get(mine)).writtenAt
              const expiresAt = new Date(writtenAt + ttlMs).toISOString()
              return Either.left<HeldElsewhere>({ holder, expiresAt, lease: where(db) })
            }
            const taken = yield* takeClaimed(db, ttlMs)
            if (Either.isLeft(taken)) return Either.left<HeldElsewhere>(taken.left)
            return Either.right(yield* holding(db, taken.right))
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
                  : options.releaseLater
                    ? releaseLater(db, t.right)
                    : giveBack(db, t.right),
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
        /** Takes `db`'s lease ahead of its purge, if it is free; anything else is left to `withLease`. */
        const reserveOne = (db: string, ttlMs: number) =>
          Effect.gen(function* () {
            if ((yield* claim(db)) !== undefined) return
            const now = yield* Clock.currentTimeMillis
            const body = leaseBody({ db, holder, acquiredAt: now, now, ttlMs, rev: undefined })
            let put = yield* store.put(db, body)
            if (Either.isLeft(put) && put.left === "no-database") {
              yield* ensureDb
              put = yield* store.put(db, body)
            }
            if (Either.isLeft(put)) return yield* forget(db)
            const state = yield* holding(db, {
              rev: put.right,
              acquiredAt: now,
              writtenAt: now,
              lost: Option.none(),
              gone: false,
            })
            reserved.set(db, state)
          }).pipe(
            Effect.catchAllCause(() => forget(db)),
            Effect.onInterrupt(() => forget(db)),
          )

        const reserve = (dbs: ReadonlyArray<string>, ttl: Duration.Duration) =>
          Effect.forEach(dbs, (db) => reserveOne(db, Duration.toMillis(ttl)), {
            concurrency: "unbounded",
            discard: true,
          })

        const settle = Effect.suspend(() => {
          const unused = [...reserved]
          reserved.clear()
          return Effect.forEach(unused, ([db, state]) => releaseLater(db, state), { discard: true }).pipe(
            Effect.zipRight(Effect.suspend(() => Fiber.awaitAll([...releasing]))),
            Effect.asVoid,
          )
        })

        const run: RunLeases = { withLease, reserve, settle }
        return run
      })
    const leases: Leases = { holder, forRun }
    return leases
  })
