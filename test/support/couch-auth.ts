// Who may do what on the CouchDB-API test server: accounts (config admins, configured users and
// `_users` documents), the login lockout, and databases' `_security` objects. Behaviour follows
// apache/couchdb 3.5.0 (couch_httpd_auth, couch_auth_lockout, couch_users_db, couch_db security
// checks) and COUCHDB-FACTS §11. https://docs.couchdb.org/en/stable/intro/security.html
import { createHash, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto"
import { type Body, type DocInput, fail, isObject } from "./couch-revs.ts"

export interface Principal {
  name: string | null
  roles: string[]
  /** a server admin (role `_admin`) */
  admin: boolean
  via?: "cookie" | "default"
}
export interface Account {
  name: string
  roles: string[]
  /** part of the lockout key and of the cookie key: a new password means a new salt */
  salt: string
  check(password: string): boolean
}
export const principalOf = (a: Account, via?: Principal["via"]): Principal => ({
  name: a.name,
  roles: a.roles,
  admin: a.roles.includes("_admin"),
  ...(via ? { via } : {}),
})

// --- lockout (couch_auth_lockout, [chttpd_auth_lockout]) ------------------------------------------
export const LOCKOUT_REASON = "Account is temporarily locked due to multiple authentication failures"
export interface LockoutOptions {
  /** "enforce" (default) answers 403 while locked; "off" never locks */
  mode?: "enforce" | "off"
  /** failures after which the account is locked (default 5, [chttpd_auth_lockout] threshold) */
  threshold?: number
  /** how long failures are remembered, from the first one (default 300 s, max_lifetime) */
  durationMs?: number
}
/**
 * Failures are counted per client address + user name + that user's salt; once `threshold` are
 * counted, every login of that user from that address is refused, even with the right password,
 * until `durationMs` after the first failure. Other users and addresses are unaffected.
 */
export class Lockout {
  private readonly failures = new Map<string, { count: number; first: number }>()
  private readonly threshold: number
  private readonly durationMs: number
  private readonly off: boolean
  constructor(o: LockoutOptions = {}) {
    this.threshold = o.threshold ?? 5
    this.durationMs = o.durationMs ?? 300_000
    this.off = o.mode === "off"
  }
  private entry(key: string, now: number) {
    const e = this.failures.get(key)
    if (e && now - e.first >= this.durationMs) {
      this.failures.delete(key)
      return undefined
    }
    return e
  }
  /** Throws the 403 while the user is locked out from this address. */
  check(peer: string, name: string, salt: string): void {
    if (this.off) return
    const e = this.entry(`${peer}\0${name}\0${salt}`, Date.now())
    if (e && e.count >= this.threshold) fail(403, "forbidden", LOCKOUT_REASON)
  }
  failed(peer: string, name: string, salt: string): void {
    if (this.off) return
    const key = `${peer}\0${name}\0${salt}`
    const now = Date.now()
    const e = this.entry(key, now)
    if (e) e.count++
    else this.failures.set(key, { count: 1, first: now })
  }
}

/** A plain-text account (a config admin or a configured user), with a salt of its own. */
export const plainAccount = (name: string, password: string, roles: string[]): Account => ({
  name,
  roles,
  salt: randomBytes(16).toString("hex"),
  check: (p) => p === password,
})

// --- the _users database (couch_users_db, the _auth design doc's validate_doc_update) -----------
export const USER_PREFIX = "org.couchdb.user:"
// CouchDB 3.5 hashes with pbkdf2/sha256 and 600,000 iterations ([chttpd_auth] iterations); the
// test server uses far fewer so that logins stay fast. Only the stored `iterations` shows it.
const ITERATIONS = 1000
const PASSWORD_FIELDS = ["derived_key", "iterations", "password", "password_scheme", "password_sha"]
PASSWORD_FIELDS.push("preserve_salt", "pbkdf2_prf", "salt")

const forbidden = (reason: string): never => fail(403, "forbidden", reason)
/**
 * Validates a write to `_users` as its `_design/_auth` validate_doc_update does, then replaces a
 * clear-text `password` by its pbkdf2 hash, as couch_users_db:before_doc_update does.
 */
export const userDocUpdate = (
  id: string,
  input: DocInput,
  old: Body | undefined,
  user: Principal,
): DocInput => {
  if (id.startsWith("_design/")) return input
  const doc = input.body
  if (input.deleted) {
    if (user.admin || (old && user.name === old.name)) return input
    return forbidden("Only admins may delete other user docs.")
  }
  if (doc.type !== "user") forbidden("doc.type must be user")
  if (!doc.name) forbidden("doc.name is required")
  if (!doc.roles) forbidden("doc.roles must exist")
  if (!Array.isArray(doc.roles)) forbidden("doc.roles must be an array")
  if (!(doc.roles as unknown[]).every((r) => typeof r === "string"))
    forbidden("doc.roles can only contain strings")
  if (id !== `${USER_PREFIX}${doc.name}`) forbidden("Doc ID must be of the form org.couchdb.user:name")
  if (old && old.name !== doc.name) forbidden("Usernames can not be changed.")
  if (doc.password === undefined || doc.password === null) return input
  const salt = randomBytes(16).toString("hex")
  const derived = pbkdf2Sync(String(doc.password), salt, ITERATIONS, 20, "sha256").toString("hex")
  const rest = Object.fromEntries(Object.entries(doc).filter(([k]) => !PASSWORD_FIELDS.includes(k)))
  const hashed = { password_scheme: "pbkdf2", pbkdf2_prf: "sha256", salt, iterations: ITERATIONS }
  return { ...input, body: { ...hashed, derived_key: derived, ...rest } }
}

const same = (a: string, b: string): boolean =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
/** The account a live `_users` document describes (couch_httpd_auth:authenticate_int), if usable. */
export const userDocAccount = (name: string, doc: Body): Account | undefined => {
  const { salt, derived_key: key, password_sha: sha, iterations, pbkdf2_prf: prf } = doc
  const roles = Array.isArray(doc.roles) ? doc.roles.filter((r): r is string => typeof r === "string") : []
  if (typeof salt !== "string") return undefined
  if (doc.password_scheme === "pbkdf2" && typeof key === "string" && typeof iterations === "number") {
    const digest = typeof prf === "string" ? prf : "sha1"
    const check = (p: string) =>
      same(pbkdf2Sync(p, salt, iterations, key.length / 2, digest).toString("hex"), key)
    return { name, roles, salt, check }
  }
  if (typeof sha === "string") {
    const check = (p: string) =>
      same(
        createHash("sha1")
          .update(p + salt)
          .digest("hex"),
        sha,
      )
    return { name, roles, salt, check }
  }
  return undefined
}

// --- _security (couch_db:is_member / is_admin, chttpd_auth_request) -----------------------------
/** A new database's `_security` in 3.x ([couchdb] default_security = admin_only), plus member names. */
export const defaultSecurity = (memberNames: readonly string[] = []): Body => ({
  members: { roles: ["_admin"], ...(memberNames.length ? { names: [...memberNames] } : {}) },
  admins: { roles: ["_admin"] },
})
const part = (sec: Body, key: "members" | "admins"): { names: unknown[]; roles: unknown[] } => {
  const p = key === "members" ? (sec.members ?? sec.readers) : sec.admins
  const o = isObject(p) ? p : {}
  return {
    names: Array.isArray(o.names) ? o.names : [],
    roles: Array.isArray(o.roles) ? o.roles : [],
  }
}
const authorized = (u: Principal, p: { names: unknown[]; roles: unknown[] }): boolean =>
  u.roles.some((r) => r === "_admin" || p.roles.includes(r)) || (u.name !== null && p.names.includes(u.name))

export const isDbAdmin = (u: Principal, sec: Body): boolean => authorized(u, part(sec, "admins"))
export const isMember = (u: Principal, sec: Body): boolean => {
  if (isDbAdmin(u, sec)) return true
  const m = part(sec, "members")
  return (m.names.length === 0 && m.roles.length === 0) || authorized(u, m)
}
/** couch_db:throw_security_error: 401 for an anonymous request, 403 for a named user. */
export const securityError = (u: Principal, reason?: string): never =>
  u.name === null
    ? fail(401, "unauthorized", reason ?? "You are not authorized to access this db.")
    : fail(403, "forbidden", reason ?? "You are not allowed to access this db.")
