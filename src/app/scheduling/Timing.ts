/**
 * When collector jobs run: the start-up (resume) rule and the periodic
 * fixed-rate rule with coalescing. Pure functions over epoch milliseconds,
 * shared by both scheduler adapters.
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"

/**
 * First run after (re)start, from the last successful run:
 * never run → now; overdue (last + interval ≤ now) → now; otherwise
 * last + interval.
 */
export const firstRunAt = (lastRunAt: Option.Option<DateTime.Utc>, intervalMillis: number, now: number): number =>
  Option.match(lastRunAt, {
    onNone: () => now,
    onSome: (last) => Math.max(now, DateTime.toEpochMillis(last) + intervalMillis)
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
 * so runs never pile up and the grid does not drift.
 */
export const nextAfter = (anchor: number, intervalMillis: number, now: number): Planned => {
  const next = anchor + intervalMillis
  if (next > now) return { at: next, anchor: next }
  const missed = Math.floor((now - anchor) / intervalMillis)
  return { at: now, anchor: anchor + missed * intervalMillis }
}
