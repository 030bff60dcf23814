/**
 * The RayInfo service's own Effect `Metric`s, next to the scheduler's
 * (`SchedulerMetrics`), exported at `/metrics` (`Prometheus.ts`;
 * docs/operations.md, "Metrics"). Labelled by collector name (not by job:
 * a feed collector may have many feeds).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** Collector runs that ended, by `collector` and `outcome` (`succeeded`, `retry`, `failed`, `cancelled`). */
export const collectorRuns = Metric.counter("rayinfo_collector_runs", {
  description: "Collector runs that ended, by collector and outcome (succeeded, retry, failed, cancelled)",
  incremental: true
})

/** New items written to the database, by `collector`. */
export const itemsStored = Metric.counter("rayinfo_items_stored", {
  description: "New items stored, by collector",
  incremental: true
})

/** Runs that ended in an error (a retry or a failure: fetch, command, storage), by `collector`. */
export const fetchErrors = Metric.counter("rayinfo_fetch_errors", {
  description: "Collector runs that ended in an error (retried or failed), by collector",
  incremental: true
})

/** Records a run's outcome for `collector`, with the items it stored. */
export const recordRun = (
  collector: string,
  outcome: "succeeded" | "retry" | "failed" | "cancelled",
  stored: number
): Effect.Effect<void> =>
  Effect.all([
    Metric.increment(Metric.tagged(Metric.tagged(collectorRuns, "collector", collector), "outcome", outcome)),
    stored > 0 ? Metric.incrementBy(Metric.tagged(itemsStored, "collector", collector), stored) : Effect.void,
    outcome === "retry" || outcome === "failed"
      ? Metric.increment(Metric.tagged(fetchErrors, "collector", collector))
      : Effect.void
  ], { discard: true })
