/**
 * The RayScheduler adapter: every collector instance is a `TaskConsumer`
 * named `collector` or `collector:param` (`CollectorConsumer`) on one core
 * `Scheduler`, and a library schedule (`Scheduler.schedule`: every
 * interval, or cron times in a zone; the collector's misfire rule) whose
 * occurrences it consumes. A run's outcome becomes the task's result: a
 * `Retry` re-runs the same occurrence through the consumer's `retry`
 * schedule. See docs/architecture.md, "Durable scheduling" (the start
 * order, migration, removed jobs, manual triggers) and "Supervision".
 *
 * Two variants, one code path:
 *
 * - {@link makeSql} (`layerSql`, what the service runs): the durable
 *   scheduler (`Scheduler.makeSql`) on the application's database: the
 *   schedules, their waiting retries and manual triggers are stored.
 * - {@link make} (`layer`): the in-memory scheduler; manual triggers go to
 *   the runner at once. For tests and embeddings without a database.
 */
import type * as Sharding from "@effect/cluster/Sharding"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
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
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as ClusterScheduler from "../../scheduler/ClusterScheduler.js"
import * as ConsumerRegistry from "../../scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../scheduler/Scheduler.js"
import { Task } from "../../scheduler/Task.js"
import * as TaskConsumer from "../../scheduler/TaskConsumer.js"
import { JobStateStore } from "../storage/JobStateStore.js"
import { type StorageError, withBusyRetry } from "../storage/StorageError.js"
import * as ClusterJobs from "./ClusterJobs.js"
import * as CollectorConsumer from "./CollectorConsumer.js"
import type { Instance, UnknownInstanceError } from "./CollectorRunner.js"
import { CollectorRunner, retryCapBase, RunOutcome } from "./CollectorRunner.js"
import { firstPlanned } from "./Plan.js"
import * as RunTasks from "./RunTasks.js"
import * as SchedulerAdapter from "./SchedulerAdapter.js"
import { retryDelay } from "./Timing.js"

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

/** Options of the cluster adapter ({@link makeCluster}). */
export interface ClusterRayAdapterOptions {
  /** How long stopping waits for this runner's running tasks (`ClusterScheduler`'s `shutdownTimeout`). */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /** This runner's name in the tasks table: its address, so that `/status` can name who runs what. */
  readonly runnerName: string
}

/** The cluster's view for `status`: the `ClusterStatus`, and each job's earliest waiting retry. */
interface ClusterView {
  readonly status: SchedulerAdapter.ClusterStatus
  readonly retries: ReadonlyMap<string, DateTime.Utc>
}

/**
 * How manual triggers run: handed to the runner at once (`Direct`, in
 * memory), stored as tasks and run by a consumer (`Stored`, the durable
 * store), or sent to the runner holding the job (`Routed`, a cluster;
 * `view` says who holds what).
 */
type Manual =
  | { readonly _tag: "Direct" }
  | { readonly _tag: "Stored" }
  | {
    readonly _tag: "Routed"
    readonly send: (id: string) => Effect.Effect<RunOutcome>
    readonly view: (ids: ReadonlyArray<string>) => Effect.Effect<ClusterView>
  }

/** How long `status` waits for the schedules (on a cluster, an rpc to the runner hosting them). */
const schedulesTimeout = Duration.seconds(5)

/**
 * The adapter over a core scheduler that `makeScheduler` builds (not
 * started) on the registry it is given; `manual`: how manual triggers run.
 */
const build = <E, R>(
  makeScheduler: Effect.Effect<Scheduler.SchedulerService, E, R>,
  manual: Manual
): Effect.Effect<
  SchedulerAdapter.SchedulerAdapterService,
  E,
  Exclude<R, ConsumerRegistry.ConsumerRegistry> | CollectorRunner | JobStateStore | Scope.Scope
