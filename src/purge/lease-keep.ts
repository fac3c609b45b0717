import { Clock, Duration, Effect, Either, Option, Ref } from "effect"
import type { CouchError } from "../couch/errors.ts"
import { decideLease, leaseBody, leaseDocId, leasesDb, trustedUntil } from "./lease-doc.ts"
import { LeaseStoreError } from "./lease-errors.ts"
import type { LeaseStore } from "./lease-store.ts"

/**
 * Holding one lease: taking it (a PUT, then read and decide on a 409), keeping it (a PUT with its
 * rev every TTL/3) and giving it back (DELETE with its rev). lease.ts puts them around a purge.
 */

/** A database another purger is working on: who, and until when its lease runs. */
export interface HeldElsewhere {
  readonly holder: string
  readonly expiresAt: string
  /** Where the lease is, for an operator who has to clear it by hand. */
  readonly lease: string
}

export type LeaseError = LeaseStoreError | CouchError

/** What this purger knows of a lease it holds. */
export interface Holding {
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
export const take = Effect.fn("Purge.lease.take")(function* (
  store: LeaseStore,
  ensureDb: Effect.Effect<void, LeaseError>,
  at: {
    readonly server: string
    readonly db: string
    readonly holder: string
    readonly ttlMs: number
    readonly where: string
    /** The rev of this purger's own lease taken earlier (renewed by the first PUT). */
    readonly rev?: string
  },
) {
  const { db, holder, ttlMs } = at
  // The first PUT goes without a rev: a lease never taken, or released (deleted), is free, and
  // that is the usual case. A 409 says there is a lease: read it and decide.
  let rev: string | undefined = at.rev
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
export const renewLoop = (
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
export const release = (store: LeaseStore, state: Ref.Ref<Holding>, db: string, holder: string) =>
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
