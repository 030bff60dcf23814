/**
 * When collector jobs run, as pure functions over epoch milliseconds:
 * the floor and cap of retry delays (`retryDelay`, both schedulers: the
 * runner clamps every `Retry` with it), the resume rule (`firstRunAt`: the
 * legacy scheduler's first run; the RayScheduler's `startAt` of a new or
 * retimed interval schedule) and the legacy scheduler's fixed-rate rule
 * with coalescing (`nextAfter`, `retryAt`; the RayScheduler's library
 * schedules do that themselves).
 *
 * Every instant returned is finite and at most `interval` (or the retry
 * cap) after now, whatever the inputs: a job can always be planned (see
 * docs/architecture.md, "Supervision").
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** Floor and cap of retry delays (config `retry`). */
export interface RetryPolicy {
  /** No retry waits less (unless the cap is lower). Default: {@link defaultRetryPolicy} (30 seconds). */
  readonly minDelay: Duration.Duration
  /** No retry waits more. Default: the job's interval; never beyond {@link maxRetryDelay}. */
  readonly maxDelay?: Duration.Duration | undefined
}

/** The default {@link RetryPolicy}: at least 30 seconds, at most the job's interval. */
export const defaultRetryPolicy: RetryPolicy = { minDelay: Duration.seconds(30) }

/** No retry waits longer than this: 24 hours. */
export const maxRetryDelay: Duration.Duration = Duration.hours(24)

const finiteMillis = (duration: Duration.Duration, fallback: number): number => {
  const millis = Duration.toMillis(duration)
  return Number.isFinite(millis) ? Math.max(0, millis) : fallback
}

/**
 * The delay before retrying a job that asked for `requested` (a server's
 * `Retry-After`, a quota error's delay, ...): `requested` clamped to
 * [floor, cap], where cap = min(`policy.maxDelay` ?? `interval`, 24 hours)
 * and floor = min(`policy.minDelay`, cap). An infinite or invalid request
 * gets the cap.
 */
export const retryDelay = (
  requested: Duration.Duration,
  interval: Duration.Duration,
  policy: RetryPolicy = defaultRetryPolicy
): Duration.Duration => {
  const hardCap = Duration.toMillis(maxRetryDelay)
  const cap = Math.min(finiteMillis(policy.maxDelay ?? interval, hardCap), hardCap)
  const floor = Math.min(finiteMillis(policy.minDelay, 0), cap)
  return Duration.millis(Math.min(Math.max(finiteMillis(requested, cap), floor), cap))
}

/**
 * First run after (re)start, from the last successful run:
 * never run → now; overdue (last + interval ≤ now) → now; otherwise
 * last + interval (at most one interval from now, even if the last run is
 * recorded in the future because the clock went back).
 */
export const firstRunAt = (lastRunAt: Option.Option<DateTime.Utc>, intervalMillis: number, now: number): number =>
  Option.match(lastRunAt, {
    onNone: () => now,
    onSome: (last) => Math.min(Math.max(now, DateTime.toEpochMillis(last) + intervalMillis), now + intervalMillis)
  })

/** A planned run: when it fires, and the slot of the fixed-rate grid it stands for. */
export interface Planned {
  readonly at: number
  readonly anchor: number
}

/**
 * The run after one planned at `anchor`, once it finished at `now`. Fixed
 * rate: the next slot is `anchor + interval`. If that slot (or several) has
 * already passed — the run or the process was busy or down — the missed
 * slots are coalesced into one run now, anchored on the latest missed slot,
 * so runs never pile up and the grid does not drift. An anchor that is not
 * a finite instant at most one interval ahead (the clock went back) starts
 * a new grid at now + interval.
 */
export const nextAfter = (anchor: number, intervalMillis: number, now: number): Planned => {
  if (!Number.isFinite(anchor) || anchor > now + intervalMillis) return { at: now + intervalMillis, anchor: now }
  const next = anchor + intervalMillis
  if (next > now) return { at: next, anchor: next }
  const missed = Math.floor((now - anchor) / intervalMillis)
  return { at: now, anchor: anchor + missed * intervalMillis }
}

/** A retry `delay` after `now`: a new grid starts at the retry. */
export const retryAt = (delay: Duration.Duration, now: number): Planned => {
  const at = now + Duration.toMillis(delay)
  return { at, anchor: at }
}
