import { Either, Schema } from "effect"
import { shapeMismatch } from "./answer.ts"
import type { ChangeRow, ChangesPage, PurgeAnswer, PurgeOutcome } from "./schema.ts"

/**
 * How an answer's JSON becomes a value: a Schema for most answers, and for the two a purge sends
 * thousands of (a `_changes` page, a `_purge` answer) one strict hand check each, which accepts
 * exactly what their Schema accepts and refuses the rest with the same one-line reason
 * (test/couch/decode.test.ts holds each beside its Schema). A Schema decode of a 10,000-row page
 * costs several times its `JSON.parse`; this check costs a fraction of it.
 */
export type Decoder<A> = (json: unknown) => Either.Either<A, string>

/** A Schema as a decoder, its failure the one line `shapeMismatch` gives. */
export const schemaDecoder = <A, I>(schema: Schema.Schema<A, I>): Decoder<A> => {
  const decode = Schema.decodeUnknownEither(schema)
  return (json) => Either.mapLeft(decode(json), shapeMismatch)
}

/** The reason a field is wrong, in `shapeMismatch`'s words. */
const wrong = (path: string) => `field ${path} does not have the expected form`
const missing = (path: string) => `field ${path} is missing`

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** A seq: a string (CouchDB 2+) or a number (1.x), kept as a string. */
const seqOf = (u: unknown): string | undefined =>
  typeof u === "string" ? u : typeof u === "number" ? String(u) : undefined

class Refused {
  constructor(readonly reason: string) {}
}

/** Where in a page row `i`'s `field` is: written out only for a reason, not for every row. */
const rowAt = (i: number, field = "") => `results[${i}]${field}`

/** Where in a `_purge` answer the outcome for document `id` is (`index` into its revs). */
const outcomeAt = (id: string, index = "") => `purged.${id}${index}`

/** Row `i` of a page. */
const rowOf = (u: unknown, i: number): ChangeRow => {
  if (!isRecord(u)) throw new Refused(wrong(rowAt(i)))
  if (!("seq" in u)) throw new Refused(missing(rowAt(i, ".seq")))
  const seq = u.seq === null ? null : seqOf(u.seq)
  if (seq === undefined) throw new Refused(wrong(rowAt(i, ".seq")))
  if (!("id" in u)) throw new Refused(missing(rowAt(i, ".id")))
  if (typeof u.id !== "string") throw new Refused(wrong(rowAt(i, ".id")))
  if (!("changes" in u)) throw new Refused(missing(rowAt(i, ".changes")))
  const changes = u.changes
  if (!Array.isArray(changes)) throw new Refused(wrong(rowAt(i, ".changes")))
  const revs: Array<{ readonly rev: string }> = new Array(changes.length)
  for (let c = 0; c < changes.length; c++) {
    const change: unknown = changes[c]
    if (!isRecord(change)) throw new Refused(wrong(rowAt(i, `.changes[${c}]`)))
    if (!("rev" in change)) throw new Refused(missing(rowAt(i, `.changes[${c}].rev`)))
    if (typeof change.rev !== "string") throw new Refused(wrong(rowAt(i, `.changes[${c}].rev`)))
    revs[c] = { rev: change.rev }
  }
  const deleted = u.deleted
  if (deleted !== undefined && typeof deleted !== "boolean") throw new Refused(wrong(rowAt(i, ".deleted")))
  return deleted === undefined ? { seq, id: u.id, changes: revs } : { seq, id: u.id, changes: revs, deleted }
}

const pageOf = (json: unknown): ChangesPage => {
  if (!isRecord(json)) throw new Refused("the answer does not have the expected form")
  if (!("results" in json)) throw new Refused(missing("results"))
  const rows = json.results
  if (!Array.isArray(rows)) throw new Refused(wrong("results"))
  const results: Array<ChangeRow> = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) results[i] = rowOf(rows[i], i)
  if (!("last_seq" in json)) throw new Refused(missing("last_seq"))
  const last_seq = seqOf(json.last_seq)
  if (last_seq === undefined) throw new Refused(wrong("last_seq"))
  const pending = json.pending
  if (pending !== undefined && typeof pending !== "number") throw new Refused(wrong("pending"))
  return pending === undefined ? { results, last_seq } : { results, last_seq, pending }
}

/** The outcome for document `id`. */
const outcomeOf = (u: unknown, id: string): PurgeOutcome => {
  if (Array.isArray(u)) {
    const revs: Array<string> = new Array(u.length)
    for (let i = 0; i < u.length; i++) {
      const rev: unknown = u[i]
      if (typeof rev !== "string") throw new Refused(wrong(outcomeAt(id, `[${i}]`)))
      revs[i] = rev
    }
    return revs
  }
  if (!isRecord(u) || typeof u.error !== "string") throw new Refused(wrong(outcomeAt(id)))
  const reason = u.reason
  if (reason !== undefined && typeof reason !== "string") throw new Refused(wrong(outcomeAt(id)))
  return reason === undefined ? { error: u.error } : { error: u.error, reason }
}

const purgeAnswerOf = (json: unknown): PurgeAnswer => {
  if (!isRecord(json)) throw new Refused("the answer does not have the expected form")
  const purgeSeq = json.purge_seq
  if (
    purgeSeq !== undefined &&
    purgeSeq !== null &&
    typeof purgeSeq !== "string" &&
    typeof purgeSeq !== "number"
  ) {
    throw new Refused(wrong("purge_seq"))
  }
  if (!("purged" in json)) throw new Refused(missing("purged"))
  const answer = json.purged
  if (!isRecord(answer)) throw new Refused(wrong("purged"))
  const purged: Record<string, PurgeOutcome> = {}
  for (const id of Object.keys(answer)) purged[id] = outcomeOf(answer[id], id)
  return purgeSeq === undefined ? { purged } : { purge_seq: purgeSeq, purged }
}

const checked =
  <A>(check: (json: unknown) => A): Decoder<A> =>
  (json) => {
    try {
      return Either.right(check(json))
    } catch (e) {
      if (e instanceof Refused) return Either.left(e.reason)
      throw e
    }
  }

/** A `_changes` page (`style=all_docs`), as strict as the `ChangesPage` Schema. */
export const decodeChangesPage: Decoder<ChangesPage> = checked(pageOf)

/** A `_purge` answer, as strict as the `PurgeAnswer` Schema. */
export const decodePurgeAnswer: Decoder<PurgeAnswer> = checked(purgeAnswerOf)
