import { hostname } from "node:os"
import { pid } from "node:process"
import { Clock, Duration, Effect, Either, Option, Ref } from "effect"
import type { CouchClientShape } from "../couch/client.ts"
import type { CouchError } from "../couch/errors.ts"
import type { RetryPolicy } from "../shared/retry.ts"
import { decideLease, leaseBody, leaseDocId, leasesDb, trustedUntil } from "./lease-doc.ts"
import { LeaseStoreError } from "./lease-errors.ts"
import { type LeaseStore, makeLeaseStore } from "./lease-store.ts"

/**
 * One purger per database across hosts: before a database is purged its lease is taken (a PUT
 * of `dbsweep_leases/purge:<db>`, compare-and-set by `_rev`), renewed every TTL/3 while the purge
 * runs, and released (DELETE with its rev) at the end, on failure and on Ctrl-C/SIGTERM. A holder
 * that crashed stops renewing, and its lease expires after the TTL; a later run then takes over.
 * Requests per database: one PUT to take, one every TTL/3 to renew, one DELETE to release; the
 * lease database is created once per run, when the first PUT finds it missing.
 */

/** A database another purger is working on: who, and until when its lease runs. */
export interface HeldElsewhere {
  readonly holder: string
  readonly expiresAt: string
  /** Where the lease is, for an operator who has to clear it by hand. */
  readonly lease: string
}

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

export type LeaseError = LeaseStoreError | CouchError

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

/** What this purger knows of a lease it holds. */
interface Holding {
  readonly rev: string
  readonly acquiredAt: number
  /** The holder's clock when it last wrote the lease (its expiry is this plus the TTL). */
  readonly writtenAt: number
  readonly lost: Option.Option<string>
  /** Lost to another holder, or deleted: not this purger's to release. */
  readonly gone: boolean
}

/** Most PUT/GET rounds when other purgers keep changing the lease under this one. */
const maxRounds = 5

/** Takes `db`'s lease, or finds who holds it. */
const take = (
  store: LeaseStore,
  ensureDb: Effect.Effect<void, LeaseError>,
  at: {
    readonly server: string
    readonly db: string
    readonly holder: string
    readonly ttlMs: number
    readonly where: string
  },
) =>
  Effect.gen(function* () {
    const { db, holder, ttlMs } = at
    // The first PUT goes without a rev: a lease never taken, or released (deleted), is free, and
    // that is the usual case. A 409 says there is a lease: read it and decide.
    let rev: string | undefined
    let created = false
    for (let round = 0; round < maxRounds; round++) {
      const now = yield* Clock.currentTimeMillis
      const put = yield* store.put(db, leaseBody({ db, holder, acquiredAt: now, now, ttlMs, rev }))
      if (Either.isRight(put)) {
        const holding: Holding = {
          rev: put.right,
          acquiredAt: now,
          writtenAt: now,
          lost: Option.none(),
          gone: false,
        }
        return Either.right(holding)
      }
      if (put.left === "no-database") {
        if (created) break
        yield* ensureDb
        created = true
        continue
      }
      const decision = decideLease(yield* store.get(db), yield* Clock.currentTimeMillis, holder)
      if (decision._tag === "Held") {
        return Either.left<HeldElsewhere>({
          holder: decision.holder,
          expiresAt: decision.expiresAt,
          lease: at.where,
        })
      }
      if (decision._tag === "Expired") {
        yield* Effect.logInfo(`${db}: taking over the expired lease of ${decision.holder}`).pipe(
          Effect.annotateLogs({ db, lease: at.where }),
        )
      }
      rev = decision._tag === "Free" ? undefined : decision.rev
    }
    return yield* new LeaseStoreError({
      server: at.server,
      db,
      operation: `PUT /${leasesDb}/${leaseDocId(db)}`,
      reason: `the lease kept changing, ${maxRounds} tries`,
      refused: false,
    })
  })

