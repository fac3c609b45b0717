import { createHash } from "node:crypto"
import { Effect, Either } from "effect"
import { checkDatabaseName } from "../couch/names.ts"
import { InvalidCollection } from "./errors.ts"
import type { Doc, SaveResult } from "./store.ts"

/**
 * One collection held in memory with CouchDB's revision semantics (a linear history per id, no
 * conflict branches): what the memory and file adapters share, so one conformance suite means the
 * same for every adapter. Revs are `N-<md5 of parent rev and body>` like CouchDB's
 * (COUCHDB-FACTS §2: the hash is f(body, parent), not the id).
 */
export interface Entry {
  /** None for a document read from a file line without `_rev`: it has no revision yet. */
  readonly rev: string | undefined
  readonly deleted: boolean
  readonly body: Readonly<Record<string, unknown>>
}

export type Table = Map<string, Entry>

/** The application's fields only: CouchDB's `_id`, `_rev`, `_revisions`, `_deleted` are the store's. */
export const bodyOf = (doc: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const { _id, _rev, _revisions, _deleted, ...body } = doc
  return body
}

const generation = (rev: string | undefined): number => (rev === undefined ? 0 : Number.parseInt(rev, 10))

export const nextRev = (parent: string | undefined, deleted: boolean, body: unknown): string =>
  `${generation(parent) + 1}-${createHash("md5")
    .update(JSON.stringify([parent ?? null, deleted, body]))
    .digest("hex")}`

/** Writes a new revision over whatever is current (the port's `save`: the store looks the rev up). */
export const writeCurrent = (table: Table, id: string, body: Record<string, unknown>, deleted = false) => {
  const current = table.get(id)
  const rev = nextRev(current?.rev, deleted, body)
  table.set(id, { rev, deleted, body: deleted ? {} : body })
  return rev
}

/**
 * A `_bulk_docs` element (COUCHDB-FACTS §3): `_rev` must name the current revision; without one a
 * live document is a conflict, a deleted or missing one is (re)created. A document that has no
 * revision yet (a file line without `_rev`) is written over without one, as `docs put` would.
 */
export const writeChecked = (table: Table, doc: Doc): SaveResult => {
  const current = table.get(doc._id)
  const conflict =
    doc._rev === undefined
      ? current !== undefined && !current.deleted && current.rev !== undefined
      : current?.rev !== doc._rev
  if (conflict) return { id: doc._id, ok: false, error: "conflict", reason: "Document update conflict." }
  return { id: doc._id, ok: true, rev: writeCurrent(table, doc._id, bodyOf(doc), doc._deleted === true) }
}

/**
 * A replicated write (`new_edits: false`): the doc's own rev is kept. With one linear history per
 * id, the higher generation wins, as CouchDB's winner would.
 */
export const writeReplicated = (table: Table, doc: Doc): SaveResult => {
  const rev = doc._rev
  if (rev === undefined) return writeChecked(table, doc)
  const current = table.get(doc._id)
  if (current === undefined || generation(rev) >= generation(current.rev)) {
    const deleted = doc._deleted === true
    table.set(doc._id, { rev, deleted, body: deleted ? {} : bodyOf(doc) })
  }
  return { id: doc._id, ok: true, rev }
}

export const tombstoneOf = (id: string, entry: Entry): Doc =>
  entry.rev === undefined ? { _id: id, _deleted: true } : { _id: id, _rev: entry.rev, _deleted: true }

/** The document as the store hands it out: `_id`, `_rev` (when it has one), then the application's fields. */
export const docOf = (id: string, entry: Entry): Doc =>
  entry.rev === undefined ? { _id: id, ...entry.body } : { _id: id, _rev: entry.rev, ...entry.body }

/**
 * Raw code point order (COUCHDB-FACTS §4: `- 1 A B _design/x a b ~ é`), i.e. UTF-8 byte order;
 * JavaScript's `<` compares UTF-16 units, which puts astral characters too low.
 */
export const codePointOrder = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      if (x < 0xd800 || y < 0xd800) return x - y
      const lift = (u: number): number => (u <= 0xdfff ? u + 0x2000 : u - 0x800)
      return lift(x) - lift(y)
    }
  }
  return a.length - b.length
}

/** Live ids but `_design/` ones, in CouchDB's `_all_docs` order. */
export const listedIds = (table: Table): Array<string> =>
  [...table.entries()]
    .filter(([id, e]) => !e.deleted && !id.startsWith("_design/"))
    .map(([id]) => id)
    .sort(codePointOrder)

/** Fails with InvalidCollection (CouchDB's rule in the message) before any work. */
export const checkCollection = (collection: string): Effect.Effect<string, InvalidCollection> =>
  Either.isRight(checkDatabaseName(collection))
    ? Effect.succeed(collection)
    : Effect.fail(new InvalidCollection({ collection }))
