/**
 * The RayScheduler adapter: every collector instance is a `TaskConsumer`
 * named `collector` or `collector:param` on one core `Scheduler`. Each job
 * has at most one pending task: a run's consumer submits the job's next
 * task when it finishes (fixed rate, missed slots coalesced, retries clamped;
 * see `Timing.ts`), so tasks never pile up. Planning is supervised: see
 * docs/architecture.md, "Supervision".
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as ConsumerRegistry from "../../scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../scheduler/Scheduler.js"
import { Task } from "../../scheduler/Task.js"
import { JobStateStore } from "../storage/JobStateStore.js"
import * as CollectorConsumer from "./CollectorConsumer.js"
import type { Instance, RunOutcome } from "./CollectorRunner.js"
import { CollectorRunner } from "./CollectorRunner.js"
import { firstPlanned, plannedAfter } from "./Plan.js"
import { SchedulerAdapter, type SchedulerAdapterService } from "./SchedulerAdapter.js"
import { type Planned, retryAt, retryDelay } from "./Timing.js"

/** Options of the RayScheduler adapter. */
export interface RayAdapterOptions {
  /** The core scheduler's `maxSleep`. Default: 1 minute. */
  readonly maxSleep?: Duration.DurationInput | undefined
}

/** Builds the adapter; the core scheduler lives as long as the current scope. */
export const make = (
  options: RayAdapterOptions = {}
): Effect.Effect<SchedulerAdapterService, never, CollectorRunner | JobStateStore | Scope.Scope> =>
  Effect.gen(function*() {
    const runner = yield* CollectorRunner
    const store = yield* JobStateStore
    const registry = yield* ConsumerRegistry.make
    const scheduler = yield* Scheduler.make({ autoStart: false, maxSleep: options.maxSleep }).pipe(
      Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry)
    )
    let loaded = false
    let seeded = false

    const submit = (instance: Instance, planned: Planned) =>
      Effect.gen(function*() {
        const at = DateTime.unsafeMake(planned.at)
        const task = yield* Task.create({ source: instance.id, args: { anchor: planned.anchor }, scheduleAt: at })
        yield* scheduler.submit(task)
        yield* runner.setNextRun(instance.id, Option.some(at))
      })

    /**
     * Submits the job's next task. Should that fail (it has no known way to),
     * the job is planned again after the retry floor; only if that fails too
     * does the job stop, with an error in the log.
     */
    const plan = (instance: Instance, planned: Planned): Effect.Effect<void> =>
      submit(instance, planned).pipe(
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            if (yield* runner.draining) return
            const delay = retryDelay(Duration.zero, instance.interval, runner.retryPolicy)
            yield* Effect.logError(
              `${instance.id}: planning its next run failed; trying again in ${Duration.format(delay)}`,
              cause
            )
            const now = DateTime.toEpochMillis(yield* DateTime.now)
            yield* submit(instance, retryAt(delay, now)).pipe(
              Effect.catchAllCause((again) =>
                Effect.logError(`${instance.id}: cannot plan its next run; the job stops`, again)
              )
            )
          })
        ),
        Effect.annotateLogs({ instance: instance.id })
      )

    const afterRun = (instance: Instance, anchor: number, outcome: RunOutcome) =>
      Effect.flatMap(
        plannedAfter(instance, anchor, outcome),
        (next) => Option.match(next, { onNone: () => Effect.void, onSome: (planned) => plan(instance, planned) })
      )

    const loadAll = Effect.gen(function*() {
      if (loaded) return runner.instances.length
      loaded = true
      for (const instance of runner.instances) {
        const consumer = yield* CollectorConsumer.make({
          instance,
          runner,
          afterRun: (task, outcome) =>
            afterRun(instance, typeof task.args.anchor === "number" ? task.args.anchor : task.dueMillis, outcome)
        }).pipe(Effect.orDie) // names and concurrency come from a validated config
        yield* registry.register(consumer).pipe(Effect.orDie)
      }
      return runner.instances.length
    })

    const start = Effect.gen(function*() {
      yield* loadAll
      if (!seeded) {
        seeded = true
        for (const instance of runner.instances) {
          yield* Effect.flatMap(firstPlanned(store, instance), (planned) => plan(instance, planned))
        }
      }
      yield* scheduler.start
    })

    // Dispatching stops at once; the runs in flight get the shutdown timeout
    // (runner.drain) and the consumers waiting for them then return.
    const shutdown = Effect.gen(function*() {
      const stopping = yield* Effect.fork(scheduler.stop)
      yield* runner.drain
      yield* Fiber.join(stopping)
    })

    const service: SchedulerAdapterService = {
      type: "RayScheduler",
      loadAll,
      start,
      shutdown,
      runInstance: runner.trigger,
      listInstances: runner.info,
      status: Effect.gen(function*() {
        const stats = yield* scheduler.stats
        return {
          type: "RayScheduler" as const,
          running: stats.running,
          registeredJobs: (yield* registry.list).length,
          pendingTasks: stats.pending,
          nextRunAt: stats.nextAt,
          runs: yield* runner.counters,
          scheduler: Option.some(stats)
        }
      })
    }
    yield* Effect.addFinalizer(() => shutdown)
    return service
  }).pipe(Effect.annotateLogs({ module: "RaySchedulerAdapter" }))

/** The adapter as a layer (not started: call `loadAll` and `start`). */
export const layer = (
  options: RayAdapterOptions = {}
): Layer.Layer<SchedulerAdapter, never, CollectorRunner | JobStateStore> =>
  Layer.scoped(SchedulerAdapter, make(options))
