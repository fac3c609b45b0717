/**
 * The match list held compactly: each match is two row addresses (block, offset) in typed arrays,
 * 16 bytes per match (16 MB per million), however the driver represents rows.
 */
export class MatchList {
  private data = new Uint32Array(4096)
  private size = 0

  get length() {
    return this.size / 4
  }

  /** Adds a match from the text form of two ctids, `(block,offset)`. */
  push(pending: string, user: string) {
    if (this.size + 4 > this.data.length) {
      const grown = new Uint32Array(this.data.length * 2)
      grown.set(this.data)
      this.data = grown
    }
    const p = pending.slice(1, -1).split(",")
    const u = user.slice(1, -1).split(",")
    this.data[this.size] = Number(p[0])
    this.data[this.size + 1] = Number(p[1])
    this.data[this.size + 2] = Number(u[0])
    this.data[this.size + 3] = Number(u[1])
    this.size += 4
  }

  /** The matches in arrival order, `size` at a time, as ctid text. */
  *batches(size: number): Generator<{ readonly pending: Array<string>; readonly users: Array<string> }> {
    for (let start = 0; start < this.length; start += size) {
      const end = Math.min(this.length, start + size)
      const pending: Array<string> = []
      const users: Array<string> = []
      for (let i = start; i < end; i++) {
        const at = i * 4
        pending.push(`(${this.data[at]},${this.data[at + 1]})`)
        users.push(`(${this.data[at + 2]},${this.data[at + 3]})`)
      }
      yield { pending, users }
    }
  }
}
