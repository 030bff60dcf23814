/**
 * `Scheduler` — time-driven, concurrency-limited dispatch of tasks.
 *
 * Tasks fire in `scheduleAt` order, earliest first; equal instants fire in
 * submission order (within a source; sources do not wait for each other). A
 * task due at or before now fires at once. At most `concurrency` tasks of one
 * source run at the same time, and sources do not block each other. A task
 * whose source has no registered consumer is dropped, logged at Error level
 * and counted. A consumer's failure, defect or interruption is logged with
 * its cause and counted; the scheduler keeps going. Time is read only
 * through Effect's `Clock`, so `TestClock` drives it.
 *
 * How it works — the dispatcher's states, the lanes, why every transition is
 * atomic, what happens when the wall clock jumps — is described once, in
 * docs/architecture.md; the code is in `internal/`.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ConsumerRegistry } from "./ConsumerRegistry.js"
import * as internal from "./internal/scheduler.js"
import { declare, type InvalidScheduleError } from "./internal/schedules.js"
import * as internalSql from "./internal/sqlScheduler.js"
import type { InvalidTaskQueryError } from "./internal/taskQuery.js"
import type { JsonObject, Task } from "./Task.js"

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
  /** Submissions of a task whose `id` was pending or running: not added (a safe retry of a submit). */
  readonly duplicates: number
  /** Tasks cancelled (`cancel`): pending ones removed, running ones interrupted. */
  readonly cancelled: number
  /**
   * Failed runs that run again: their consumer's `retry` schedule gave them
   * a new due instant (each is also counted in `failed`; the task is pending
   * again, not submitted again).
   */
  readonly retried: number
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
  /**
   * Pending tasks of sources that have no consumer and are within their
   * grace period ({@link SchedulerOptions.noConsumerGrace}).
   */
  readonly waiting: number
  /**
   * Wall-clock jumps seen (NTP steps, manual changes, resume from suspend):
   * at a wake-up, wall-clock time had moved more than 1 second away from the
   * monotonic clock since the previous one. Each is logged once (Warning)
   * with its size.
   */
  readonly clockJumps: number
  /** Dead letters kept now. */
  readonly deadLetters: number
  /** Due instant of the earliest pending task. */
  readonly nextAt: Option.Option<DateTime.Utc>
  /** The same counters per source name. */
  readonly bySource: Readonly<Record<string, SourceStats>>
}

/**
 * Why a task became a dead letter.
 *
 * - `NoConsumer`: no consumer was registered for its source when it was due
 *   (after the grace period, if any).
 * - `Failed`: its consumer failed (a typed error, or a timeout), and its
 *   `retry` schedule, if any, was done.
 * - `Died`: its consumer died (a defect).
 * - `Interrupted`: its run was interrupted (e.g. by `stop` after the
 *   shutdown timeout, in the memory layer).
 *
 * @since 0.2.0
 * @category models
 */
export type DeadLetterReason = "NoConsumer" | "Failed" | "Died" | "Interrupted"

/**
 * A task that will not run again unless it is replayed.
 *
 * @since 0.2.0
 * @category models
 */
export interface DeadLetter {
  readonly task: Task
  readonly reason: DeadLetterReason
  /** What went wrong, one line (the failure's message, or why it was not run). */
  readonly error: string
  /** How many times it was started (0 for `NoConsumer`). */
  readonly attempts: number
  /** When it became a dead letter. */
  readonly at: DateTime.Utc
}

/**
 * What a schedule does with occurrences it missed — while the scheduler was
 * stopped or its process down, while the schedule's source was paused, or
 * in a span the wall clock jumped over:
 *
 * - `coalesce`: one catch-up run, for the newest missed occurrence within
 *   the grace period;
 * - `all`: a run for each missed occurrence within the grace period, oldest
 *   first, one after the other;
 * - `skip`: none.
 *
 * @since 0.3.0
 * @category models
 */
export type MisfirePolicy = "coalesce" | "all" | "skip"