/**
 * Keeps the lease: a PUT with its rev every TTL/3. A 409 from another holder, or a lease gone,
 * is lost at once; a failed request is tried again until the lease is no longer trusted.
 */
const renewLoop = (
  store: LeaseStore,
  state: Ref.Ref<Holding>,
  at: { readonly db: string; readonly holder: string; readonly ttlMs: number },
) => {
  const { db, holder, ttlMs } = at
  const lose = (reason: string, gone = true) =>
    Ref.update(state, (h) => ({ ...h, lost: Option.some(reason), gone })).pipe(
      Effect.zipRight(
        Effect.logError(`${db}: lease lost (${reason}): stopping this database; its checkpoint stays`).pipe(
          Effect.annotateLogs({ db, holder }),
        ),
      ),
    )
  /** One renewal: done (renewed or lost), or a failure to try again. */
  const renewOnce = Effect.gen(function* () {
    const held = yield* Ref.get(state)
    const now = yield* Clock.currentTimeMillis
    const body = (rev: string) => leaseBody({ db, holder, acquiredAt: held.acquiredAt, now, ttlMs, rev })
    let put = yield* store.put(db, body(held.rev))
    if (Either.isLeft(put) && put.left === "conflict") {
      // Ours with a newer rev (a renewal whose answer was lost) is still ours; anyone else's is not.
      const current = yield* store.get(db)
      if (Option.isNone(current)) return yield* lose("its lease document was deleted")
      if (current.value.holder !== holder) return yield* lose(`taken by ${current.value.holder}`)
      put = yield* store.put(db, body(current.value._rev))
    }
    if (Either.isLeft(put)) {
      return yield* lose(
        put.left === "no-database" ? `the ${leasesDb} database was deleted` : "it changed under this purger",
      )
    }
    const rev = put.right
    yield* Ref.update(state, (h) => ({ ...h, rev, writtenAt: now }))
  })
  const gap = Duration.millis(Math.max(1, Math.floor(ttlMs / 3)))
  const retryGap = Duration.millis(Math.max(1, Math.min(1000, Math.floor(ttlMs / 10))))
  /** Renews, trying again after a failure until the lease is no longer trusted. */
  const renew: Effect.Effect<void> = Effect.gen(function* () {
    const held = yield* Ref.get(state)
    const left = trustedUntil(held.writtenAt, ttlMs) - (yield* Clock.currentTimeMillis)
    if (left <= 0) return yield* lose("it could not be renewed in time", false)
    const result = yield* renewOnce.pipe(Effect.timeout(Duration.millis(left)), Effect.either)
    if (Either.isRight(result)) return
    yield* Effect.logWarning(`${db}: could not renew the lease yet: ${result.left.message.split("\n")[0]}`)
    yield* Effect.sleep(retryGap)
    return yield* renew
  })
  return Effect.sleep(gap).pipe(
    Effect.zipRight(renew),
    Effect.zipRight(Ref.get(state)),
    Effect.repeat({ until: (h) => Option.isSome(h.lost) }),
    Effect.asVoid,
  )
}

/**
 * Gives the lease back (DELETE with its rev; a 409 means it is no longer this rev). A lease another
 * purger took, or that was deleted, is left alone; one that could not be renewed in time is given
 * back if it is still this purger's. Never fails.
 */
const release = (store: LeaseStore, state: Ref.Ref<Holding>, db: string, holder: string) =>
  Effect.gen(function* () {
    const held = yield* Ref.get(state)
    if (held.gone) return
    if (yield* store.remove(db, held.rev)) return
    // A renewal cut short may have written a newer rev: delete it if the lease is still ours.
    const current = yield* store.get(db)
    if (Option.isSome(current) && current.value.holder === holder) yield* store.remove(db, current.value._rev)
  }).pipe(
    Effect.timeout(Duration.seconds(10)),
    Effect.catchAll((e) =>
      Effect.logWarning(
        `${db}: could not release the lease (${e.message.split("\n")[0]}); it expires by itself after the TTL`,
      ),
    ),
  )

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
