/**
 * Counters of the scheduler: one set for all sources (cumulative, never
 * reset) and one per live source (freed with the source's lane, see
 * `lane.ts`). Plain mutable numbers, changed only in the scheduler's
 * synchronous sections (docs/architecture.md, "Atomicity").
 *
 * @internal
 */
import type { LatenessStats, SourceStats } from "../Scheduler.js"
import type { SourceMetrics } from "./metrics.js"

/** @internal */
export class Counters {
  submitted = 0
  started = 0
  succeeded = 0
  failed = 0
  dropped = 0
  inFlight = 0
  pending = 0
  /** Submissions of a task whose id was pending or running (not added). */
  duplicates = 0
  /** Tasks cancelled: pending ones removed, running ones interrupted. */
  cancelled = 0
  /** Failed runs the consumer's retry schedule runs again (each also counted in `failed`). */
  retried = 0
  private latenessCount = 0
  private latenessTotal = 0
  private latenessMax = 0

  /** `metrics`: the source's `SchedulerMetrics`, updated with the counts (none for the totals). */
  constructor(readonly metrics?: SourceMetrics) {}

  private counted(): void {
    this.metrics?.counts(this.pending, this.inFlight)
  }

  /** A task was accepted. */
  onSubmitted(): void {
    this.submitted++
    this.pending++
    if (this.metrics !== undefined) {
      this.metrics.submittedOne()
      this.counted()
    }
  }

  /** A due task was dropped: no consumer for its source. */
  onDropped(): void {
    this.dropped++
    this.pending--
    this.counted()
  }

  /** A task was handed to its consumer, `lateness` ms after it was due. */
  onStarted(lateness: number): void {
    this.started++
    this.inFlight++
    this.pending--
    this.latenessCount++
    this.latenessTotal += lateness
    if (lateness > this.latenessMax) this.latenessMax = lateness
    if (this.metrics !== undefined) {
      this.metrics.startedOne(lateness)
      this.counted()
    }
  }

  /** A pending task was cancelled. */
  onCancelledPending(): void {
    this.cancelled++
    this.pending--
    this.counted()
  }

  /** A running task was cancelled (its run interrupted). */
  onCancelledRunning(): void {
    this.cancelled++
    this.inFlight--
    if (this.metrics !== undefined) {
      this.metrics.ended("cancelled")
      this.counted()
    }
  }

  /** A run failed and its task is pending again (a retry). */
  onRetried(): void {
    this.inFlight--
    this.failed++
    this.retried++
    this.pending++
    if (this.metrics !== undefined) {
      this.metrics.ended("retried")
      this.counted()
    }
  }

  /** A task's consumer ended. */
  onEnded(succeeded: boolean): void {
    this.inFlight--
    if (succeeded) this.succeeded++
    else this.failed++
    if (this.metrics !== undefined) {
      this.metrics.ended(succeeded ? "succeeded" : "failed")
      this.counted()
    }
  }

  /** The public form. */
  toStats(): SourceStats {
    return {
      submitted: this.submitted,
      started: this.started,
      succeeded: this.succeeded,
      failed: this.failed,
      dropped: this.dropped,
      inFlight: this.inFlight,
      pending: this.pending,
      duplicates: this.duplicates,
      cancelled: this.cancelled,
      retried: this.retried,
      lateness: this.lateness()
    }
  }

  private lateness(): LatenessStats {
    return {
      count: this.latenessCount,
      totalMillis: this.latenessTotal,
      maxMillis: this.latenessMax,
      meanMillis: this.latenessCount === 0 ? 0 : this.latenessTotal / this.latenessCount
    }
  }
}
