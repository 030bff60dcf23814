/**
 * `CollectorConsumer` — a collector instance (a collector and one of its
 * params) as a `TaskConsumer` named `collector` or `collector:param`, which
 * consumes the instance's scheduled runs. Its `consume` marks the instance's
 * planned run as started, runs the instance once through the
 * `CollectorRunner` (which always ends in an outcome) and hands the outcome
 * to `afterRun`, which the RayScheduler adapter uses to plan the job's next
 * task. A task that is no longer the job's planned run (`isPlanned`: a run
 * stored by an earlier process that the resume rule replaced) is skipped.
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { Task } from "../../scheduler/Task.js"
import * as TaskConsumer from "../../scheduler/TaskConsumer.js"
import type { CollectorRunnerService, Instance, RunOutcome } from "./CollectorRunner.js"
import type { PlannedRuns } from "./SchedulerAdapter.js"

/** Options of {@link make}. */
export interface CollectorConsumerOptions {
  readonly instance: Instance
  readonly runner: CollectorRunnerService
  /** The adapter's planned runs: the instance's is started when its task is consumed. */
  readonly planned: PlannedRuns
  /** Called after each run with the task that triggered it and the outcome. */
  readonly afterRun: (task: Task, outcome: RunOutcome) => Effect.Effect<void>
  /** Whether `task` is the job's planned run; a task that is not is skipped (logged). Default: every task is. */
  readonly isPlanned?: ((task: Task) => boolean) | undefined
}

/**
 * Builds the consumer. Its name is the instance id and its concurrency the
 * instance's (default 1). Fails with `InvalidConsumerError` if the
 * concurrency is not an integer ≥ 1.
 */
export const make = (
  options: CollectorConsumerOptions
): Effect.Effect<TaskConsumer.TaskConsumer, TaskConsumer.InvalidConsumerError> =>
  TaskConsumer.make({
    name: options.instance.id,
    concurrency: options.instance.concurrency,
    consume: (task) =>
      options.isPlanned !== undefined && !options.isPlanned(task)
        ? Effect.logInfo(
          `${options.instance.id}: skipping a run planned for ${
            DateTime.formatIso(task.scheduleAt)
          } by an earlier process: its next run was planned again at start`
        ).pipe(Effect.annotateLogs({ instance: options.instance.id }))
        : options.planned.starting(options.instance.id).pipe(
          Effect.zipRight(options.runner.run(options.instance)),
          Effect.flatMap((outcome) => options.afterRun(task, outcome))
        )
  })
