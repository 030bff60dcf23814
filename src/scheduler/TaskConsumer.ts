/**
 * `TaskConsumer` — produces and consumes one kind of task.
 *
 * A consumer has a unique `name` (the `source` of its tasks), a
 * `concurrency` (how many of its tasks may run at once, ≥ 1, default 1),
 * `produce` to build a task for itself and `consume` to do the work.
 * Consumers are supplied to an application as Layers:
 *
 * ```ts
 * const Mailer = TaskConsumer.layer({
 *   name: "mailer",
 *   concurrency: 4,
 *   consume: (task) => sendMail(task.args)
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { DuplicateConsumerError } from "./ConsumerRegistry.js"
import { ConsumerRegistry } from "./ConsumerRegistry.js"
import {
  decodeRateLimit,
  decodeTimeout,
  type InvalidConsumerError,
  type TaskTimeoutError,
  type Unprovided,
  UnprovidedTypeId,
  validate
} from "./internal/consumer.js"
import type { JsonObject } from "./Task.js"
import { Task } from "./Task.js"

/**
 * Options of `produce`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProduceOptions {
  /** When the task is due. Default: now. */
  readonly scheduleAt?: DateTime.DateTime | undefined
}

/**
 * A registered consumer. Its requirements are already provided (captured
 * from the context its layer was built in), so the registry and the
 * scheduler store consumers with no requirements.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskConsumer<E = unknown> {
  /** Unique name; the `source` of this consumer's tasks. */
  readonly name: string
  /** Maximum number of this consumer's tasks running at once (≥ 1). */
  readonly concurrency: number
  /** Builds a task for this consumer. */
  readonly produce: (args?: JsonObject, options?: ProduceOptions) => Effect.Effect<Task>
  /** Does the work of one task. Failures, defects and interruptions are isolated by the scheduler. */
  readonly consume: (task: Task) => Effect.Effect<void, E>
  /** A run longer than this is interrupted and fails with {@link TaskTimeoutError}; undefined: no limit. */
  readonly timeout?: Duration.Duration | undefined
  /** At most `limit` runs start in any `interval`; undefined: no limit. */
  readonly rateLimit?: { readonly limit: number; readonly interval: Duration.Duration } | undefined
  /**
   * When a failed run is run again (its input: the run's failure, `E` or
   * {@link TaskTimeoutError}; typed `never` here so that every consumer fits
   * the registry); undefined: never.
   */
  readonly retry?: Schedule.Schedule<unknown, never> | undefined
}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskConsumerOptions<E, R> {
  /** Unique, non-empty name. */
  readonly name: string
  /** Maximum number of this consumer's tasks running at once: an integer ≥ 1. Default: `1`. */
  readonly concurrency?: number | undefined
  /** Does the work of one task. */
  readonly consume: (task: Task) => Effect.Effect<void, E, R>
  /**
   * Builds a task for this consumer. Default: `Task.create` with
   * `source = name`, the given `args` (default `{}`) and `scheduleAt`
   * (default now).
   */
  readonly produce?: ((args: JsonObject, options: ProduceOptions) => Effect.Effect<Task, never, R>) | undefined
  /**
   * The longest a run may take: a run still going after this long is
   * interrupted (its finalizers run, its permit is freed) and fails with
   * {@link TaskTimeoutError} (a failure like any other: a dead letter with
   * reason `Failed`). A duration > 0; infinite or absent: no limit. The
   * time spent waiting for a permit does not count.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * At most `limit` runs of this source start in any `interval` (a sliding
   * window over the last `limit` starts), on top of `concurrency`: 10 due
   * tasks with `{ limit: 2, interval: "1 second" }` start at 0, 0, 1, 1, 2,
   * 2, … s. Tasks held back wait, pending; no fiber waits for them. `limit`
   * an integer ≥ 1, `interval` a finite duration > 0.
   */
  readonly rateLimit?: { readonly limit: number; readonly interval: Duration.DurationInput } | undefined
  /**
   * Runs a failed task again: after a run fails (a typed failure, or a
   * {@link TaskTimeoutError}), the schedule is stepped with that failure; if
   * it continues, the task is due again after the delay it gives (a
   * persisted re-submit with the same id, not a sleep: a waiting retry holds
   * no permit, and in the SQL layer survives a restart); when it is done,
   * the task becomes a dead letter (`Failed`) with its last error and the
   * number of runs. `TaskRun.attempt` counts the runs (1, 2, …).
   *
   * Defects and interruptions are not retried: a defect is a bug (it goes to
   * the dead letters as `Died` at once). To retry one, turn it into a
   * failure in `consume` (e.g. `Effect.catchAllDefect`), then the schedule
   * decides. Each failure steps the schedule once from its state at the
   * previous failure; after a restart (SQL layer) that state is rebuilt by
   * replaying the schedule from its start (see docs/scheduler.md,
   * "Retries"). Example:
   * `Schedule.exponential("1 second").pipe(Schedule.compose(Schedule.recurs(3)))`
   * runs a failing task at 0, 1, 3 and 7 s, then dead-letters it (4 runs).
   */
  readonly retry?: Schedule.Schedule<unknown, E | TaskTimeoutError, R> | undefined
}

