/**
 * The legacy adapter: the APScheduler-style design the RayScheduler
 * replaces — one long-lived fiber per job, sleeping until the job's first
 * run and then repeating it with `Effect.repeat(Schedule.fixed(interval))`.
 * Kept behind the same `SchedulerAdapter` interface so the two can be
 * compared and switched (`USE_RAY_SCHEDULER=false`).
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type * as Scope from "effect/Scope"
import { JobStateStore } from "../storage/JobStateStore.js"
import type { Instance, RunOutcome } from "./CollectorRunner.js"
import { CollectorRunner } from "./CollectorRunner.js"
import { SchedulerAdapter, type SchedulerAdapterService } from "./SchedulerAdapter.js"
import { firstRunAt } from "./Timing.js"

/** Builds the adapter; its job fibers are stopped when the current scope closes. */
export const make: Effect.Effect<SchedulerAdapterService, never, CollectorRunner | JobStateStore | Scope.Scope> = Effect
  .gen(function*() {
    const runner = yield* CollectorRunner
    const store = yield* JobStateStore
    const runtime = yield* Effect.runtime<never>()
    let loaded = false
    let fibers: Array<Fiber.RuntimeFiber<unknown>> = []

    const setNext = (instance: Instance, millis: number) =>
      runner.setNextRun(instance.id, Option.some(DateTime.unsafeMake(millis)))

    /** One run; a retryable failure is retried after its `retryAfter`, before the next regular slot. */
    const runWithRetry = (instance: Instance): Effect.Effect<RunOutcome> =>
      Effect.gen(function*() {
        yield* runner.setNextRun(instance.id, Option.none())
        const outcome = yield* runner.runOnce(instance)
        if (outcome._tag !== "Retry") return outcome
        const now = DateTime.toEpochMillis(yield* DateTime.now)
        yield* setNext(instance, now + Duration.toMillis(outcome.retryAfter))
        yield* Effect.sleep(outcome.retryAfter)
        return yield* runWithRetry(instance)
      })

    const job = (instance: Instance) =>
      Effect.gen(function*() {
        const state = yield* store.get(instance.id)
        const now = DateTime.toEpochMillis(yield* DateTime.now)
        const first = firstRunAt(Option.flatMap(state, (s) => s.lastRunAt), Duration.toMillis(instance.interval), now)
        yield* setNext(instance, first)
        if (first > now) yield* Effect.sleep(Duration.millis(first - now))
        const schedule = Schedule.fixed(instance.interval).pipe(
          Schedule.onDecision((_, decision) =>
            ScheduleDecision.isContinue(decision)
              ? setNext(instance, Intervals.start(decision.intervals))
              : Effect.void
          )
        )
        yield* Effect.repeat(runWithRetry(instance), schedule)
      })

    const loadAll = Effect.sync(() => {
      loaded = true
      return runner.instances.length
    })

    const start = Effect.gen(function*() {
      yield* loadAll
      if (fibers.length > 0) return
      // One fiber per job, forked from the adapter's runtime (its Clock and logger).
      fibers = runner.instances.map((instance) => Runtime.runFork(runtime)(job(instance)))
    })

    // Interrupting a job fiber stops its timer at once; a run in flight has
    // its own fiber (see CollectorRunner) and is awaited, not cut short.
    const shutdown = Effect.gen(function*() {
      const running = fibers
      fibers = []
      yield* Fiber.interruptAll(running)
      yield* Effect.forEach(runner.instances, (instance) => runner.setNextRun(instance.id, Option.none()))
      yield* runner.awaitIdle
    })

    const service: SchedulerAdapterService = {
      type: "LegacyScheduler",
      loadAll,
      start,
      shutdown,
      runInstance: (id) => Effect.flatMap(runner.find(id), runner.runOnce),
      listInstances: runner.info,
      status: Effect.gen(function*() {
        const info = yield* runner.info
        const planned = info.flatMap((i) => Option.isSome(i.nextRunAt) && !i.running ? [i.nextRunAt.value] : [])
        const nextRunAt = planned.length === 0 ? Option.none() : Option.some(
          planned.reduce((a, b) => DateTime.lessThan(a, b) ? a : b)
        )
        return {
          type: "LegacyScheduler" as const,
          running: fibers.length > 0,
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