/**
 * A recurring schedule: its occurrences become ordinary tasks of `source`
 * with id `<id>@<ISO instant>` (see docs/scheduler.md, "Schedules").
 *
 * @since 0.3.0
 * @category models
 */
export interface ScheduleOptions {
  /** The schedule's id: a non-empty string of at most 200 characters without control characters. */
  readonly id: string
  /** The consumer that runs the occurrences. */
  readonly source: string
  /** The occurrences' `args`. Default: `{}`. */
  readonly args?: JsonObject | undefined
  /**
   * A cron expression: 5 fields (minute hour day-of-month month
   * day-of-week), or 6 with seconds first, evaluated in `timeZone`. Exactly
   * one of `cron` and `every`.
   */
  readonly cron?: string | undefined
  /** A fixed period (≥ 1 ms), from the moment the schedule is declared (or `startAt`). Exactly one of `cron` and `every`. */
  readonly every?: Duration.DurationInput | undefined
  /**
   * When a new schedule starts (used only when it starts afresh: a new id, or
   * another timing; a re-declaration with the same timing keeps its state).
   * `every`: the first occurrence, or — if `startAt` is past — the last
   * instant of its grid (`startAt` + k × `every`) at or before now, due at
   * once (one run, then the grid goes on). `cron`: no occurrence before it.
   * Default: `every` — now + `every`; `cron` — now. Occurrences before the
   * declaration are never missed ones (unless it is made while the
   * scheduler is stopped: `start` applies the misfire rule).
   */
  readonly startAt?: DateTime.DateTime | undefined
  /** The IANA time zone `cron` is evaluated in (e.g. `"Europe/Berlin"`). Default: `"UTC"`. */
  readonly timeZone?: string | undefined
  /**
   * Missed occurrences: `policy` (default `"coalesce"`) and `grace` — an
   * occurrence older than this when it could run is never run (default:
   * no limit).
   */
  readonly misfire?: {
    readonly policy?: MisfirePolicy | undefined
    readonly grace?: Duration.DurationInput | undefined
  } | undefined
}

/**
 * A declared schedule, as `schedules` reports it.
 *
 * @since 0.3.0
 * @category models
 */
export interface ScheduleInfo {
  readonly id: string
  readonly source: string
  readonly args: JsonObject
  /** The cron expression, if the schedule has one. */
  readonly cron: string | undefined
  /** The period, if the schedule has one. */
  readonly every: Duration.Duration | undefined
  readonly timeZone: string
  readonly misfire: { readonly policy: MisfirePolicy; readonly grace: Duration.Duration }
  /** The next occurrence not handled yet (in the past while its source is paused or the scheduler stopped). */
  readonly nextRun: DateTime.Utc
  /** The id of the occurrence task pending or running now, if any. */
  readonly current: string | undefined
  /** Occurrences that became tasks (since this scheduler started). */
  readonly runs: number
  /** Occurrences skipped because the previous run was still pending or running. */
  readonly skippedOverlap: number
  /** Missed occurrences not run (the misfire policy, or older than the grace period). */
  readonly skippedMissed: number
}

/**
 * Whether a task is waiting (`"pending"`: for its instant, a permit, its
 * consumer, a paused source or a retry) or running (started and not ended).
 *
 * @since 0.5.0
 * @category models
 */
export type TaskState = "pending" | "running"

/**
 * A task pending or running, as the scheduler sees it (`tasks`, `task`).
 *
 * @since 0.5.0
 * @category models
 */
export interface TaskInfo {
  /** The task; its `scheduleAt` is its current due instant (a retry's, or a reschedule's). */
  readonly task: Task
  readonly state: TaskState
  /** When it is due: its `scheduleAt`; for a retry waiting, the retry's instant. */
  readonly dueAt: DateTime.Utc
  /** The run it is at: 1 for the first run, 2 and more for a retry (or, durable layers, a run again after a crash). */
  readonly attempt: number
}

/**
 * The options of `tasks`. Every filter is optional.
 *
 * @since 0.5.0
 * @category models
 */
