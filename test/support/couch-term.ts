// CouchDB's revision ids, byte for byte: couch_db:new_revid hashes
//   md5(term_to_binary([Deleted, OldStart, OldRev, Body, Atts], [{minor_version, 1}]))
// where Body is the document's EJSON without its `_` members (apache/couchdb 3.5.0,
// src/couch/src/couch_db.erl). Checked against COUCHDB-FACTS §2: `{"v":1}` is
// `1-7a7e4b29f3af401e69b6f86e4c26b727` for any id. Limits: JSON.parse cannot tell `1.0` from `1`
// (jiffy decodes the first as a float) and moves integer-like keys first, so such bodies hash differently.
import { createHash } from "node:crypto"

// External term format tags (erts/emulator/beam/external.h).
const SMALL_INTEGER = 97
const INTEGER = 98
const FLOAT = 70
const ATOM = 100 // minor_version 1 keeps latin-1 atoms as ATOM_EXT
const SMALL_TUPLE = 104
const NIL = 106
const STRING = 107
const LIST = 108
const BINARY = 109
const SMALL_BIG = 110

class Out {
  private buf = Buffer.alloc(256)
  private len = 0
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }
  byte(b: number): void {
    this.room(1)
    this.buf[this.len++] = b
  }
  u16(n: number): void {
    this.room(2)
    this.len = this.buf.writeUInt16BE(n, this.len)
  }
  u32(n: number): void {
    this.room(4)
    this.len = this.buf.writeUInt32BE(n, this.len)
  }
  i32(n: number): void {
    this.room(4)
    this.len = this.buf.writeInt32BE(n, this.len)
  }
  f64(n: number): void {
    this.room(8)
    this.len = this.buf.writeDoubleBE(n, this.len)
  }
  bytes(b: Uint8Array): void {
    this.room(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }
  done(): Buffer {
    return this.buf.subarray(0, this.len)
  }
}

const atom = (o: Out, name: string): void => {
  o.byte(ATOM)
  o.u16(name.length)
  o.bytes(Buffer.from(name, "latin1"))
}
const binary = (o: Out, b: Uint8Array): void => {
  o.byte(BINARY)
  o.u32(b.length)
  o.bytes(b)
}
const integer = (o: Out, n: number): void => {
  if (n >= 0 && n <= 255) {
    o.byte(SMALL_INTEGER)
    o.byte(n)
  } else if (n >= -(2 ** 31) && n < 2 ** 31) {
    o.byte(INTEGER)
    o.i32(n)
  } else {
    let m = BigInt(Math.abs(n))
    const digits: number[] = []
    while (m > 0n) {
      digits.push(Number(m & 0xffn))
      m >>= 8n
    }
    o.byte(SMALL_BIG)
    o.byte(digits.length)
    o.byte(n < 0 ? 1 : 0)
    o.bytes(Uint8Array.from(digits))
  }
}
/** A JSON value as jiffy decodes it: objects `{[{K, V}]}`, strings binaries, arrays lists. */
const ejson = (o: Out, v: unknown): void => {
  if (v === null || v === true || v === false) atom(o, String(v))
  else if (typeof v === "number") {
    if (Number.isInteger(v)) integer(o, v)
    else {
      o.byte(FLOAT)
      o.f64(v)
    }
  } else if (typeof v === "string") binary(o, Buffer.from(v, "utf8"))
  else if (Array.isArray(v)) list(o, v)
  else {
    const entries = Object.entries(v as Record<string, unknown>)
    o.byte(SMALL_TUPLE)
    o.byte(1)
    if (entries.length === 0) o.byte(NIL)
    else {
      o.byte(LIST)
      o.u32(entries.length)
      for (const [k, x] of entries) {
        o.byte(SMALL_TUPLE)
        o.byte(2)
        binary(o, Buffer.from(k, "utf8"))
        ejson(o, x)
      }
      o.byte(NIL)
    }
  }
}
const list = (o: Out, v: unknown[]): void => {
  if (v.length === 0) o.byte(NIL)
  else if (
    v.length < 65536 &&
    v.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 255)
  ) {
    // A list of bytes is a "string" to term_to_binary.
    o.byte(STRING)
    o.u16(v.length)
    o.bytes(Uint8Array.from(v as number[]))
  } else {
    o.byte(LIST)
    o.u32(v.length)
    for (const x of v) ejson(o, x)
    o.byte(NIL)
  }
}

/** A rev id as CouchDB holds it: 32 hex digits become 16 bytes (couch_doc:parse_revid), else the text. */
export const revIdBytes = (hash: string): Uint8Array =>
  /^[0-9a-fA-F]{32}$/.test(hash) ? Buffer.from(hash, "hex") : Buffer.from(hash, "utf8")

/** The new rev id of an interactive edit; `parent` is the edited leaf (none for a new document). */
export const newRevId = (
  deleted: boolean,
  parent: { pos: number; hash: string } | undefined,
  body: Record<string, unknown>,
): string => {
  const o = new Out()
  o.byte(131)
  o.byte(LIST)
  o.u32(5)
  atom(o, String(deleted))
  integer(o, parent ? parent.pos : 0)
  if (parent) binary(o, revIdBytes(parent.hash))
  else integer(o, 0)
  ejson(o, body)
  o.byte(NIL) // no attachments
  o.byte(NIL)
  return createHash("md5").update(o.done()).digest("hex")
}
