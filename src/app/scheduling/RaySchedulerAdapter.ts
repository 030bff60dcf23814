/**
 * The RayScheduler adapter: every collector instance is a `TaskConsumer`
 * named `collector` or `collector:param` on one core `Scheduler`. Each job
 * has at most one planned task: a run's consumer submits the job's next
 * task when it finishes (fixed rate, missed slots coalesced, retries clamped;
 * see `Timing.ts`), so tasks never pile up. Planning is supervised: see
 * docs/architecture.md, "Supervision".
 *
 * Two variants, one code path:
 *
 * - {@link makeSql} (`layerSql`, what the service runs): the durable
 *   scheduler (`Scheduler.makeSql`) on the application's database. A job's
 *   next run is a stored task whose id is derived from (job, instant)
 *   (`RunTasks.ts`), manual triggers are stored tasks too, and runs stored by
 *   an earlier process are reconciled with the resume rule at start. See
 *   docs/architecture.md, "Durable scheduling".
 * - {@link make} (`layer`): the in-memory scheduler; manual triggers go to
 *   the runner at once. For tests and embeddings without a database.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as ConsumerRegistry from "../../scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../scheduler/Scheduler.js"
import { Task } from "../../scheduler/Task.js"
import * as TaskConsumer from "../../scheduler/TaskConsumer.js"
import { JobStateStore } from "../storage/JobStateStore.js"
import { type StorageError, withBusyRetry } from "../storage/StorageError.js"
import * as CollectorConsumer from "./CollectorConsumer.js"
import type { Instance, UnknownInstanceError } from "./CollectorRunner.js"
import { CollectorRunner, RunOutcome } from "./CollectorRunner.js"
import { firstPlanned, plannedAfter } from "./Plan.js"
import * as RunTasks from "./RunTasks.js"
import * as SchedulerAdapter from "./SchedulerAdapter.js"
import { type Planned, retryDelay } from "./Timing.js"

/** Options of the RayScheduler adapter. */
export interface RayAdapterOptions {
  /** The core scheduler's `maxSleep`. Default: 1 minute. */
  readonly maxSleep?: Duration.DurationInput | undefined
}

/** Options of the durable RayScheduler adapter ({@link makeSql}). */
export interface DurableRayAdapterOptions extends RayAdapterOptions {
  /** Prefix of the store's tables in the database. Default: {@link defaultTablePrefix}. */
  readonly tablePrefix?: string | undefined
}

/** The default prefix of the durable store's tables: `ray_scheduler_` (`ray_scheduler_tasks`, ...). */
export const defaultTablePrefix = "ray_scheduler_"

/**
 * Most manual runs of one job whose consumers run at once. They only wait
 * for the runner (which runs one at a time and joins the waiting ones), so
 * the bound is only a safeguard.
 */
const manualConcurrency = 1000

/** Why a manual run of a stopping service did not happen, when its trigger is kept in the store. */
const keptReason = "the service is shutting down; the trigger is kept and runs when the service starts again"

/** The earlier of two instants, if any. */
const earlier = (a: Option.Option<DateTime.Utc>, b: Option.Option<DateTime.Utc>): Option.Option<DateTime.Utc> =>
  Option.isNone(a) ? b : Option.isNone(b) ? a : Option.some(DateTime.min(a.value, b.value))

const shuttingDown = (instance: string) => RunOutcome.Cancelled({ instance, reason: "the service is shutting down" })

/**
 * The adapter over a core scheduler that `makeScheduler` builds (not
 * started) on the registry it is given; `durable`: manual triggers are
 * stored tasks.
 */
const build = <E, R>(
  makeScheduler: Effect.Effect<Scheduler.SchedulerService, E, R>,
  durable: boolean
): Effect.Effect<
  SchedulerAdapter.SchedulerAdapterService,
  E,
  Exclude<R, ConsumerRegistry.ConsumerRegistry> | CollectorRunner | JobStateStore | Scope.Scope