/**
 * Raised when consumer options are invalid (empty name, concurrency that is
 * not an integer ≥ 1), by {@link make} and by `ConsumerRegistry.register`.
 *
 * @since 0.1.0
 * @category errors
 */
export { InvalidConsumerError } from "./internal/consumer.js"

/**
 * The failure of a run that took longer than its consumer's `timeout`
 * (`taskId`, `source`, `timeout`).
 *
 * @since 0.1.0
 * @category errors
 */
export { TaskTimeoutError } from "./internal/consumer.js"

/**
 * Builds a consumer, capturing the requirements `R` of `consume` and
 * `produce` from the current context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(
  options: TaskConsumerOptions<E, R>
): Effect.Effect<TaskConsumer<E>, InvalidConsumerError, R> =>
  Effect.suspend(() => {
    const concurrency = options.concurrency ?? 1
    const invalid = validate(
      options.name,
      concurrency,
      options.consume,
      options.timeout,
      options.rateLimit,
      options.retry
    )
    if (invalid !== undefined) return Effect.fail(invalid)
    const timeout = decodeTimeout(options.timeout) as Duration.Duration | undefined
    const rateLimit = decodeRateLimit(options.rateLimit) as TaskConsumer["rateLimit"]
    return Effect.map(Effect.context<R>(), (context): TaskConsumer<E> & { readonly [UnprovidedTypeId]: Unprovided } => {
      const provide = <A, E1>(effect: Effect.Effect<A, E1, R>): Effect.Effect<A, E1> =>
        Effect.mapInputContext(effect, () => context)
      const produce = options.produce
      const unprovided: Unprovided = {
        consume: options.consume as Unprovided["consume"],
        context: context as Context.Context<never>
      }
      return {
        [UnprovidedTypeId]: unprovided,
        name: options.name,
        concurrency,
        timeout,
        rateLimit,
        retry: options.retry === undefined
          ? undefined
          : Schedule.provideContext(options.retry, context) as Schedule.Schedule<unknown, never>,
        consume: (task) => provide(options.consume(task)),
        produce: produce === undefined
          ? (args, produceOptions) =>
            Task.create({ source: options.name, args, scheduleAt: produceOptions?.scheduleAt })
          : (args, produceOptions) => provide(produce(args ?? {}, produceOptions ?? {}))
      }
    })
  })

/**
 * A layer that registers the consumer in the `ConsumerRegistry` when built
 * and unregisters it when released. Fails to build with
 * `InvalidConsumerError` for bad options and `DuplicateConsumerError` when
 * the name is taken.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  options: TaskConsumerOptions<E, R>
): Layer.Layer<never, InvalidConsumerError | DuplicateConsumerError, ConsumerRegistry | R> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry
      const consumer = yield* make(options)
      yield* Effect.acquireRelease(
        registry.register(consumer),
        () => registry.unregister(consumer.name, consumer)
      )
    })
  )
