// The by-seq side of a database as a clustered CouchDB 3.x (q=2, n=1) shows it, so that no test can
// lean on an order real CouchDB does not promise. COUCHDB-FACTS §6: each shard keeps its own update
// seq and streams its changes in order; the coordinator interleaves the two streams as they arrive,
// differently from call to call. A row's seq packs every shard's position reached so far in that
// answer (its prefix is their sum), so `since=<row seq>` resumes exactly after the row and paging
// sees every doc once. https://docs.couchdb.org/en/stable/api/database/changes.html

/** Shards per database (the facts' server ran q=2). */
export const Q = 2
export type SeqVector = readonly number[]

/** The shard of a doc id: the top bit of its crc32, like mem3_hash's two ranges (not byte-identical). */
export const shardOf = (id: string): number => (Bun.hash.crc32(id) >>> 0 >= 0x80000000 ? 1 : 0)

// Opaque seqs look like CouchDB's ("474-g1AAAA..."). The blob carries the per-shard seqs and a
// check derived from them, so only well-formed seqs parse (anything else is a 400, facts §6).
const mix = (x: number): number => {
  let h = Math.imul(x ^ (x >>> 16), 0x45d9f3b)
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b)
  return (h ^ (h >>> 16)) >>> 0
}
const BLOB = 6 * Q + 12
export const encodeSeq = (v: SeqVector): string => {
  const b = Buffer.allocUnsafe(BLOB)
  let h = 0x9e37
  let sum = 0
  for (let k = 0; k < Q; k++) {
    const n = v[k] ?? 0
    sum += n
    b.writeUInt16BE(Math.floor(n / 0x100000000) & 0xffff, 6 * k)
    b.writeUInt32BE(n >>> 0, 6 * k + 2)
    h = mix(h ^ (n >>> 0) ^ (k << 24))
  }
  for (let i = 6 * Q; i < BLOB; i += 4) {
    h = mix(h + i)
    b.writeUInt32BE(h, i)
  }
  return `${sum}-g1AAAA${b.toString("base64url")}`
}
/** The per-shard seqs of a seq string, or undefined when it is not one ("0" is the start). */
export const decodeSeq = (s: string): number[] | undefined => {
  if (s === "0") return Array.from({ length: Q }, () => 0)
  const blob = /^\d+-g1AAAA([\w-]+)$/.exec(s)?.[1]
  if (blob === undefined) return undefined
  const b = Buffer.from(blob, "base64url")
  if (b.length !== BLOB) return undefined
  const v = Array.from(
    { length: Q },
    (_, k) => b.readUInt16BE(6 * k) * 0x100000000 + b.readUInt32BE(6 * k + 2),
  )
  return encodeSeq(v) === s ? v : undefined
}

/** One shard's by-seq index: one live entry per doc, superseded ones skipped; a Fenwick tree counts `pending`. */
export class ChangeLog {
  seqs: number[] = []
  ids: string[] = []
  alive = new Uint8Array(1024)
  tree = new Int32Array(1025)
  live = 0
  append(seq: number, id: string): number {
    const pos = this.seqs.length
    if (pos >= this.alive.length) this.rebuild(this.alive.length * 2)
    this.seqs.push(seq)
    this.ids.push(id)
    this.alive[pos] = 1
    this.add(pos, 1)
    this.live++
    return pos
  }
  kill(pos: number): void {
    if (pos < 0 || !this.alive[pos]) return
    this.alive[pos] = 0
    this.add(pos, -1)
    this.live--
  }
  /** live entries at positions < pos */
  before(pos: number): number {
    let s = 0
    for (let i = pos; i > 0; i -= i & -i) s += this.tree[i] ?? 0
    return s
  }
  /** live entries with a seq above `seq` */
  after(seq: number): number {
    return this.live - this.before(this.firstAfter(seq))
  }
  firstAfter(seq: number): number {
    let lo = 0
    let hi = this.seqs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.seqs[mid] ?? 0) <= seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  /** Drops dead entries once they outnumber live ones, re-pointing each doc's logPos. */
  compact(docs: ReadonlyMap<string, { logPos: number }>): void {
    if (this.seqs.length - this.live < Math.max(4096, this.live)) return
    const seqs: number[] = []
    const ids: string[] = []
    this.seqs.forEach((seq, pos) => {
      const id = this.ids[pos] ?? ""
      const doc = docs.get(id)
      if (!this.alive[pos] || !doc) return
      doc.logPos = ids.length
      seqs.push(seq)
      ids.push(id)
    })
    this.seqs = seqs
    this.ids = ids
    this.alive = new Uint8Array(Math.max(1024, ids.length * 2)).fill(1, 0, ids.length)
    this.rebuild(this.alive.length)
  }
  private add(pos: number, d: number): void {
    for (let i = pos + 1; i < this.tree.length; i += i & -i) this.tree[i] = (this.tree[i] ?? 0) + d
  }
  private rebuild(cap: number): void {
    const alive = new Uint8Array(cap)
    alive.set(this.alive.subarray(0, Math.min(cap, this.alive.length)))
    this.alive = alive
    this.tree = new Int32Array(cap + 1)
    for (let i = 1; i <= cap; i++) {
      this.tree[i] = (this.tree[i] ?? 0) + (alive[i - 1] ?? 0)
      const j = i + (i & -i)
      if (j <= cap) this.tree[j] = (this.tree[j] ?? 0) + (this.tree[i] ?? 0)
    }
  }
}