export interface TaskQuery {
  /** Only the tasks of this source (exact). Default: all sources. */
  readonly source?: string | undefined
  /** Only the pending or only the running tasks. Default: both. */
  readonly state?: TaskState | undefined
  /** Only the tasks due before this instant (`dueAt` < `dueBefore`). Default: no bound. */
  readonly dueBefore?: DateTime.DateTime | undefined
  /** Most tasks in the page: an integer from 1 to 1000. Default: 100. */
  readonly limit?: number | undefined
  /** Where to go on: the `nextCursor` of the previous page (with the same filters). Default: the first page. */
  readonly cursor?: string | undefined
}

/**
 * A page of `tasks`: the tasks in the order they fall due (`dueAt`; ties in
 * submission order in the memory and SQL layers, by task id on a cluster),
 * and the cursor of the next page, if there are more tasks.
 *
 * @since 0.5.0
 * @category models
 */
export interface TaskPage {
  readonly tasks: ReadonlyArray<TaskInfo>
  /** Give it as `cursor` to read the next page; none when this page is the last. */
  readonly nextCursor: Option.Option<string>
}

/**
 * `tasks` was given an invalid query: `field` names the option (`source`,
 * `state`, `dueBefore`, `limit`, `cursor`) and `reason` what is wrong. A
 * `Schema.TaggedError` (it can go over the wire as it is).
 *
 * @since 0.5.0
 * @category errors
 */
export { InvalidTaskQueryError } from "./internal/taskQuery.js"

/**
 * `schedule` was given invalid options: `reason` names the field and what
 * is wrong (`id`, `reason`).
 *
 * @since 0.3.0
 * @category errors
 */
export { InvalidScheduleError } from "./internal/schedules.js"

