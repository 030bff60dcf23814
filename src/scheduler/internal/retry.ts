/**
 * A consumer's `retry` schedule turned into the instant of the next run
 * (docs/architecture.md, "Retries"). The schedule is replayed from its
 * initial state for every failure instead of keeping its state between
 * runs: a schedule's state is an opaque value that cannot be stored, and a
 * replay gives the same answer in the memory layer, in the SQL layer and
 * after a restart.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"

/**
 * When the task whose run number `attempt` just failed with `failure` at
 * `now` runs again (epoch ms), or undefined when the schedule is done.
 *
 * The schedule is stepped `attempt` times from its initial state with
 * `failure` as input: step k (k < attempt) at the instant retry k was due —
 * `since` (the first failure) plus the delays before it — and the last step
 * at `now`. A schedule that counts (`recurs`, `exponential`, …) sees the
 * same steps as `Effect.retry` would; one that reads the time (`upTo`,
 * `windowed`, …) sees the real elapsed time at the last step.
 *
 * @internal
 */
export const nextRetry = (
  schedule: Schedule.Schedule<unknown, never>,
  failure: unknown,
  attempt: number,
  now: number,
  since: number
): Effect.Effect<number | undefined> =>
  Effect.suspend(() => {
    const input = failure as never
    const loop = (k: number, at: number, state: unknown): Effect.Effect<number | undefined> => {
      const stepAt = k === attempt ? now : at
      return Effect.flatMap(schedule.step(stepAt, input, state), ([next, , decision]) => {
        if (ScheduleDecision.isDone(decision)) return Effect.succeed(undefined)
        const due = Math.max(stepAt, ScheduleIntervals.start(decision.intervals))
        return k === attempt ? Effect.succeed(due) : loop(k + 1, due, next)
      })
    }
    return loop(1, since, schedule.initial)
  })