export interface FeedQuery {
  since: SeqVector
  limit: number
  descending: boolean
  /** only these ids (filter=_doc_ids) */
  ids: ReadonlySet<string> | undefined
  /** picks the next shard among those with rows left: a number in [0, 1) */
  random: () => number
}
export interface Feed<T> {
  rows: { id: string; seq: string; doc: T }[]
  lastSeq: string
  pending: number
}

/** Reads the shards' streams from `since`, interleaved as a coordinator would receive them. */
export const readFeed = <T>(
  logs: readonly ChangeLog[],
  current: SeqVector,
  docs: ReadonlyMap<string, T>,
  q: FeedQuery,
): Feed<T> => {
  const step = q.descending ? -1 : 1
  // Descending reads every shard from its end; the since vector only applies ascending.
  const pos = logs.map((log, k) => (q.descending ? log.seqs.length - 1 : log.firstAfter(q.since[k] ?? 0)))
  const cur = q.descending ? [...current] : logs.map((_, k) => q.since[k] ?? 0)
  // pos[k] is at shard k's next row once checked[k]; -1 or past the end when it has none left.
  const checked = logs.map(() => false)
  const next: (T | undefined)[] = logs.map(() => undefined)
  const ready = (k: number): boolean => {
    const log = logs[k] as ChangeLog
    let p = pos[k] ?? -1
    if (!checked[k]) {
      for (; p >= 0 && p < log.seqs.length; p += step) {
        if (!log.alive[p]) continue
        const id = log.ids[p] ?? ""
        next[k] = docs.get(id)
        if (next[k] !== undefined && (!q.ids || q.ids.has(id))) break
      }
      pos[k] = p
      checked[k] = true
    }
    return p >= 0 && p < log.seqs.length
  }
  const rows: Feed<T>["rows"] = []
  const open: number[] = []
  while (rows.length < q.limit) {
    open.length = 0
    for (let k = 0; k < logs.length; k++) if (ready(k)) open.push(k)
    if (open.length === 0) break
    const k = open[open.length === 1 ? 0 : Math.floor(q.random() * open.length)] ?? 0
    const log = logs[k] as ChangeLog
    const p = pos[k] ?? 0
    pos[k] = p + step
    checked[k] = false
    cur[k] = log.seqs[p] ?? 0
    rows.push({ id: log.ids[p] ?? "", seq: encodeSeq(cur), doc: next[k] as T })
  }
  const full = rows.length === q.limit
  if (full || q.descending) {
    const pending = q.descending ? 0 : logs.reduce((n, log, k) => n + log.after(cur[k] ?? 0), 0)
    return { rows, lastSeq: encodeSeq(cur), pending }
  }
  const last = logs.map((_, k) => Math.max(q.since[k] ?? 0, current[k] ?? 0))
  return { rows, lastSeq: encodeSeq(last), pending: 0 }
}
