import { Option, Schema } from "effect"

/**
 * The lease that keeps one purger per database across hosts, as data: where it lives, what it
 * holds, and the one decision a purger makes on reading it. No I/O here (see lease.ts).
 *
 * A lease is a normal document, not a `_local` one: a `_local` doc has no revision check on
 * CouchDB (any PUT wins, COUCHDB-FACTS §8), while a normal document's PUT with a stale or missing
 * `_rev` is a 409 (§2). That 409 is the compare-and-set.
 */

/** The database that holds the leases, one document per purged database. */
export const leasesDb = "dbsweep_leases"

/**
 * The lease document's id for a database: `purge:<name>`. A name may hold `/ + $ ( ) - _`; the id
 * keeps them as they are (readable for an operator who deletes a stuck lease) and the URL path
 * percent-encodes it, `/` as `%2F` (checked on CouchDB 3.5: `purge:a/b+c$d(e)f-g_h` round-trips).
 * The prefix keeps ids off the reserved leading underscore (`_users` is purgeable by name).
 */
export const leaseDocId = (db: string) => `purge:${db}`

/** The path of a database's lease document, relative to the server. */
export const leaseDocPath = (db: string) =>
  `/${encodeURIComponent(leasesDb)}/${encodeURIComponent(leaseDocId(db))}`

/**
 * A lease as stored. Times are ISO strings from the holder's own clock: `expires_at` is the
 * holder's clock plus the TTL when it last wrote, and another purger compares it with its own
 * clock, so hosts' clocks must agree to well within the TTL (NTP does; the default TTL is 2 min).
 */
export const LeaseDoc = Schema.Struct({
  _id: Schema.String,
  _rev: Schema.String,
  holder: Schema.String,
  db: Schema.optional(Schema.String),
  acquired_at: Schema.optional(Schema.String),
  renewed_at: Schema.optional(Schema.String),
  expires_at: Schema.String,
  ttl_ms: Schema.optional(Schema.Number),
})
export type LeaseDoc = typeof LeaseDoc.Type

/** The body a holder writes: on taking (`acquiredAt` = now) and on each renewal. */
export const leaseBody = (lease: {
  readonly db: string
  readonly holder: string
  readonly acquiredAt: number
  readonly now: number
  readonly ttlMs: number
  readonly rev: string | undefined
}): Record<string, unknown> => ({
  ...(lease.rev === undefined ? {} : { _rev: lease.rev }),
  type: "dbsweep purge lease",
  holder: lease.holder,
  db: lease.db,
  acquired_at: new Date(lease.acquiredAt).toISOString(),
  renewed_at: new Date(lease.now).toISOString(),
  expires_at: new Date(lease.now + lease.ttlMs).toISOString(),
  ttl_ms: lease.ttlMs,
})

/** What a purger may do about a database's lease, given what it read. */
export type LeaseDecision =
  /** No lease (never taken, or released): take it with a PUT without `_rev`. */
  | { readonly _tag: "Free" }
  /** A lease whose holder stopped renewing it: take it over with a PUT of its `_rev`. */
  | { readonly _tag: "Expired"; readonly rev: string; readonly holder: string }
  /** This purger's own lease, left by an earlier run of this process: take it over the same way. */
  | { readonly _tag: "Own"; readonly rev: string }
  /** Another purger's live lease: leave the database alone. */
  | { readonly _tag: "Held"; readonly holder: string; readonly expiresAt: string }

/**
 * The decision, from the lease as read (none: missing or deleted), this purger's clock and name.
 * A lease whose expiry cannot be read is treated as expired: a damaged document must not block a
 * database for ever. Expired wins over own: either way it is taken over.
 */
export const decideLease = (
  current: Option.Option<Pick<LeaseDoc, "_rev" | "holder" | "expires_at">>,
  now: number,
  me: string,
): LeaseDecision => {
  if (Option.isNone(current)) return { _tag: "Free" }
  const lease = current.value
  const expiresAt = Date.parse(lease.expires_at)
  if (!(now < expiresAt)) return { _tag: "Expired", rev: lease._rev, holder: lease.holder }
  if (lease.holder === me) return { _tag: "Own", rev: lease._rev }
  return { _tag: "Held", holder: lease.holder, expiresAt: lease.expires_at }
}

/**
 * Until when the holder trusts its lease: the expiry it last wrote less a margin (a fifth of the
 * TTL), so it stops writing before any other purger could see the lease as expired, even with a
 * clock a little ahead.
 */
export const trustedUntil = (writtenAt: number, ttlMs: number) => writtenAt + ttlMs - Math.floor(ttlMs / 5)
