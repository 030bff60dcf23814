/**
 * A consumer's `retry` schedule turned into the instant of the next run
 * (docs/architecture.md, "Retries"). A schedule's state is an opaque value
 * that cannot be stored: within a process it is kept between a task's
 * failures (a cache, `RetryMemo`), so each failure costs one step; without
 * it (after a restart, or a cache miss) the schedule is replayed from its
 * initial state, which needs only the run count and the first failure's
 * instant, which the store keeps.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"

/** The schedule's state after the step for failure `attempt` (a cache entry). @internal */
export interface RetryMemo {
  readonly attempt: number
  readonly state: unknown
}

/** When a task runs again, or undefined (the schedule is done); and the state to step from next time. @internal */
export interface RetryDecision {
  readonly due: number | undefined
  readonly memo: RetryMemo | undefined
}

/**
 * When the task whose run number `attempt` just failed with `failure` at
 * `now` runs again (epoch ms), or undefined when the schedule is done.
 *
 * With `memo` of the previous failure (`attempt` − 1): one step from its
 * state, at `now`, with `failure` as input — what `Effect.retry` does.
 * Otherwise the schedule is stepped `attempt` times from its initial state
 * with `failure` as input: step k (k < attempt) at the instant retry k was
 * due — `since` (the first failure) plus the delays before it — and the
 * last step at `now`. A schedule that counts (`recurs`, `exponential`, …)
 * gives the same delays either way; one that reads the time (`upTo`,
 * `windowed`, …) sees the real elapsed time at the last step.
 *
 * @internal
 */
export const nextRetry = (
  schedule: Schedule.Schedule<unknown, never>,
  failure: unknown,
  attempt: number,
  now: number,
  since: number,
  memo?: RetryMemo | undefined
): Effect.Effect<RetryDecision> =>
  Effect.suspend(() => {
    const input = failure as never
    const loop = (k: number, at: number, state: unknown): Effect.Effect<RetryDecision> => {
      const stepAt = k === attempt ? now : at
      return Effect.flatMap(schedule.step(stepAt, input, state), ([next, , decision]) => {
        if (ScheduleDecision.isDone(decision)) return Effect.succeed({ due: undefined, memo: undefined })
        const due = Math.max(stepAt, ScheduleIntervals.start(decision.intervals))
        return k === attempt ? Effect.succeed({ due, memo: { attempt, state: next } }) : loop(k + 1, due, next)
      })
    }
    return memo !== undefined && memo.attempt === attempt - 1
      ? loop(attempt, now, memo.state)
      : loop(1, since, schedule.initial)
  })
