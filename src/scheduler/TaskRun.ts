/**
 * `TaskRun` — what a consumer can know about the run it is in: the task,
 * which attempt this is (1 for the first run; a task that was running when
 * its process died runs again with the next attempt, in the SQL layer) and
 * when the run started.
 *
 * ```ts
 * const consume = (task: Task) =>
 *   Effect.gen(function*() {
 *     const run = yield* TaskRun.current
 *     if (run.attempt > 1) yield* Effect.log(`retrying ${task.id}, attempt ${run.attempt}`)
 *   })
 * ```
 *
 * Read it in the consumer's own fiber (or a fiber it forked while the run
 * was going on): each worker fiber keeps one record that it updates for
 * each task it runs.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type { Task } from "./Task.js"

/**
 * The current run.
 *
 * @since 0.2.0
 * @category models
 */
export interface TaskRun {
  readonly task: Task
  /** 1 for the first run of this task, 2 for the next, … */
  readonly attempt: number
  /** When this run started (the scheduler's clock). */
  readonly startedAt: DateTime.Utc
}

/**
 * A worker's record of its current run, changed in place for each task (no
 * allocation of fiber state per task).
 *
 * @internal
 */
export class RunSlot {
  task: Task | undefined = undefined
  attempt = 0
  startedMillis = 0

  toRun(): TaskRun | undefined {
    return this.task === undefined
      ? undefined
      : { task: this.task, attempt: this.attempt, startedAt: DateTime.unsafeMake(this.startedMillis) }
  }
}

/** @internal */
export const currentSlot: FiberRef.FiberRef<RunSlot | undefined> = FiberRef.unsafeMake<RunSlot | undefined>(undefined)

/**
 * The run the calling fiber is part of, if any.
 *
 * @since 0.2.0
 * @category accessors
 */
export const currentOption: Effect.Effect<Option.Option<TaskRun>> = Effect.map(
  FiberRef.get(currentSlot),
  (slot) => Option.fromNullable(slot?.toRun())
)

/**
 * The run the calling fiber is part of; fails with `NoSuchElementException`
 * outside a task's run.
 *
 * @since 0.2.0
 * @category accessors
 */
export const current: Effect.Effect<TaskRun, Cause.NoSuchElementException> = Effect.flatMap(
  currentOption,
  Option.match({
    onNone: () => Effect.fail(new Cause.NoSuchElementException("TaskRun.current: not inside a task's run")),
    onSome: Effect.succeed
  })
)
