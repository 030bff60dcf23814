/**
 * `CollectorConsumer` — a collector instance (a collector and one of its
 * params) as a `TaskConsumer` named `collector` or `collector:param`, which
 * runs the occurrences of the job's library schedule
 * (`<schedule id>@<ISO instant>`, see `RunTasks.ts`). Each run goes through
 * the `CollectorRunner` (which always ends in an outcome); the outcome
 * decides what the scheduler does with the task (docs/architecture.md,
 * "Supervision"):
 *
 * - `Succeeded`, `Failed`: done. A failure is already recorded, logged and
 *   counted by the runner; the job runs again at its next occurrence.
 * - `Retry` (a `Retry-After`, a quota, a network error, a locked database):
 *   the task fails with {@link RetryRun}, and the consumer's `retry`
 *   schedule ({@link retrySchedule}) runs the same occurrence again after
 *   the (already clamped) delay — a persisted re-submit in the durable
 *   store. A retry that would be due at or after the job's next occurrence
 *   is not made: that occurrence is the retry.
 * - `Cancelled` (the shutdown): the task fails with {@link RunCancelled}
 *   and is due again at once; the scheduler no longer dispatches, so the
 *   durable store keeps it for the next start.
 *
 * A task of the job's source that is not an occurrence (a run stored by a
 * version before 0.3) is skipped, logged.
 */
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Task } from "../../scheduler/Task.js"
import * as TaskConsumer from "../../scheduler/TaskConsumer.js"
import type { CollectorRunnerService, Instance } from "./CollectorRunner.js"
import * as RunTasks from "./RunTasks.js"

/** A run asked to be retried after `retryAfter` (a `Retry` outcome): the task's failure, which the consumer's `retry` schedule reads. */
export class RetryRun extends Data.TaggedError("RetryRun")<{
  readonly instance: string
  readonly error: string
  readonly retryAfter: Duration.Duration
}> {
  override get message(): string {
    return `${this.instance}: ${this.error} (retrying in ${Duration.format(this.retryAfter)})`
  }
}

/** A run cancelled by the shutdown: the task is due again at once, for the next start. */
export class RunCancelled extends Data.TaggedError("RunCancelled")<{
  readonly instance: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.instance} was not run: ${this.reason}`
  }
}

/** Why a collector's task failed. */
export type RunFailure = RetryRun | RunCancelled

/**
 * The collector consumers' `retry` schedule: never done for a
 * {@link RunFailure} — a `RetryRun` is due `retryAfter` after the failure,
 * a `RunCancelled` at once — and done for a `TaskTimeoutError` (no timeout is
 * set; should one be, a timed-out run is not retried). Stateless and driven
 * by its input, so the delay is the same whether the scheduler steps it from
 * the previous failure's state or replays it after a restart.
 */
export const retrySchedule: Schedule.Schedule<
  RunFailure | TaskConsumer.TaskTimeoutError,
  RunFailure | TaskConsumer.TaskTimeoutError
> = Schedule.identity<RunFailure | TaskConsumer.TaskTimeoutError>().pipe(
  Schedule.whileInput((failure) => failure._tag !== "TaskTimeoutError"),
  Schedule.addDelay((failure) => failure._tag === "RetryRun" ? failure.retryAfter : Duration.zero)
)

/** Options of {@link make}. */
export interface CollectorConsumerOptions {
  readonly instance: Instance
  readonly runner: CollectorRunnerService
  /** The job's next occurrence (none: unknown); read only when a run asks to be retried. */
  readonly nextRun: Effect.Effect<Option.Option<DateTime.Utc>>
  /** Called when a run starts (`task`, the occurrence). Default: nothing. */
  readonly onStart?: ((task: Task) => Effect.Effect<void>) | undefined
  /** Called when a retry of `task` is due at `at`. Default: nothing. */
  readonly onRetry?: ((task: Task, at: DateTime.Utc) => Effect.Effect<void>) | undefined
}

/**
 * Builds the consumer. Its name is the instance id and its concurrency the
 * instance's (default 1). Fails with `InvalidConsumerError` if the
 * concurrency is not an integer ≥ 1.
 */
export const make = (
  options: CollectorConsumerOptions
): Effect.Effect<TaskConsumer.TaskConsumer, TaskConsumer.InvalidConsumerError> => {
  const { instance, runner } = options
  const occurrences = RunTasks.occurrencePrefix(instance.id) // a hash for a long id: computed once
  const consume = (task: Task): Effect.Effect<void, RunFailure> =>
    Effect.gen(function*() {
      if (!task.id.startsWith(occurrences)) {
        return yield* Effect.logInfo(
          `${instance.id}: skipping a run planned for ${
            DateTime.formatIso(task.scheduleAt)
          } by an earlier version: the job now runs on its schedule`
        )
      }
      if (options.onStart !== undefined) yield* options.onStart(task)
      const outcome = yield* runner.run(instance)
      switch (outcome._tag) {
        case "Succeeded":
        case "Failed":
          return
        case "Cancelled":
          return yield* new RunCancelled({ instance: instance.id, reason: outcome.reason })
        case "Retry": {
          const at = DateTime.addDuration(yield* DateTime.now, outcome.retryAfter)
          const next = yield* options.nextRun
          if (Option.isSome(next) && !DateTime.lessThan(at, next.value)) {
            return yield* Effect.logInfo(
              `${instance.id}: retrying at its next scheduled run (${DateTime.formatIso(next.value)})`
            )
          }
          if (options.onRetry !== undefined) yield* options.onRetry(task, at)
          return yield* new RetryRun({ instance: instance.id, error: outcome.error, retryAfter: outcome.retryAfter })
        }
      }
    }).pipe(Effect.annotateLogs({ instance: instance.id }))
  return TaskConsumer.make({
    name: instance.id,
    concurrency: instance.concurrency,
    retry: retrySchedule,
    consume
  })
}
