import { Duration, Effect, Schedule } from "effect"

/**
 * The one retry policy of dbsweep: exponential from `base` by `factor`, each delay jittered and
 * capped, at most `retries` retries, and only for errors the caller judges retryable.
 * Defaults are the original purge tool's: 4 retries, 1 s, factor 2.
 */
export interface RetryPolicy {
  readonly retries: number
  readonly base: Duration.Duration
  readonly factor: number
  readonly cap: Duration.Duration
  /**
   * Each delay is the exponential one times a random factor in this range; 0.8–1.2 when absent.
   * `[0, 1]` ("full jitter", a random share of the delay) spreads writers that collide on the
   * same document furthest apart.
   */
  readonly jitter?: readonly [min: number, max: number]
  /** No retry starts once this much time has passed since the first attempt. */
  readonly within?: Duration.Duration
}

export const defaultRetryPolicy: RetryPolicy = {
  retries: 4,
  base: Duration.seconds(1),
  factor: 2,
  cap: Duration.seconds(30),
}

export const retrySchedule = (policy: RetryPolicy) => {
  const [min, max] = policy.jitter ?? [0.8, 1.2]
  const schedule = Schedule.exponential(policy.base, policy.factor).pipe(
    Schedule.jitteredWith({ min, max }),
    // The second argument is the delay as jittered; the first is exponential's plain output.
    Schedule.modifyDelay((_, delay) => Duration.min(delay, policy.cap)),
    Schedule.intersect(Schedule.recurs(policy.retries)),
  )
  return policy.within === undefined ? schedule : schedule.pipe(Schedule.upTo(policy.within))
}

/**
 * Retries `self` under `policy` while `isRetryable` says so; `onRetry` sees every failure that
 * will be retried (for counting and logging), not the last one, after which it gives up.
 *
 * The retry machinery (schedule, attempt count) is built only once an attempt has failed with a
 * retryable error, and that failure is replayed to it as the first attempt's: the counts and waits
 * are the same as if it had been there from the start, and a request that succeeds (nearly all of
 * them) pays for one failure handler, not for a schedule.
 */
export const withRetry =
  <E>(policy: RetryPolicy, isRetryable: (error: E) => boolean, onRetry?: (error: E) => Effect.Effect<void>) =>
  <A, E2 extends E, R>(self: Effect.Effect<A, E2, R>): Effect.Effect<A, E2, R> =>
    Effect.catchAll(self, (first) => {
      if (!isRetryable(first) || policy.retries === 0) return Effect.fail(first)
      let attempt = 0
      const attemptOnce = Effect.suspend(() => {
        attempt += 1
        return attempt === 1 ? Effect.fail(first) : self
      })
      const observed =
        onRetry === undefined
          ? attemptOnce
          : attemptOnce.pipe(
              Effect.tapError((e) =>
                isRetryable(e) && attempt <= policy.retries ? onRetry(e) : Effect.void,
              ),
            )
      return Effect.retry(observed, { schedule: retrySchedule(policy), while: isRetryable })
    })