> =>
  SchedulerAdapter.make((planned) =>
    Effect.gen(function*() {
      const runner = yield* CollectorRunner
      const store = yield* JobStateStore
      const registry = yield* ConsumerRegistry.make
      const scheduler = yield* makeScheduler.pipe(Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry))

      /** The id of each job's planned task: a scheduled task with another id is stale (see `CollectorConsumer`). */
      const current = new Map<string, string>()
      /** Set when `stop` begins: a manual run cancelled from then on is kept in the store. */
      let stopping = false
      /** The callers of each stored manual trigger of this process (by task id): its job and the outcome they wait for. */
      const waiting = new Map<string, { readonly instance: string; readonly outcome: Deferred.Deferred<RunOutcome> }>()
      /** Each job's manual trigger submitted and not started yet: further triggers join it. */
      const queued = new Map<string, { readonly taskId: string; readonly outcome: Deferred.Deferred<RunOutcome> }>()

      /**
       * Submits (commits, with the durable store) a task. A store locked by
       * another process is waited for up to `storage.busyTimeout`; the task's
       * id makes a retried submit harmless.
       */
      const submit = (task: Task) =>
        withBusyRetry(`submitting the task ${task.id} of ${task.source}`)(
          Effect.catchAllDefect(scheduler.submit(task), Effect.fail)
        )

      const submitRun = (instance: Instance, next: Planned) =>
        Effect.gen(function*() {
          const at = DateTime.unsafeMake(next.at)
          const task = yield* Task.create({
            id: RunTasks.scheduledRunId(instance.id, next.at),
            source: instance.id,
            args: { anchor: next.anchor },
            scheduleAt: at
          })
          current.set(instance.id, task.id)
          // planned from now on, while the durable store commits it (it may wait for a lock)
          yield* planned.plan(instance.id, at)
          yield* submit(task)
        })

      /** Jobs waiting to be planned again after a failed plan, until they are or the adapter stops. */
      const replanning = yield* FiberSet.make<void>()

      /**
       * Submits the job's next task. Should that fail (the durable store
       * stays locked beyond `storage.busyTimeout`, ...), the failure is
       * logged and the same run is submitted again after the retry floor —
       * in a fiber of its own, so that neither `start` nor the run's consumer
       * waits — until that succeeds or the service stops. Its id is the same,
       * so a submit that did commit after all is not doubled; if its instant
       * has passed meanwhile, it runs at once.
       */
      const plan = (instance: Instance, next: Planned): Effect.Effect<void> =>
        submitRun(instance, next).pipe(
          Effect.catchAllCause((cause) =>
            Effect.gen(function*() {
              if (stopping || (yield* runner.draining)) return
              const delay = retryDelay(Duration.zero, instance.interval, runner.retryPolicy)
              yield* Effect.logError(
                `${instance.id}: planning its next run failed; trying again in ${Duration.format(delay)}`,
                cause
              )
              yield* FiberSet.run(replanning, Effect.zipRight(Effect.sleep(delay), plan(instance, next)))
            })
          ),
          Effect.annotateLogs({ instance: instance.id })
        )

      const afterRun = (instance: Instance, anchor: number, outcome: RunOutcome) =>
        Effect.flatMap(
          plannedAfter(instance, anchor, outcome),
          Option.match({ onNone: () => Effect.void, onSome: (next) => plan(instance, next) })
        )

      for (const instance of runner.instances) {
        const consumer = yield* CollectorConsumer.make({
          instance,
          runner,
          planned,
          isPlanned: (task) => current.get(instance.id) === task.id,
          afterRun: (task, outcome) =>
            afterRun(instance, typeof task.args.anchor === "number" ? task.args.anchor : task.dueMillis, outcome)
        }).pipe(Effect.orDie) // names and concurrency come from a validated config
        yield* registry.register(consumer).pipe(Effect.orDie)
      }

      // ---- manual triggers (durable) ----------------------------------------

      /** Waits until the scheduler does not dispatch (any more). */
      const dispatchStopped: Effect.Effect<void> = Effect.flatMap(
        scheduler.isRunning,
        (running) => running ? Effect.zipRight(Effect.yieldNow(), dispatchStopped) : Effect.void
      )

      /**
       * A manual run cancelled by the shutdown stays in the store: a new
       * task, due when the trigger was (the scheduler no longer dispatches).
       */
      const keep = (task: Task, instance: string): Effect.Effect<RunOutcome> =>
        Effect.gen(function*() {
          // `stop` waits for dispatching to stop before it drains: the task cannot start again here
          if (yield* scheduler.isRunning) return yield* Effect.dieMessage("the scheduler still dispatches")
          yield* submit(yield* Task.create({ source: task.source, args: task.args, scheduleAt: task.scheduleAt }))
          return RunOutcome.Cancelled({ instance, reason: keptReason })
        }).pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(
              Effect.logError(`${instance}: the manual run cancelled by the shutdown could not be kept`, cause),
              shuttingDown(instance)
            )
          )
        )

      const manualConsumer = (instance: Instance) =>
        TaskConsumer.make({
          name: RunTasks.manualSource(instance.id),
          concurrency: manualConcurrency,
          consume: (task: Task) =>
            Effect.gen(function*() {
              if (queued.get(instance.id)?.taskId === task.id) queued.delete(instance.id)
              const outcome = yield* Effect.orDie(runner.runInstance(instance.id)) // a configured instance
              const reported = outcome._tag === "Cancelled" && stopping ? yield* keep(task, instance.id) : outcome
              const caller = waiting.get(task.id)
              waiting.delete(task.id)
              if (caller !== undefined) yield* Deferred.succeed(caller.outcome, reported)
            }).pipe(Effect.annotateLogs({ instance: instance.id }))
        })

      if (durable) {
        for (const instance of runner.instances) {
          yield* registry.register(yield* Effect.orDie(manualConsumer(instance))).pipe(Effect.orDie)
        }
      }

      /**
       * Stores a manual trigger and waits for its outcome. A trigger whose
       * task has not started yet is joined. If the task cannot be stored, the
       * run happens anyway, without the store.
       */
      const triggerStored = (id: string): Effect.Effect<RunOutcome, UnknownInstanceError> =>
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const instance = yield* runner.find(id)
            if (stopping || (yield* runner.draining)) return shuttingDown(id)
            const pending = queued.get(id)
            if (pending !== undefined) return yield* restore(Deferred.await(pending.outcome))
            const task = yield* Task.create({ source: RunTasks.manualSource(instance.id), args: {} })
            const outcome = Deferred.unsafeMake<RunOutcome>(FiberId.none)
            queued.set(id, { taskId: task.id, outcome })
            waiting.set(task.id, { instance: id, outcome })
            const stored = yield* Effect.either(submit(task))
            if (Either.isLeft(stored)) {
              queued.delete(id)
              waiting.delete(task.id)
              yield* Effect.logWarning(
                `${id}: the manual trigger could not be stored (${stored.left.message}); running it now`
              )
              yield* Deferred.complete(outcome, runner.runInstance(id).pipe(Effect.orDie))
            }
            return yield* restore(Deferred.await(outcome))
          })
        )

      /**
       * Jobs removed from the configuration may have runs in the store: their
       * sources get a consumer that drops them (logged) — rather than waiting
       * for a consumer and ending as `NoConsumer` dead letters.
       */
      const retireRemoved = Effect.gen(function*() {
        const stats = yield* scheduler.stats
        const registered = new Set((yield* registry.list).map((consumer) => consumer.name))
        for (const [source, counts] of Object.entries(stats.bySource)) {
          if (counts.pending === 0 || registered.has(source)) continue
          const { instance, manual } = RunTasks.instanceOfSource(source)
          const consumer = yield* TaskConsumer.make({
            name: source,
            consume: (task: Task) =>
              Effect.logInfo(
                `${instance} is no longer configured: its stored ${manual ? "manual" : "scheduled"} run (due ${
                  DateTime.formatIso(task.scheduleAt)
                }) is dropped`
              )
          }).pipe(Effect.orDie)
          yield* registry.register(consumer).pipe(Effect.orDie)
        }
      })

      return {
        type: "RayScheduler" as const,
        start: Effect.gen(function*() {
          yield* retireRemoved
          yield* Effect.forEach(
            runner.instances,
            (instance) => Effect.flatMap(firstPlanned(store, instance), (first) => plan(instance, first)),
            { discard: true }
          )
          yield* scheduler.start
        }),
        // Dispatching stops at once; the runs in flight get the shutdown timeout
        // (runner.drain) and the consumers waiting for them then return. Stored
        // manual triggers that did not run stay in the store for the next start.
        stop: Effect.gen(function*() {
          stopping = true
          yield* FiberSet.clear(replanning)
          const stoppingScheduler = yield* Effect.fork(scheduler.stop)
          // `stop` stops dispatching in its first step: only then drain, so that a manual run that is
          // kept for the next start (submitted again) is not dispatched again
          yield* dispatchStopped
          yield* runner.drain
          yield* Fiber.join(stoppingScheduler)
          // triggers whose task did not start: it stays in the store
          for (const { instance, outcome } of waiting.values()) {
            yield* Deferred.succeed(outcome, RunOutcome.Cancelled({ instance, reason: keptReason }))
          }
          waiting.clear()
          queued.clear()
        }),
        trigger: durable ? triggerStored : runner.runInstance,
        status: (runs, running) =>
          Effect.gen(function*() {
            const stats = yield* scheduler.stats
            return {
              running,
              registeredJobs: runner.instances.length,
              pendingTasks: stats.pending,
              // a run planned and not committed yet (the durable store waits for a lock) counts too
              nextRunAt: earlier(stats.nextAt, SchedulerAdapter.earliest(runs)),
              scheduler: Option.some(stats)
            }
          })
      }
    })
  ).pipe(Effect.annotateLogs({ module: "RaySchedulerAdapter" }))

