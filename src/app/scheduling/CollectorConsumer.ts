/**
 * `CollectorConsumer` — a collector instance (a collector and one of its
 * params) as a `TaskConsumer` named `collector` or `collector:param`. Its
 * `consume` marks the instance's planned run as started, runs the instance
 * once through the `CollectorRunner` (which always ends in an outcome) and
 * hands the outcome to `afterRun`, which the RayScheduler adapter uses to
 * plan the job's next task.
 */
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
      options.planned.starting(options.instance.id).pipe(
        Effect.zipRight(options.runner.run(options.instance)),
        Effect.flatMap((outcome) => options.afterRun(task, outcome))
      )
  })
