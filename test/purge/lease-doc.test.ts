/** The lease as data: the decision a purger makes on what it read, the document id and body. */
import { describe, expect, test } from "bun:test"
import { Option } from "effect"
import { decideLease, leaseBody, leaseDocId, leaseDocPath, trustedUntil } from "../../src/purge/lease-doc.ts"

const me = "host-a:100:aaaa1111"
const other = "host-b:200:bbbb2222"
const now = Date.parse("2026-12-07T10:00:00.000Z")
const lease = (holder: string, expiresAt: string) =>
  Option.some({ _rev: "3-abc", holder, expires_at: expiresAt })

describe("decideLease", () => {
  test("free: no lease document (never taken, or released)", () => {
    expect(decideLease(Option.none(), now, me)).toEqual({ _tag: "Free" })
  })

  test("expired: another holder's lease past its expiry is taken over with its rev", () => {
    expect(decideLease(lease(other, "2026-12-07T09:59:59.999Z"), now, me)).toEqual({
      _tag: "Expired",
      rev: "3-abc",
      holder: other,
    })
    // At the expiry itself it is over.
    expect(decideLease(lease(other, "2026-12-07T10:00:00.000Z"), now, me)._tag).toBe("Expired")
  })

  test("own: this purger's live lease (left by an earlier run of this process) is taken over", () => {
    expect(decideLease(lease(me, "2026-12-07T10:01:00.000Z"), now, me)).toEqual({ _tag: "Own", rev: "3-abc" })
  })

  test("held: another holder's live lease leaves the database alone, with who and until when", () => {
    expect(decideLease(lease(other, "2026-12-07T10:00:00.001Z"), now, me)).toEqual({
      _tag: "Held",
      holder: other,
      expiresAt: "2026-12-07T10:00:00.001Z",
    })
  })

  test("an expiry that cannot be read counts as expired: a damaged lease does not block for ever", () => {
    expect(decideLease(lease(other, "not a date"), now, me)._tag).toBe("Expired")
    expect(decideLease(lease(other, ""), now, me)._tag).toBe("Expired")
  })
})

describe("the lease document", () => {
  test("its id keeps the database name readable, and its path encodes every character a name may hold", () => {
    const db = "a/b+c$d(e)f-g_h"
    expect(leaseDocId(db)).toBe("purge:a/b+c$d(e)f-g_h")
    expect(leaseDocPath(db)).toBe("/dbsweep_leases/purge%3Aa%2Fb%2Bc%24d(e)f-g_h")
    expect(decodeURIComponent(leaseDocPath(db).split("/")[2]!)).toBe(leaseDocId(db))
    // A system database's lease does not start with the reserved underscore.
    expect(leaseDocId("_users").startsWith("_")).toBe(false)
  })

  test("the body: holder, database, acquired, renewed and expiry (holder's clock + TTL); _rev only to replace", () => {
    const acquiredAt = now - 60_000
    expect(leaseBody({ db: "x", holder: me, acquiredAt, now, ttlMs: 120_000, rev: undefined })).toEqual({
      type: "dbsweep purge lease",
      holder: me,
      db: "x",
      acquired_at: "2026-12-07T09:59:00.000Z",
      renewed_at: "2026-12-07T10:00:00.000Z",
      expires_at: "2026-12-07T10:02:00.000Z",
      ttl_ms: 120_000,
    })
    expect(leaseBody({ db: "x", holder: me, acquiredAt, now, ttlMs: 1000, rev: "2-x" })._rev).toBe("2-x")
  })

  test("the holder trusts its lease until a fifth of the TTL before the expiry it wrote", () => {
    expect(trustedUntil(now, 120_000)).toBe(now + 96_000)
    expect(trustedUntil(now, 1000)).toBe(now + 800)
  })
})
