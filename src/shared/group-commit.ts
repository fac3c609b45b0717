import { Deferred, Effect, Exit } from "effect"

/**
 * Group commit: writes asked for while one request is on its way wait for it and then go
 * together, as one request. A write asked for when nothing is on its way goes at once, alone, so
 * a lone writer pays no delay; when the server is the bottleneck the queue grows while it works,
 * and each request carries more. Each write gets its own answer, as if it had gone alone.
 */

export interface GroupCommit<W, A, E> {
  /** Queues `write` and waits for its own answer. */
  readonly write: (write: W) => Effect.Effect<A, E>
}

export interface GroupCommitOptions<W, A, E> {
  /** Most writes in one request. */
  readonly max: number
  /** Writes that may not go in one request together (two writes of one document): same key. */
  readonly key: (write: W) => string
  /** One write alone (the request a lone write always made). */
  readonly one: (write: W) => Effect.Effect<A, E>
  /** Two or more writes in one request: an answer for each, in order. */
  readonly many: (writes: ReadonlyArray<W>) => Effect.Effect<ReadonlyArray<Exit.Exit<A, E>>>
}

interface Pending<W, A, E> {
  readonly write: W
  readonly done: Deferred.Deferred<A, E>
}

export const makeGroupCommit = <W, A, E>(options: GroupCommitOptions<W, A, E>): GroupCommit<W, A, E> => {
  let queue: Array<Pending<W, A, E>> = []
  /** The writes of the request on its way. */
  let current: ReadonlyArray<Pending<W, A, E>> = []
  let sending = false

  /** The next request's writes: in order, one per key, at most `max`; the rest stay queued. */
  const nextBatch = () => {
    const batch: Array<Pending<W, A, E>> = []
    const rest: Array<Pending<W, A, E>> = []
    const keys = new Set<string>()
    for (const pending of queue) {
      const key = options.key(pending.write)
      if (batch.length < options.max && !keys.has(key)) {
        keys.add(key)
        batch.push(pending)
      } else rest.push(pending)
    }
    queue = rest
    return batch
  }

  const send = (batch: ReadonlyArray<Pending<W, A, E>>) =>
    batch.length === 1
      ? Effect.map(Effect.exit(options.one(batch[0]!.write)), (exit) => [exit])
      : Effect.map(Effect.exit(options.many(batch.map((p) => p.write))), (exit) =>
          Exit.isSuccess(exit) && exit.value.length === batch.length
            ? exit.value
            : batch.map(() =>
                Exit.isFailure(exit)
                  ? (exit as Exit.Exit<never, never>)
                  : Exit.die(
                      new Error(`a grouped request answered ${exit.value.length} of ${batch.length} writes`),
                    ),
              ),
        )

  /** Sends until the queue is empty; every write queued gets an answer, whatever happens. */
  const drain: Effect.Effect<void> = Effect.suspend(() => {
    const batch = nextBatch()
    current = batch
    if (batch.length === 0) {
      sending = false
      return Effect.void
    }
    return send(batch).pipe(
      Effect.flatMap((exits) => Effect.forEach(batch, (p, i) => Deferred.done(p.done, exits[i]!))),
      Effect.zipRight(drain),
    )
  })

  const write = (w: W): Effect.Effect<A, E> =>
    Effect.flatMap(Deferred.make<A, E>(), (done) =>
      Effect.suspend(() => {
        queue.push({ write: w, done })
        if (sending) return Deferred.await(done)
        sending = true
        // Its own fiber: a writer that stops waiting (interrupted) does not stop the others' writes.
        return Effect.zipRight(
          Effect.forkDaemon(
            drain.pipe(
              Effect.onExit((exit) =>
                Exit.isSuccess(exit)
                  ? Effect.void
                  : Effect.suspend(() => {
                      // Never expected: the sends catch everything. Left waiting, writers would hang.
                      const left = [...current, ...queue]
                      current = []
                      queue = []
                      sending = false
                      return Effect.forEach(left, (p) =>
                        Deferred.done(p.done, exit as Exit.Exit<never, never>),
                      )
                    }),
              ),
            ),
          ),
          Deferred.await(done),
        )
      }),
    )

  return { write }
}
