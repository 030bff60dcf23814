/**
 * Wall-clock jumps, seen against the monotonic clock (docs/architecture.md,
 * "Time and clock jumps"): wall-clock time minus monotonic time
 * (`currentTimeNanos`, which timers follow) stays constant while neither
 * clock is changed; a change of it between two readings is a jump. The
 * dispatcher counts and logs jumps; the schedules' fiber treats a forward
 * one as a span of missed occurrences. Each keeps its own watch (its own
 * previous reading).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"

/** A change of wall minus monotonic time larger than this between two readings is a clock jump. @internal */
export const clockJumpThresholdMillis = 1000

/** @internal */
export class ClockWatch {
  private skew: number | undefined = undefined

  constructor(private readonly clock: Clock.Clock) {}

  /**
   * The jump since the previous reading, in ms (positive: the wall clock
   * went forward), or 0 when there was none beyond the threshold (or no
   * previous reading).
   */
  check(): number {
    const skew = this.clock.unsafeCurrentTimeMillis() - Number(this.clock.unsafeCurrentTimeNanos() / 1_000_000n)
    const before = this.skew
    this.skew = skew
    if (before === undefined || Math.abs(skew - before) <= clockJumpThresholdMillis) return 0
    return skew - before
  }

  /** Forgets the previous reading (the next `check` sees no jump). */
  reset(): void {
    this.skew = undefined
  }
}
