/**
 * The legacy adapter: the APScheduler-style design the RayScheduler
 * replaces — one long-lived fiber (and one timer) per job, sleeping until the
 * job's next run, running it, and planning the next one. It plans with the
 * same rules as the RayScheduler adapter (`Timing.ts`), so the two differ
 * only in how they wait; it is kept behind the same `SchedulerAdapter`
 * interface so the two can be compared and switched
 * (`USE_RAY_SCHEDULER=false`).
 *
 * Each job fiber is supervised (docs/architecture.md, "Supervision"): if a
 * step fails in a way the runner did not turn into an outcome, the failure
 * is logged and the job goes on after the retry floor; only the shutdown
 * stops it.
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { JobStateStore } from "../storage/JobStateStore.js"
import type { Instance } from "./CollectorRunner.js"
import { CollectorRunner } from "./CollectorRunner.js"
import { firstPlanned, plannedAfter } from "./Plan.js"
import { SchedulerAdapter, type SchedulerAdapterService } from "./SchedulerAdapter.js"
import { type Planned, retryAt, retryDelay } from "./Timing.js"

/** Builds the adapter; its job fibers are stopped when the current scope closes. */
export const make: Effect.Effect<SchedulerAdapterService, never, CollectorRunner | JobStateStore | Scope.Scope> = Effect
  .gen(function*() {
    const runner = yield* CollectorRunner
    const store = yield* JobStateStore
    const jobs = yield* FiberSet.make<void>()
    let loaded = false
    let started = false

    const setNext = (instance: Instance, millis: number) =>
      runner.setNextRun(instance.id, Option.some(DateTime.unsafeMake(millis)))

    /** Waits for the planned run, runs it; the run after it, or none when the service stops. */
    const step = (instance: Instance, planned: Planned): Effect.Effect<Option.Option<Planned>> =>
      Effect.gen(function*() {
        yield* setNext(instance, planned.at)
        const now = DateTime.toEpochMillis(yield* DateTime.now)
        if (planned.at > now) yield* Effect.sleep(Duration.millis(planned.at - now))
        yield* runner.setNextRun(instance.id, Option.none())
        const outcome = yield* runner.run(instance)
        return yield* plannedAfter(instance, planned.anchor, outcome)
      })

    /** The job's loop; whatever escapes a step is logged and the job goes on after the retry floor. */
    const loop = (instance: Instance, planned: Planned): Effect.Effect<void> =>
      step(instance, planned).pipe(
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            const delay = retryDelay(Duration.zero, instance.interval, runner.retryPolicy)
            yield* Effect.logError(
              `${instance.id}: the job's step failed; going on in ${Duration.format(delay)}`,
              cause
            )
            return Option.some(retryAt(delay, DateTime.toEpochMillis(yield* DateTime.now)))
          })
        ),
        Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (next) => loop(instance, next) })),
        Effect.annotateLogs({ instance: instance.id })
      )

    const loadAll = Effect.sync(() => {
      loaded = true
      return runner.instances.length
    })

    const start = Effect.gen(function*() {
      yield* loadAll
      if (started) return
      started = true
      for (const instance of runner.instances) {
        yield* FiberSet.run(jobs, Effect.flatMap(firstPlanned(store, instance), (first) => loop(instance, first)))
      }
    })

    // Interrupting a job fiber stops its timer at once; a run in flight has
    // its own fiber (see CollectorRunner) and gets the shutdown timeout.
    const shutdown = Effect.gen(function*() {
      started = false
      yield* FiberSet.clear(jobs)
      yield* Effect.forEach(runner.instances, (instance) => runner.setNextRun(instance.id, Option.none()))
      yield* runner.drain
    })

    const service: SchedulerAdapterService = {
      type: "LegacyScheduler",
      loadAll,
      start,
      shutdown,
      runInstance: runner.trigger,
      listInstances: runner.info,
      status: Effect.gen(function*() {
        const info = yield* runner.info
        const planned = info.flatMap((i) => Option.isSome(i.nextRunAt) && !i.running ? [i.nextRunAt.value] : [])
        const nextRunAt = planned.length === 0 ? Option.none() : Option.some(
          planned.reduce((a, b) => DateTime.lessThan(a, b) ? a : b)
        )
        return {
          type: "LegacyScheduler" as const,
          running: started,
          registeredJobs: loaded ? runner.instances.length : 0,
          pendingTasks: planned.length,
          nextRunAt,
          runs: yield* runner.counters,
          scheduler: Option.none()
        }
      })
    }
    yield* Effect.addFinalizer(() => shutdown)
    return service
  }).pipe(Effect.annotateLogs({ module: "LegacySchedulerAdapter" }))

/** The adapter as a layer (not started: call `loadAll` and `start`). */
export const layer: Layer.Layer<SchedulerAdapter, never, CollectorRunner | JobStateStore> = Layer.scoped(
  SchedulerAdapter,
  make
)