/**
 * Builds the adapter on the in-memory scheduler, not started, with every
 * instance registered as a consumer; the core scheduler lives as long as
 * the current scope.
 */
export const make = (
  options: RayAdapterOptions = {}
): Effect.Effect<SchedulerAdapter.SchedulerAdapterService, never, CollectorRunner | JobStateStore | Scope.Scope> =>
  build(Scheduler.make({ autoStart: false, maxSleep: options.maxSleep }), false)

/**
 * Builds the adapter on the durable scheduler (`Scheduler.makeSql`, tables
 * `<tablePrefix>*` in the `SqlClient`'s database), not started. Building it
 * takes the store's lease and recovers the stored tasks; it fails with a
 * `StorageError` if the store is in use by another process (or the
 * database stays locked beyond `storage.busyTimeout`).
 */
export const makeSql = (
  options: DurableRayAdapterOptions = {}
): Effect.Effect<
  SchedulerAdapter.SchedulerAdapterService,
  StorageError,
  CollectorRunner | JobStateStore | SqlClient.SqlClient | Scope.Scope
> =>
  build(
    openStore({ autoStart: false, maxSleep: options.maxSleep, tablePrefix: options.tablePrefix ?? defaultTablePrefix }),
    true
  )

/**
 * The durable scheduler, built in the current scope. A database locked by
 * another process (a `rayinfo trigger` writing) is waited for up to
 * `storage.busyTimeout`, each attempt in a scope of its own; any failure —
 * the store in use by another scheduler, ... — is a `StorageError`.
 */
