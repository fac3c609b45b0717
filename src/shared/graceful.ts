import { Effect, Fiber, Option, Ref } from "effect"

/**
 * Runs `work` so that an interrupt (Ctrl-C, SIGTERM) does not cut it off: the interrupt only raises
 * the `stopping` flag, which the work checks before taking new work, and waits for the work to
 * wrap up (in-flight requests finish, checkpoints are saved, a summary is printed). The caller
 * still ends interrupted, so the CLI exits 130.
 */
export const gracefully = <A, E, R>(work: (stopping: Effect.Effect<boolean>) => Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const stop = yield* Ref.make(false)
    // Its failure is reported through the join below, not as an "unhandled error" log.
    const fiber = yield* Effect.forkDaemon(
      work(Ref.get(stop)).pipe(Effect.withUnhandledErrorLogLevel(Option.none())),
    )
    return yield* Fiber.join(fiber).pipe(
      Effect.onInterrupt(() =>
        Effect.logWarning("stopping: finishing work in flight (interrupt again to force)").pipe(
          Effect.zipRight(Ref.set(stop, true)),
          Effect.zipRight(Fiber.await(fiber)),
        ),
      ),
    )
  })
