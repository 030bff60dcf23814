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
import type * as Layer from "effect/Layer"
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
import * as SchedulerAdapter from "./SchedulerAdapter.js"
import { type Planned, retryAt, retryDelay } from "./Timing.js"

/** Options of the RayScheduler adapter. */
export interface RayAdapterOptions {
  /** The core scheduler's `maxSleep`. Default: 1 minute. */
  readonly maxSleep?: Duration.DurationInput | undefined
}

/**
 * Builds the adapter, not started, with every instance registered as a
 * consumer; the core scheduler lives as long as the current scope.
 */
export const make = (
  options: RayAdapterOptions = {}
): Effect.Effect<SchedulerAdapter.SchedulerAdapterService, never, CollectorRunner | JobStateStore | Scope.Scope> =>
  SchedulerAdapter.make((planned) =>
    Effect.gen(function*() {
      const runner = yield* CollectorRunner
      const store = yield* JobStateStore
      const registry = yield* ConsumerRegistry.make
      const scheduler = yield* Scheduler.make({ autoStart: false, maxSleep: options.maxSleep }).pipe(
        Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry)
      )

      const submit = (instance: Instance, next: Planned) =>
        Effect.gen(function*() {
          const at = DateTime.unsafeMake(next.at)
          const task = yield* Task.create({ source: instance.id, args: { anchor: next.anchor }, scheduleAt: at })
          yield* scheduler.submit(task)
          yield* planned.plan(instance.id, at)
        })

      /**
       * Submits the job's next task. Should that fail (it has no known way to),
       * the job is planned again after the retry floor; only if that fails too
       * does the job stop, with an error in the log.
       */
      const plan = (instance: Instance, next: Planned): Effect.Effect<void> =>
        submit(instance, next).pipe(
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
          Option.match({ onNone: () => Effect.void, onSome: (next) => plan(instance, next) })
        )

      for (const instance of runner.instances) {
        const consumer = yield* CollectorConsumer.make({
          instance,
          runner,
          planned,
          afterRun: (task, outcome) =>
            afterRun(instance, typeof task.args.anchor === "number" ? task.args.anchor : task.dueMillis, outcome)
        }).pipe(Effect.orDie) // names and concurrency come from a validated config
        yield* registry.register(consumer).pipe(Effect.orDie)
      }

      return {
        type: "RayScheduler" as const,
        start: Effect.zipRight(
          Effect.forEach(runner.instances, (instance) =>
            Effect.flatMap(firstPlanned(store, instance), (first) => plan(instance, first)), { discard: true }),
          scheduler.start
        ),
        // Dispatching stops at once; the runs in flight get the shutdown timeout
        // (runner.drain) and the consumers waiting for them then return.
        stop: Effect.gen(function*() {
          const stopping = yield* Effect.fork(scheduler.stop)
          yield* runner.drain
          yield* Fiber.join(stopping)
        }),
        status: (_, running) =>
          Effect.gen(function*() {
            const stats = yield* scheduler.stats
            return {
              running,
              registeredJobs: (yield* registry.list).length,
              pendingTasks: stats.pending,
              nextRunAt: stats.nextAt,
              scheduler: Option.some(stats)
            }
          })
      }
    })
  ).pipe(Effect.annotateLogs({ module: "RaySchedulerAdapter" }))

/** The adapter as a layer, started when built (see `SchedulerAdapter`). */
export const layer = (
  options: RayAdapterOptions = {}
): Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore> =>
  SchedulerAdapter.layer(make(options))

/** The adapter as a layer, not started (see `SchedulerAdapter`). */
export const layerNotStarted = (
  options: RayAdapterOptions = {}
): Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore> =>
  SchedulerAdapter.layerNotStarted(make(options))
