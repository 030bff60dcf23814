/**
 * Updating the `SchedulerMetrics` from the scheduler's synchronous sections
 * (`unsafeUpdate`, no fiber). Cheap on the hot path: each source's label
 * arrays are made once and passed as the same array instances, which
 * Effect's metric hooks cache by identity (a `Metric.tagged` metric would
 * build a new array, hence a registry lookup, at every update). Bounded:
 * the first {@link maxSourceLabels} sources get labels of their own; the
 * others share the source label {@link otherSources} and no gauges (a
 * scheduler with a million sources must not make a million series).
 *
 * @internal
 */
import type * as MetricLabel from "effect/MetricLabel"
import * as Label from "effect/MetricLabel"
import type { DeadLetterReason } from "../Scheduler.js"
import * as M from "../SchedulerMetrics.js"

/** How many sources get series of their own (per process). @internal */
export const maxSourceLabels = 1000

/** The source label of the sources beyond {@link maxSourceLabels}. @internal */
export const otherSources = "_other"

const none: ReadonlyArray<MetricLabel.MetricLabel> = []

type Outcome = "succeeded" | "failed" | "retried" | "cancelled"

/** One source's label arrays (made once). @internal */
export class SourceMetrics {
  private readonly source: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly outcomes: Readonly<Record<Outcome, ReadonlyArray<MetricLabel.MetricLabel>>>
  /** The dead letter labels by reason, made when first needed. */
  private readonly reasons = new Map<DeadLetterReason, ReadonlyArray<MetricLabel.MetricLabel>>()

  private constructor(name: string, readonly gauges: boolean) {
    const label = Label.make("source", name)
    this.source = [label]
    const outcome = (value: Outcome) => [label, Label.make("outcome", value)]
    this.outcomes = {
      succeeded: outcome("succeeded"),
      failed: outcome("failed"),
      retried: outcome("retried"),
      cancelled: outcome("cancelled")
    }
  }

  private static readonly bySource = new Map<string, SourceMetrics>()
  /** The shared metrics of the sources beyond the cap: no gauges (each source would overwrite them). */
  private static readonly other = new SourceMetrics(otherSources, false)

  /**
   * The metrics of source `name`: shared by every scheduler of the process;
   * `gauges`: also the pending and running gauges (the local layers, whose
   * counts are the source's own; not on a cluster).
   */
  static of(name: string, gauges: boolean): SourceMetrics {
    const known = SourceMetrics.bySource.get(name)
    if (known !== undefined) return known
    if (SourceMetrics.bySource.size >= maxSourceLabels) return SourceMetrics.other
    const made = new SourceMetrics(name, gauges)
    SourceMetrics.bySource.set(name, made)
    return made
  }

  submittedOne(): void {
    M.tasksSubmitted.unsafeUpdate(1, this.source)
  }

  startedOne(latenessMillis: number): void {
    M.taskLateness.unsafeUpdate(latenessMillis / 1000, this.source)
  }

  ended(outcome: Outcome): void {
    M.taskRuns.unsafeUpdate(1, this.outcomes[outcome])
  }

  /** A run took `millis`. */
  ran(millis: number): void {
    M.taskRunDuration.unsafeUpdate(Math.max(0, millis) / 1000, this.source)
  }

  /** The source's pending and running counts now (local layers; not for the shared {@link otherSources}). */
  counts(pending: number, running: number): void {
    if (!this.gauges) return
    M.tasksPending.unsafeUpdate(pending, this.source)
    M.tasksRunning.unsafeUpdate(running, this.source)
  }

  deadLetter(reason: DeadLetterReason): void {
    let labels = this.reasons.get(reason)
    if (labels === undefined) this.reasons.set(reason, labels = [...this.source, Label.make("reason", reason)])
    M.deadLetters.unsafeUpdate(1, labels)
  }
}

/** A task of `source` became a dead letter. @internal */
export const deadLetter = (source: string, reason: DeadLetterReason): void =>
  SourceMetrics.of(source, true).deadLetter(reason)

/** The dispatcher saw the wall clock jump. @internal */
export const clockJump = (): void => M.clockJumps.unsafeUpdate(1, none)
