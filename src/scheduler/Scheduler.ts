/**
 * `Scheduler` — time-driven, concurrency-limited dispatch of tasks.
 *
 * Tasks fire in `scheduleAt` order, earliest first; equal instants fire in
 * submission order. A task due at or before now fires at once. At most
 * `concurrency` tasks of one source run at the same time, and sources do not
 * block each other. A task whose source has no registered consumer is
 * dropped, logged at Error level and counted. A consumer's failure, defect
 * or interruption is logged with its cause and counted; the scheduler keeps
 * going.
 *
 * ## The dispatcher's states
 *
 * One dispatcher fiber moves pending tasks from the heap to the sources'
 * ready queues. It is always in one of these states:
 *
 * - **idle** — running, and the heap is empty. The dispatcher waits on a
 *   fresh wake-up `Deferred`; the next `submit` completes it.
 *
 * - **sleeping** — running, and the earliest pending task is in the future.
 *   A timer fiber sleeps `Clock.sleep(until head is due)` (capped at
 *   `maxSleep`) and then completes the wake-up `Deferred`, which the
 *   dispatcher awaits. `submit` completes the
 *   Deferred only when the new task is due before the head it is sleeping
 *   on, so a burst of later submissions costs nothing. No polling.
 *
 * - **dispatching** — woken. In one atomic `Ref.modify` it pops every due
 *   task (up to `batchSize` per round), looks its source up in the
 *   `ConsumerRegistry` (read at dispatch time, so consumers may register
 *   after start), appends it to that source's ready queue and decides how
 *   many worker fibers to fork: never more than the source's free permits.
 *   Tasks with an unknown source are dropped here. Then it goes back to
 *   idle or sleeping (or dispatches the next batch after yielding).
 *
 * - **stopping** — `stop` was called: the dispatcher exits at once, no new
 *   task starts, and `stop` waits for the tasks already running to finish.
 *   Due tasks still waiting for a permit go back to the heap.
 *
 * - **stopped** — no dispatcher fiber. `submit` still accepts tasks; they
 *   wait in the heap until `start`.
 *
 * Consumption never runs on the dispatcher: each source has at most
 * `concurrency` worker fibers, each holding one permit of the source's
 * `Semaphore` and running that source's ready tasks one after another. Due
 * tasks beyond the permits wait as data in the ready queue, so 100k due
 * tasks on a concurrency-1 source use one worker fiber, not 100k.
 *
 * ## Time
 *
 * Time is read only through Effect's `Clock` (so `TestClock` drives it). If
 * the wall clock jumps forward, tasks whose instant was skipped fire at the
 * next wake-up (at most `maxSleep` later); if it jumps back, tasks fire when
 * the wall clock reaches their instant again.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ConsumerRegistry } from "./ConsumerRegistry.js"
import * as internal from "./internal/scheduler.js"
import type { Task } from "./Task.js"

/**
 * Dispatch lateness: the time between a task's due instant and the moment a
 * worker started it, in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface LatenessStats {
  /** Tasks measured (= started). */
  readonly count: number
  readonly totalMillis: number
  readonly meanMillis: number
  readonly maxMillis: number
}

/**
 * Counters of one source (or, in {@link SchedulerStats}, of all sources).
 *
 * @since 0.1.0
 * @category models
 */
export interface SourceStats {
  /** Tasks accepted by `submit` / `submitAll`. */
  readonly submitted: number
  /** Tasks handed to their consumer. */
  readonly started: number
  /** Tasks whose consumer succeeded. */
  readonly succeeded: number
  /** Tasks whose consumer failed, died or was interrupted. */
  readonly failed: number
  /** Tasks dropped because no consumer was registered for their source. */
  readonly dropped: number
  /** Tasks running now. */
  readonly inFlight: number
  /** Tasks submitted and not yet started or dropped (future or waiting for a permit). */
  readonly pending: number
  readonly lateness: LatenessStats
}

/**
 * A snapshot of the scheduler's counters.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchedulerStats extends SourceStats {
  readonly running: boolean
  /** Due instant of the earliest pending task. */
  readonly nextAt: Option.Option<DateTime.Utc>
  /** The same counters per source name. */
  readonly bySource: Readonly<Record<string, SourceStats>>
}

/**
 * The scheduler's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchedulerService {
  /** Adds a task. O(log n). Wakes the dispatcher if the task is due before the current head. */
  readonly submit: (task: Task) => Effect.Effect<void>
  /** Adds many tasks in one atomic step (they keep their iteration order on equal instants). */
  readonly submitAll: (tasks: Iterable<Task>) => Effect.Effect<void>
  /** Starts dispatching. Idempotent. */
  readonly start: Effect.Effect<void>
  /**
   * Stops dispatching at once and returns when the tasks already running
   * have finished. Pending tasks are kept for the next `start`. Idempotent.
   */
  readonly stop: Effect.Effect<void>
  readonly isRunning: Effect.Effect<boolean>
  /** Number of tasks submitted and not yet started or dropped. */
  readonly pending: Effect.Effect<number>
  /** Due instant of the earliest pending task. */
  readonly nextAt: Effect.Effect<Option.Option<DateTime.Utc>>
  readonly stats: Effect.Effect<SchedulerStats>
}

/**
 * Options of {@link make} and {@link layerWith}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchedulerOptions {
  /** Start dispatching when built. Default: `true`. */
  readonly autoStart?: boolean | undefined
  /**
   * Longest single dispatcher sleep. Bounds how late a task can fire after
   * the wall clock jumps forward or the machine resumes from suspend (timers
   * are monotonic), and keeps sleeps under the JS timer limit (~24.8 days).
   * Larger values mean fewer wake-ups, which matters when a test advances a
   * `TestClock` by days. Default: 1 minute.
   */
  readonly maxSleep?: Duration.DurationInput | undefined
  /**
   * Most due tasks moved to ready queues in one atomic round before the
   * dispatcher yields to other fibers. Default: 4096.
   */
  readonly batchSize?: number | undefined
}

/**
 * The scheduler service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Scheduler extends Context.Tag("ray-scheduler/Scheduler")<Scheduler, SchedulerService>() {
  /**
   * The scheduler with default options, started when built and stopped
   * (waiting for running tasks) when its scope closes.
   */
  static readonly layer: Layer.Layer<Scheduler, never, ConsumerRegistry> = Layer.scoped(Scheduler, internal.make())

  /** The scheduler with the given options. */
  static layerWith(options: SchedulerOptions): Layer.Layer<Scheduler, never, ConsumerRegistry> {
    return Layer.scoped(Scheduler, internal.make(options))
  }
}

/**
 * Builds a scheduler whose lifetime is the current scope: it is stopped
 * (waiting for running tasks) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: SchedulerOptions
) => Effect.Effect<SchedulerService, never, ConsumerRegistry | Scope.Scope> = internal.make

/**
 * Default of {@link SchedulerOptions.maxSleep}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxSleep: Duration.Duration = internal.defaultMaxSleep