/**
 * The scheduler's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchedulerService {
  /**
   * Adds a task, in one atomic step (O(1) for a task due after its source's
   * pending ones). Dies if the argument is not a `Task`, or if the
   * scheduler's scope is closed.
   */
  readonly submit: (task: Task) => Effect.Effect<void>
  /**
   * Adds many tasks in one atomic step: all of them or none (they keep their
   * iteration order on equal instants). The iterable is read first; if it
   * throws, or an element is not a `Task`, nothing is added and the call dies
   * with a defect saying why.
   */
  readonly submitAll: (tasks: Iterable<Task>) => Effect.Effect<void>
  /** Starts dispatching. Idempotent. Dies if the scheduler's scope is closed. */
  readonly start: Effect.Effect<void>
  /**
   * Stops dispatching at once and returns when the tasks already running
   * have finished — or, after `shutdownTimeout`, been interrupted. A caller
   * that interrupts `stop` (e.g. with `Effect.timeout`) interrupts the
   * running tasks. A task that calls `stop` is not waited for. Pending tasks
   * are kept for the next `start`. Idempotent.
   */
  readonly stop: Effect.Effect<void>
  readonly isRunning: Effect.Effect<boolean>
  /** Number of tasks submitted and not yet started or dropped. */
  readonly pending: Effect.Effect<number>
  /** Due instant of the earliest pending task. */
  readonly nextAt: Effect.Effect<Option.Option<DateTime.Utc>>
  readonly stats: Effect.Effect<SchedulerStats>
  /** The dead letters kept, oldest first. */
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>>
  /**
   * Submits the dead letter with this task id again, due now, and removes
   * it from the dead letters. `false` if there is no such dead letter (or a
   * task with that id is pending or running: then the dead letter is kept).
   */
  readonly replay: (taskId: string) => Effect.Effect<boolean>
  /**
   * Removes the dead letters older than `olderThan` (all of them when
   * omitted). Returns how many were removed.
   */
  readonly purgeDeadLetters: (olderThan?: Duration.DurationInput) => Effect.Effect<number>
  /**
   * Pauses a source: its due tasks wait (they stay pending, none is dropped)
   * and none of its tasks starts until `resume`; its running tasks finish.
   * A source without tasks or consumer can be paused too (its later tasks
   * wait). Pausing a paused source does nothing. Not persisted: a new
   * scheduler (a restart) starts with no source paused.
   */
  readonly pause: (source: string) => Effect.Effect<void>
  /** Resumes a paused source: its due tasks start at once (within its limits). Does nothing if it is not paused. */
  readonly resume: (source: string) => Effect.Effect<void>
  /** The sources paused now. */
  readonly paused: Effect.Effect<ReadonlySet<string>>
  /**
   * Cancels the task with this id: a pending one is removed; a running one
   * is interrupted (its finalizers run, its permit is freed) — `cancel`
   * returns once it ended. Counted in `cancelled`; not a dead letter, and
   * in the SQL layer it is not run again. `false` if no task with this id
   * is pending or running. A run that ends by itself while the cancel
   * reaches it keeps its outcome.
   */
  readonly cancel: (taskId: string) => Effect.Effect<boolean>
  /**
   * Moves the pending task with this id to `scheduleAt` (earlier or later).
   * `false` if no task with this id is pending (a running task is not
   * moved).
   */
  readonly reschedule: (taskId: string, scheduleAt: DateTime.DateTime) => Effect.Effect<boolean>
  /**
   * Declares a recurring schedule (or replaces the one with the same id):
   * each occurrence becomes a task of `source` with id `<id>@<ISO instant>`,
   * submitted when it is due. A run never starts while the schedule's
   * previous run is pending or running (the occurrence is skipped and
   * counted). Missed occurrences follow `misfire`. Re-declaring a schedule
   * with the same timing (`cron`/`every` and `timeZone`) keeps its next
   * occurrence, so an application can declare its schedules at every start;
   * another timing starts afresh from now. Durable in the SQL layer.
   */
  readonly schedule: (options: ScheduleOptions) => Effect.Effect<void, InvalidScheduleError>
  /**
   * Removes a schedule: no occurrence of it is submitted any more (one
   * already submitted stays an ordinary task: `cancel` it if need be).
   * `false` if there is no schedule with this id.
   */
  readonly unschedule: (id: string) => Effect.Effect<boolean>
  /** The declared schedules, by id. */
  readonly schedules: Effect.Effect<ReadonlyArray<ScheduleInfo>>
  /**
   * A page of the tasks pending or running, in the order they fall due (see {@link TaskPage}),
   * filtered by `query` (see {@link TaskQuery}); `nextCursor` reads on
   * (keyset paging: a page costs its size, not the tasks before it). A
   * snapshot per page: a task moved or started between two pages may be
   * missed or seen twice. Fails with `InvalidTaskQueryError` naming the
   * option that is invalid (a `limit` outside 1..1000, a `cursor` that no
   * page returned, ...).
   */
  readonly tasks: (query?: TaskQuery) => Effect.Effect<TaskPage, InvalidTaskQueryError>
  /** The task with this id if it is pending or running. */
  readonly task: (id: string) => Effect.Effect<Option.Option<TaskInfo>>
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
   * are monotonic). Larger values mean fewer wake-ups, which matters when a
   * test advances a `TestClock` by days. Values beyond the JS timer limit
   * (2^31 − 1 ms, ~24.8 days) are clamped to it. Must be positive.
   * Default: 1 minute.
   */
  readonly maxSleep?: Duration.DurationInput | undefined
  /**
   * Most lanes started, or due tasks of unknown sources dropped, in one
   * dispatch round before the dispatcher yields to other fibers. An integer
   * ≥ 1. Default: 4096.
   */
  readonly batchSize?: number | undefined
  /**
   * How long `stop` (and the release of a consumer's layer) waits for running
   * tasks before interrupting them. Default: no limit (`Duration.infinity`):
   * wait for them to end. A caller can also bound one `stop` with
   * `Effect.timeout`: interrupting `stop` interrupts the running tasks.
   */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /**
   * How long a source's worker with nothing due stays parked (holding its
   * permit, no timer of its own) before it leaves. A parked worker takes the
   * source's next due task without a new fiber, which makes a steady trickle
   * of tasks cheap. `0` turns parking off. Default: 1 second.
   */
  readonly workerIdleTimeout?: Duration.DurationInput | undefined
  /**
   * How long due tasks of a source with no registered consumer wait for one
   * before they become dead letters (`NoConsumer`), counted from the first
   * time the dispatcher finds the source due without a consumer; logged
   * once per source and counted in `waiting`. Default: 0 (at once) in the
   * memory layer, 30 seconds in the SQL layer (whose recovered tasks may be
   * due before the consumer layers are built).
   */
  readonly noConsumerGrace?: Duration.DurationInput | undefined
  /**
   * Update the `SchedulerMetrics` (Effect `Metric`s by source: outcomes,
   * pending and running, lateness and run duration, dead letters, clock
   * jumps) as tasks run. They cost about half of the drain throughput of
   * no-op tasks (docs/benchmarks.md); nothing for tasks that do real work.
   * Default: `false`.
   */
  readonly metrics?: boolean | undefined
  /**
   * Most tasks running at once across all sources, on top of each source's
   * `concurrency`: an integer ≥ 1, or `Infinity` (the default) for no such
   * cap. Due tasks beyond it wait (counted in `pending`) and start as runs
   * end; a source waiting for a slot gets the next one freed before a source
   * that just had one (first come, first served), so a busy source cannot
   * keep the slots.
   */
  readonly maxConcurrency?: number | undefined
  /**
   * How many dead letters the memory layer keeps (the oldest go first).
   * Default: 10,000. The SQL layer keeps all of them until purged.
   */
  readonly deadLetterLimit?: number | undefined
}

