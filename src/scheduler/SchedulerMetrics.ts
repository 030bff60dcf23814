/**
 * `SchedulerMetrics` — the scheduler's Effect `Metric`s, updated by every
 * layer as tasks are submitted, start and end. They live in Effect's global
 * metric registry: export them with any metrics exporter, e.g.
 * `@effect/opentelemetry`'s `Metrics.layer` with a Prometheus reader (the
 * RayInfo service serves them at `/metrics`; docs/operations.md). The
 * counters count since the process started, for every scheduler of the
 * process together; per source, so keep sources few (they are labels).
 *
 * Names as Prometheus shows them through OpenTelemetry (counters get
 * `_total`): `ray_scheduler_tasks_submitted_total{source}`,
 * `ray_scheduler_task_runs_total{source,outcome}` (`succeeded`, `failed`,
 * `retried`: failed and run again, `cancelled`),
 * `ray_scheduler_tasks_pending{source}` and
 * `ray_scheduler_tasks_running{source}` (local layers only: on a cluster
 * the tasks table has the cluster-wide numbers),
 * `ray_scheduler_task_lateness_seconds{source}` (from its instant to its
 * start), `ray_scheduler_task_run_duration_seconds{source}`,
 * `ray_scheduler_dead_letters_total{source,reason}`,
 * `ray_scheduler_clock_jumps_total`.
 *
 * @since 0.5.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** Seconds from 1 ms to about 70 minutes, ×4 per bucket. */
const secondsBoundaries = MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 13 })

/**
 * Tasks accepted (not the duplicates of a pending id), by `source`.
 *
 * @since 0.5.0
 * @category metrics
 */
export const tasksSubmitted = Metric.counter("ray_scheduler_tasks_submitted", {
  description: "Tasks accepted by the scheduler, by source",
  incremental: true
})

/**
 * Runs that ended, by `source` and `outcome`: `succeeded`, `failed` (for
 * good: a dead letter), `retried` (failed, and its retry is planned) or
 * `cancelled`.
 *
 * @since 0.5.0
 * @category metrics
 */
export const taskRuns = Metric.counter("ray_scheduler_task_runs", {
  description: "Task runs that ended, by source and outcome (succeeded, failed, retried, cancelled)",
  incremental: true
})

/**
 * Tasks waiting for their instant or a slot, by `source` (local layers).
 *
 * @since 0.5.0
 * @category metrics
 */
export const tasksPending = Metric.gauge("ray_scheduler_tasks_pending", {
  description: "Tasks pending (waiting for their instant, a retry or a slot), by source"
})

/**
 * Tasks running, by `source` (local layers).
 *
 * @since 0.5.0
 * @category metrics
 */
export const tasksRunning = Metric.gauge("ray_scheduler_tasks_running", {
  description: "Tasks running, by source"
})

/**
 * How late tasks started, in seconds after their instant, by `source`.
 *
 * @since 0.5.0
 * @category metrics
 */
export const taskLateness = Metric.histogram(
  "ray_scheduler_task_lateness_seconds",
  secondsBoundaries,
  "Seconds from a task's instant to its start, by source"
)

/**
 * How long runs took, in seconds, by `source`.
 *
 * @since 0.5.0
 * @category metrics
 */
export const taskRunDuration = Metric.histogram(
  "ray_scheduler_task_run_duration_seconds",
  secondsBoundaries,
  "Seconds a task's run took, by source"
)

/**
 * Tasks that became dead letters, by `source` and `reason` (`Failed`,
 * `Died`, `Interrupted`, `NoConsumer`).
 *
 * @since 0.5.0
 * @category metrics
 */
export const deadLetters = Metric.counter("ray_scheduler_dead_letters", {
  description: "Tasks that became dead letters, by source and reason",
  incremental: true
})

/**
 * Jumps of the wall clock the local layers' dispatcher saw
 * (docs/architecture.md, "Time and clock jumps").
 *
 * @since 0.5.0
 * @category metrics
 */
export const clockJumps = Metric.counter("ray_scheduler_clock_jumps", {
  description: "Wall-clock jumps the scheduler saw",
  incremental: true
})