> =>
  SchedulerAdapter.make(
    Effect.gen(function*() {
      const runner = yield* CollectorRunner
      const store = yield* JobStateStore
      const registry = yield* ConsumerRegistry.make
      const scheduler = yield* makeScheduler.pipe(Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry))

      /** Set when `stop` begins: a manual run cancelled from then on is kept in the store. */
      let stopping = false
      /** The callers of each stored manual trigger of this process (by task id): its job and the outcome they wait for. */
      const waiting = new Map<string, { readonly instance: string; readonly outcome: Deferred.Deferred<RunOutcome> }>()
      /** Each job's manual trigger submitted and not started yet: further triggers join it. */
      const queued = new Map<string, { readonly taskId: string; readonly outcome: Deferred.Deferred<RunOutcome> }>()
      /** When each job's waiting retry (made in this process) is due, until its run starts. */
      const retrying = new Map<string, DateTime.Utc>()

      /**
       * Submits (commits, with the durable store) a task. A store locked by
       * another process is waited for up to `storage.busyTimeout`; the task's
       * id makes a retried submit harmless.
       */
      const submit = (task: Task) =>
        withBusyRetry(`submitting the task ${task.id} of ${task.source}`)(
          Effect.catchAllDefect(scheduler.submit(task), Effect.fail)
        )

      /** Each configured job's schedule id, by instance id (a hash for a long id: computed once). */
      const scheduleIds = new Map(runner.instances.map((instance) => [instance.id, RunTasks.scheduleIdOf(instance.id)]))

      /** Each configured job's schedule, by instance id. */
      const schedulesByInstance: Effect.Effect<ReadonlyMap<string, Scheduler.ScheduleInfo>> = Effect.map(
        scheduler.schedules,
        (list) => {
          const byId = new Map(list.map((info) => [info.id, info]))
          const found = new Map<string, Scheduler.ScheduleInfo>()
          for (const [instance, id] of scheduleIds) {
            const info = byId.get(id)
            if (info !== undefined) found.set(instance, info)
          }
          return found
        }
      )

      const nextRunOf = (instance: Instance): Effect.Effect<Option.Option<DateTime.Utc>> => {
        const id = scheduleIds.get(instance.id)
        return Effect.map(scheduler.schedules, (list) =>
          Option.fromNullable(list.find((info) => info.id === id)?.nextRun))
      }

      /** The library schedule of a job; `startAt` seeds a new (or retimed) interval schedule. */
      const scheduleOptions = (instance: Instance, startAt: DateTime.Utc | undefined): Scheduler.ScheduleOptions => ({
        id: scheduleIds.get(instance.id)!,
        source: instance.id,
        ...(instance.timing._tag === "Every"
          ? { every: instance.timing.interval, startAt }
          : { cron: instance.timing.cron, timeZone: instance.timing.timeZone }),
        misfire: { policy: instance.misfire.policy, grace: instance.misfire.grace }
      })

      /** Whether a stored schedule has the job's configured timing (then re-declaring it keeps its next run). */
      const sameTiming = (info: Scheduler.ScheduleInfo, instance: Instance): boolean =>
        instance.timing._tag === "Every"
          ? info.every !== undefined && Duration.equals(info.every, instance.timing.interval)
          : info.cron === instance.timing.cron && info.timeZone === instance.timing.timeZone

      /**
       * Where a new interval schedule starts: the resume rule from the job's
       * last run (`Plan.firstPlanned`: never run or overdue → now; else last
       * run + interval). A cron job runs at its cron times only.
       */
      const startAtOf = (instance: Instance): Effect.Effect<DateTime.Utc | undefined> =>
        instance.timing._tag === "Every"
          ? Effect.map(firstPlanned(store, instance), (first) =>
            DateTime.unsafeMake(first.at))
          : Effect.succeed(undefined)

      /** Jobs whose declaration failed, declared again after the retry floor until it commits or the adapter stops. */
      const redeclaring = yield* FiberSet.make<void>()

      /**
       * Declares the job's schedule (commits it, with the durable store; a
       * store locked by another process is waited for up to
       * `storage.busyTimeout`). Should that fail, the failure is logged and
       * the declaration is made again after the retry floor — in a fiber of
       * its own, so that `start` does not wait — until it commits or the
       * service stops. Re-declaring is harmless: same id, same timing.
       */
      const declare = (instance: Instance, fresh: boolean): Effect.Effect<void> =>
        Effect.gen(function*() {
          const options = scheduleOptions(instance, fresh ? yield* startAtOf(instance) : undefined)
          yield* withBusyRetry(`declaring the schedule of ${instance.id}`)(
            Effect.catchAllDefect(scheduler.schedule(options), Effect.fail)
          )
        }).pipe(
          Effect.catchAllCause((cause) =>
            Effect.gen(function*() {
              if (stopping || (yield* runner.draining)) return
              const delay = retryDelay(Duration.zero, retryCapBase(instance.timing), runner.retryPolicy)
              yield* Effect.logError(
                `${instance.id}: declaring its schedule failed; trying again in ${Duration.format(delay)}`,
                cause
              )
              yield* FiberSet.run(redeclaring, Effect.zipRight(Effect.sleep(delay), declare(instance, fresh)))
            })
          ),
          Effect.annotateLogs({ instance: instance.id })
        )

      for (const instance of runner.instances) {
        const consumer = yield* CollectorConsumer.make({
          instance,
          runner,
          nextRun: nextRunOf(instance),
          onStart: () => Effect.sync(() => void retrying.delete(instance.id)),
          onRetry: (_, at) => Effect.sync(() => void retrying.set(instance.id, at))
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

      if (manual._tag === "Stored") {
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

      /**
       * Stored schedules of jobs no longer configured are removed (their
       * pending occurrence is then dropped by `retireRemoved`).
       */
      const unscheduleRemoved = (stored: ReadonlyArray<Scheduler.ScheduleInfo>) =>
        Effect.forEach(stored, (info) => {
          const configured = scheduleIds.get(info.source) === info.id
          return configured ? Effect.void : Effect.zipRight(
            Effect.ignore(
              withBusyRetry(`removing the schedule ${info.id}`)(
                Effect.catchAllDefect(scheduler.unschedule(info.id), Effect.fail)
              )
            ),
            Effect.logInfo(`${info.source} is no longer configured: its schedule ${JSON.stringify(info.id)} is removed`)
          )
        }, { discard: true })

      return {
        type: "RayScheduler" as const,
        scheduler: Option.some(scheduler),
        // The order matters: `scheduler.start` counts every occurrence before it as missed (the misfire
        // rule). Stored schedules with the configured timing are declared again first (their misfire rule is
        // the configured one at start); new and retimed ones after it, so that a first run due now is on time.
        start: Effect.gen(function*() {
          const stored = yield* scheduler.schedules
          yield* unscheduleRemoved(stored)
          yield* retireRemoved
          const storedById = new Map(stored.map((info) => [info.id, info]))
          const kept = runner.instances.filter((instance) => {
            const info = storedById.get(scheduleIds.get(instance.id)!)
            return info !== undefined && info.source === instance.id && sameTiming(info, instance)
          })
          yield* Effect.forEach(kept, (instance) => declare(instance, false), { discard: true })
          yield* scheduler.start
          const keptIds = new Set(kept.map((instance) => instance.id))
          yield* Effect.forEach(
            runner.instances.filter((instance) => !keptIds.has(instance.id)),
            (instance) => declare(instance, true),
            { discard: true }
          )
        }),
        // Dispatching stops at once; the runs in flight get the shutdown timeout
        // (runner.drain) and the consumers waiting for them then return. Stored
        // manual triggers that did not run stay in the store for the next start.
        stop: Effect.gen(function*() {
          stopping = true
          yield* FiberSet.clear(redeclaring)
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
          retrying.clear()
        }),
        trigger: manual._tag === "Stored"
          ? triggerStored
          : manual._tag === "Direct"
          ? runner.runInstance
          : (id: string) =>
            Effect.gen(function*() {
              yield* runner.find(id) // the same configuration on every runner
              if (stopping || (yield* runner.draining)) return shuttingDown(id)
              return yield* manual.send(id)
            }),
        status: (running) =>
          Effect.gen(function*() {
            const stats = yield* scheduler.stats
            const schedules = yield* schedulesByInstance.pipe(
              Effect.timeout(schedulesTimeout),
              Effect.catchAllCause((cause) =>
                Effect.as(
                  Effect.logWarning("status: the schedules could not be read", cause),
                  new Map<string, Scheduler.ScheduleInfo>()
                )
              )
            )
            const view = manual._tag === "Routed"
              ? Option.some(yield* manual.view(runner.instances.map((instance) => instance.id)))
              : Option.none()
            // waiting retries: on a cluster, any runner's (stored); else this process's
            const retries: ReadonlyMap<string, DateTime.Utc> = Option.match(view, {
              onNone: () => retrying,
              onSome: (v) => v.retries
            })
            // each job's next run: its next occurrence, or its waiting retry if earlier (none once stopped)
            const planned = new Map<string, DateTime.Utc>()
            if (running) {
              for (const [id, info] of schedules) {
                const next = earlier(Option.some(info.nextRun), Option.fromNullable(retries.get(id)))
                if (Option.isSome(next)) planned.set(id, next.value)
              }
            }
            return {
              running,
              registeredJobs: runner.instances.length,
              pendingTasks: stats.pending,
              nextRunAt: earlier(stats.nextAt, SchedulerAdapter.earliest(planned)),
              planned,
              retries: running ? new Map(retries) : new Map(),
              schedules,
              scheduler: Option.some(stats),
              cluster: Option.map(view, (v) => v.status)
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
  build(Scheduler.make({ autoStart: false, maxSleep: options.maxSleep, metrics: true }), { _tag: "Direct" })

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
    openStore({
      autoStart: false,
      maxSleep: options.maxSleep,
      tablePrefix: options.tablePrefix ?? defaultTablePrefix,
      metrics: true
    }),
    { _tag: "Stored" }
  )

/** What the cluster adapter needs: a runner of the cluster with the cluster scheduler's storage. */
export type ClusterRequirements =
  | Sharding.Sharding
  | ShardingConfig.ShardingConfig
  | ClusterScheduler.ClusterStorage

/**
 * Builds the adapter on the cluster (`ClusterScheduler.layer` on this
 * runner), not started: the jobs' schedules fire once per occurrence in the
 * cluster, each job runs on the runner holding its source, and a manual
 * trigger is sent to that runner (`ClusterJobs`).
 */
export const makeCluster = (
  options: ClusterRayAdapterOptions
): Effect.Effect<
  SchedulerAdapter.SchedulerAdapterService,
  never,
  CollectorRunner | JobStateStore | ClusterRequirements | Scope.Scope
> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<ClusterRequirements>()
    yield* Layer.buildWithScope(ClusterJobs.layer, yield* Effect.scope)
    const send = yield* ClusterJobs.trigger()
    const view = (ids: ReadonlyArray<string>): Effect.Effect<ClusterView> =>
      ClusterScheduler.topology(ids).pipe(
        Effect.provide(context),
        Effect.map((topology): ClusterView => {
          const jobs = new Map<string, { holder: Option.Option<string>; runningOn: ReadonlyArray<string> }>()
          const retries = new Map<string, DateTime.Utc>()
          for (const [id, source] of topology.sources) {
            jobs.set(id, { holder: source.holder, runningOn: source.running.map((run) => run.runner) })
            if (Option.isSome(source.retryAt)) retries.set(id, source.retryAt.value)
          }
          return {
            status: {
              self: options.runnerName,
              runners: topology.runners,
              schedulesHost: topology.schedulesHost,
              jobs,
              problem: Option.none()
            },
            retries
          }
        }),
        Effect.catchAllCause((cause) =>
          Effect.as(Effect.logWarning("status: the cluster's tables could not be read", cause), {
            status: {
              self: options.runnerName,
              runners: [],
              schedulesHost: Option.none(),
              jobs: new Map(),
              problem: Option.some(Cause.pretty(cause).split("\n")[0] ?? "unknown")
            },
            retries: new Map()
          })
        )
      )
    const scheduler = Effect.map(
      Layer.build(ClusterScheduler.layer({
        autoStart: false,
        shutdownTimeout: options.shutdownTimeout,
        runnerName: options.runnerName,
        metrics: true
      })),
      (built) => Context.get(built, Scheduler.Scheduler)
    )
    return yield* build(scheduler, { _tag: "Routed", send, view })
  })

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

/** The cluster adapter as a layer, not started: what the service builds in cluster mode (see `SchedulerAdapter`). */
export const layerClusterNotStarted = (
  options: ClusterRayAdapterOptions
): Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore | ClusterRequirements> =>
  SchedulerAdapter.layerNotStarted(makeCluster(options))

/** The durable adapter as a layer, not started: what the service builds (see `SchedulerAdapter`). */
export const layerSqlNotStarted = (options: DurableRayAdapterOptions = {}): DurableLayer =>
  SchedulerAdapter.layerNotStarted(makeSql(options))