/**
 * Options of {@link makeSql} and {@link Scheduler.layerSql}: the memory
 * layer's options, plus the store's.
 *
 * @since 0.2.0
 * @category models
 */
export interface SqlSchedulerOptions extends SchedulerOptions {
  /**
   * Prefix of the store's table names (`<prefix>tasks`, `<prefix>dead_letters`,
   * `<prefix>schedules`, `<prefix>lease`, `<prefix>schema`), so the store can share a database
   * with an application. Letters, digits and `_`. Default: `"ray_scheduler_"`.
   */
  readonly tablePrefix?: string | undefined
  /**
   * Most pending tasks kept in memory: the earliest ones; the others stay in
   * the store and are loaded as the earlier ones start. An integer ≥ 1.
   * Default: 100,000.
   */
  readonly memoryWindow?: number | undefined
  /**
   * How long the store lease lasts without renewal (it is renewed every
   * third of it). A second scheduler on the same store fails to start while
   * the lease is held, unless its holder is a process of this machine that
   * no longer exists. Default: 30 seconds.
   */
  readonly leaseTtl?: Duration.DurationInput | undefined
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

  /**
   * The durable scheduler: its tasks and dead letters in SQL through
   * @effect/sql's `SqlClient` (SQLite through `@effect/sql-sqlite-node`, or
   * PostgreSQL through `@effect/sql-pg`, one node). It creates its tables,
   * takes the store's lease, recovers the tasks left by an earlier process
   * (those that were running run again, with the next attempt) and starts.
   * `submit` returns once the task is committed. See docs/scheduler.md,
   * "Durability".
   */
  static layerSql(
    options?: SqlSchedulerOptions
  ): Layer.Layer<Scheduler, SqlError, ConsumerRegistry | SqlClient.SqlClient> {
    return Layer.scoped(Scheduler, internalSql.make(options))
  }
}

/**
 * Builds a durable scheduler (see {@link Scheduler.layerSql}) whose lifetime
 * is the current scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeSql: (
  options?: SqlSchedulerOptions
) => Effect.Effect<SchedulerService, SqlError, ConsumerRegistry | SqlClient.SqlClient | Scope.Scope> = internalSql.make

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
 * Checks `schedule`'s options without a scheduler (e.g. to validate an
 * application's configuration at load): the error `schedule` would fail
 * with, or none. Pure.
 *
 * @since 0.3.0
 * @category validation
 */
export const validateSchedule = (options: ScheduleOptions): Option.Option<InvalidScheduleError> =>
  Either.match(declare(options), { onLeft: Option.some, onRight: () => Option.none() })

/**
 * Default of {@link SchedulerOptions.maxSleep}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxSleep: Duration.Duration = internal.defaultMaxSleep