const openStore = (
  options: Scheduler.SqlSchedulerOptions
): Effect.Effect<
  Scheduler.SchedulerService,
  StorageError,
  ConsumerRegistry.ConsumerRegistry | SqlClient.SqlClient | Scope.Scope
> =>
  Effect.flatMap(Effect.scope, (scope) =>
    withBusyRetry("opening the scheduler's store")(
      Effect.flatMap(Scope.fork(scope, ExecutionStrategy.sequential), (attempt) =>
        Scheduler.makeSql(options).pipe(
          Scope.extend(attempt),
          Effect.onError((cause) => Scope.close(attempt, Exit.failCause(cause)))
        ))
    ))

/** The in-memory adapter as a layer, started when built (see `SchedulerAdapter`). */
export const layer = (
  options: RayAdapterOptions = {}
): Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore> =>
  SchedulerAdapter.layer(make(options))

/** The in-memory adapter as a layer, not started (see `SchedulerAdapter`). */
export const layerNotStarted = (
  options: RayAdapterOptions = {}
): Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore> =>
  SchedulerAdapter.layerNotStarted(make(options))

/** The durable adapter's layers: their store is the app's `SqlClient`. */
type DurableLayer = Layer.Layer<
  SchedulerAdapter.SchedulerAdapter,
  StorageError,
  CollectorRunner | JobStateStore | SqlClient.SqlClient
>

/** The durable adapter as a layer, started when built (see `SchedulerAdapter`). */
export const layerSql = (options: DurableRayAdapterOptions = {}): DurableLayer =>
  SchedulerAdapter.layer(makeSql(options))

/** The durable adapter as a layer, not started: what the service builds (see `SchedulerAdapter`). */
export const layerSqlNotStarted = (options: DurableRayAdapterOptions = {}): DurableLayer =>
  SchedulerAdapter.layerNotStarted(makeSql(options))
