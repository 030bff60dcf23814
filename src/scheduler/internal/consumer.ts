/**
 * Consumer internals shared by `TaskConsumer`, `ConsumerRegistry` and the
 * scheduler: the validation of a consumer, and the performance hook that
 * lets a worker provide a consumer's captured context once for its whole
 * life instead of once per task (in Effect 3 switching the context copies
 * the fiber's FiberRefs, which costs more than a no-op task).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Task } from "../Task.js"
import type { TaskConsumer } from "../TaskConsumer.js"

/**
 * Raised when a consumer is invalid (empty name, concurrency that is not an
 * integer ≥ 1, `consume` not a function), by `TaskConsumer.make` and by
 * `ConsumerRegistry.register`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConsumerError extends Data.TaggedError("InvalidConsumerError")<{
  readonly name: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid consumer ${JSON.stringify(this.name)}: ${this.reason}`
  }
}

/**
 * A run of a consumer with a `timeout` took longer: it was interrupted (its
 * finalizers ran) and counts as a failure.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskTimeoutError extends Data.TaggedError("TaskTimeoutError")<{
  readonly taskId: string
  readonly source: string
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `task ${this.taskId} of ${JSON.stringify(this.source)} ran longer than its timeout of ${
      Duration.format(this.timeout)
    } and was interrupted`
  }
}

/**
 * A consumer's `timeout` option decoded: undefined for none (or infinite); a
 * string for what is wrong. @internal
 */
export const decodeTimeout = (input: unknown): Duration.Duration | undefined | string => {
  if (input === undefined) return undefined
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None") {
    return `timeout must be a duration (e.g. "30 seconds" or a number of milliseconds), got ${describeValue(input)}`
  }
  const duration = decoded.value
  if (!Duration.isFinite(duration)) return undefined
  if (Duration.toMillis(duration) <= 0) {
    return `timeout must be longer than 0, got ${Duration.format(duration)}`
  }
  return duration
}

/** A value as a message shows it: its JSON, or its string form. @internal */
export const describeValue = (input: unknown): string => {
  try {
    return JSON.stringify(input) ?? String(input)
  } catch {
    return String(input)
  }
}

/** A consumer's rate limit, decoded. @internal */
export interface RateLimit {
  readonly limit: number
  readonly interval: Duration.Duration
}

/** A consumer's `rateLimit` option decoded: undefined for none; a string for what is wrong. @internal */
export const decodeRateLimit = (input: unknown): RateLimit | undefined | string => {
  if (input === undefined) return undefined
  if (typeof input !== "object" || input === null) {
    return `rateLimit must be { limit, interval }, got ${describeValue(input)}`
  }
  const { interval, limit } = input as { readonly limit?: unknown; readonly interval?: unknown }
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1) {
    return `rateLimit.limit must be an integer >= 1, got ${describeValue(limit)}`
  }
  const decoded = Duration.decodeUnknown(interval)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
    return `rateLimit.interval must be a finite duration longer than 0 (e.g. "1 second"), got ${
      describeValue(interval)
    }`
  }
  return { limit, interval: decoded.value }
}

/** What is wrong with a consumer's name, concurrency, consume, timeout, rate limit and retry, if anything. @internal */
export const validate = (
  name: unknown,
  concurrency: unknown,
  consume: unknown,
  timeout?: unknown,
  rateLimit?: unknown,
  retry?: unknown
): InvalidConsumerError | undefined => {
  if (typeof name !== "string" || name.length === 0) {
    return new InvalidConsumerError({ name: String(name), reason: "name must be a non-empty string" })
  }
  if (typeof concurrency !== "number" || !Number.isSafeInteger(concurrency) || concurrency < 1) {
    return new InvalidConsumerError({
      name,
      reason: `concurrency must be an integer >= 1, got ${String(concurrency)}`
    })
  }
  if (typeof consume !== "function") {
    return new InvalidConsumerError({ name, reason: "consume must be a function" })
  }
  const decoded = decodeTimeout(timeout)
  if (typeof decoded === "string") return new InvalidConsumerError({ name, reason: decoded })
  const rate = decodeRateLimit(rateLimit)
  if (typeof rate === "string") return new InvalidConsumerError({ name, reason: rate })
  if (retry !== undefined && !Schedule.isSchedule(retry)) {
    return new InvalidConsumerError({
      name,
      reason: `retry must be a Schedule (from effect/Schedule), got ${describeValue(retry)}`
    })
  }
  return undefined
}

/** @internal */
export const UnprovidedTypeId: unique symbol = Symbol.for("ray-scheduler/TaskConsumer/Unprovided")

/** A consumer's `consume` before its captured context was provided, with that context. @internal */
export interface Unprovided {
  readonly consume: (task: Task) => Effect.Effect<void, unknown, never>
  readonly context: Context.Context<never>
}

/** The unprovided form of a consumer built by `TaskConsumer.make`; undefined for one built by hand. @internal */
export const unprovided = (consumer: TaskConsumer): Unprovided | undefined =>
  (consumer as { readonly [UnprovidedTypeId]?: Unprovided })[UnprovidedTypeId]

/**
 * `consume(task)` bounded by `timeout` (a `TaskTimeoutError` beyond it); a
 * `consume` that throws instead of returning an Effect is a defect of that
 * task only. What every layer runs for one task (the local workers, the
 * cluster's entity handler).
 *
 * @internal
 */
export const consumeWithin = (
  consume: (task: Task) => Effect.Effect<void, unknown>,
  timeout: Duration.Duration | undefined,
  task: Task
): Effect.Effect<void, unknown> => {
  try {
    const effect = consume(task)
    return timeout === undefined ? effect : Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () => new TaskTimeoutError({ taskId: task.id, source: task.source, timeout })
    })
  } catch (defect) {
    return Effect.die(defect)
  }
}

/** The tracer of a program that installed none (Effect's native one): no one collects its spans. */
const defaultTracer = Effect.runSync(Effect.tracer)

/**
 * Whether the current context has a tracer of its own (e.g.
 * `@effect/opentelemetry`'s): then each run gets a span ({@link traced});
 * with Effect's default tracer nobody reads them, and they are not made.
 *
 * @internal
 */
export const tracingEnabled: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== defaultTracer)

/**
 * A task's run in a span `RayScheduler.run` (kind `consumer`) with the
 * task's source, id, run number and lateness: the consumer's own spans are
 * its children. docs/operations.md, "Tracing".
 *
 * @internal
 */
export const traced = (
  run: Effect.Effect<void, unknown>,
  task: Task,
  attempt: number,
  latenessMillis: number
): Effect.Effect<void, unknown> =>
  Effect.withSpan(run, "RayScheduler.run", {
    kind: "consumer",
    attributes: {
      "ray_scheduler.source": task.source,
      "ray_scheduler.task_id": task.id,
      "ray_scheduler.attempt": attempt,
      "ray_scheduler.lateness_ms": Math.max(0, latenessMillis)
    }
  })

/**
 * What a consumer's `retry` schedule is stepped with after a failed run:
 * the typed failure (or `TaskTimeoutError`); none for a defect or an
 * interruption, which are not retried (docs/scheduler.md, "Retries").
 *
 * @internal
 */
export const retryable = (cause: Cause.Cause<unknown>): Option.Option<unknown> =>
  Cause.isDie(cause) || Cause.isInterrupted(cause) ? Option.none() : Cause.failureOption(cause)
