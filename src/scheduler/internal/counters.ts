/**
 * Counters of the scheduler: one set for all sources (cumulative, never
 * reset) and one per live source (freed with the source's lane, see
 * `lane.ts`). Plain mutable numbers, changed only in the scheduler's
 * synchronous sections (docs/architecture.md, "Atomicity").
 *
 * @internal
 */
import type { LatenessStats, SourceStats } from "../Scheduler.js"

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

  /** A task was accepted. */
  onSubmitted(): void {
    this.submitted++
    this.pending++
  }

  /** A due task was dropped: no consumer for its source. */
  onDropped(): void {
    this.dropped++
    this.pending--
  }

  /** A task was handed to its consumer, `lateness` ms after it was due. */
  onStarted(lateness: number): void {
    this.started++
    this.inFlight++
    this.pending--
    this.latenessCount++
    this.latenessTotal += lateness
    if (lateness > this.latenessMax) this.latenessMax = lateness
  }

  /** A pending task was cancelled. */
  onCancelledPending(): void {
    this.cancelled++
    this.pending--
  }

  /** A running task was cancelled (its run interrupted). */
  onCancelledRunning(): void {
    this.cancelled++
    this.inFlight--
  }

  /** A run failed and its task is pending again (a retry). */
  onRetried(): void {
    this.inFlight--
    this.failed++
    this.retried++
    this.pending++
  }

  /** A task's consumer ended. */
  onEnded(succeeded: boolean): void {
    this.inFlight--
    if (succeeded) this.succeeded++
    else this.failed++
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
