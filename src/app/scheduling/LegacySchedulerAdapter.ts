/**
 * The legacy adapter: the APScheduler-style design the RayScheduler
 * replaces — one long-lived fiber (and one timer) per job, sleeping until the
 * job's next run, running it, and planning the next one with the rules of
 * `Timing.ts` (the resume rule, fixed rate with coalescing). Kept, frozen,
 * behind the same `SchedulerAdapter` interface as a fallback
 * (`USE_RAY_SCHEDULER=false`): interval jobs only — no `cron`, no `misfire`
 * (the CLI refuses such a configuration for it).
 *
 * The job fibers live in a `FiberMap` keyed by instance id. Each is
 * supervised (docs/architecture.md, "Supervision"): if a step fails in a way
 * the runner did not turn into an outcome, the failure is logged and the job
 * goes on after the retry floor; only the shutdown stops it.
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { JobStateStore } from "../storage/JobStateStore.js"
import type { Instance } from "./CollectorRunner.js"
import { CollectorRunner } from "./CollectorRunner.js"
import { firstPlanned, intervalOf, plannedAfter } from "./Plan.js"
import * as SchedulerAdapter from "./SchedulerAdapter.js"
import { type Planned, retryAt, retryDelay } from "./Timing.js"

/**
 * The adapter's planned runs: the next run of each instance, from
 * when it is planned until the run starts. Reading it is cheap.
 */
export class PlannedRuns {
  private readonly runs = new Map<string, DateTime.Utc>()

  /** Records the next run of `id`. */
  readonly plan = (id: string, at: DateTime.Utc): Effect.Effect<void> => Effect.sync(() => void this.runs.set(id, at))

  /** The run of `id` starts: it is no longer planned. */
  readonly starting = (id: string): Effect.Effect<void> => Effect.sync(() => void this.runs.delete(id))

  /** Nothing is planned any more (the adapter stopped). */
  readonly clear: Effect.Effect<void> = Effect.sync(() => this.runs.clear())

  /** A copy of the planned runs. */
  readonly snapshot: Effect.Effect<ReadonlyMap<string, DateTime.Utc>> = Effect.sync(() => new Map(this.runs))
}

/** Builds the adapter, not started; its job fibers are stopped when the current scope closes. */
export const make: Effect.Effect<
  SchedulerAdapter.SchedulerAdapterService,
  never,
  CollectorRunner | JobStateStore | Scope.Scope
> = SchedulerAdapter.make(
  Effect.gen(function*() {
    const runner = yield* CollectorRunner
    const store = yield* JobStateStore
    const cron = runner.instances.filter((instance) => instance.timing._tag === "Cron").map((instance) => instance.id)
    if (cron.length > 0) {
      // the CLI refuses such a configuration first (AppConfig.legacySchedulerProblems)
      return yield* Effect.dieMessage(
        `The legacy scheduler runs jobs every interval only; these run at cron times: ${cron.join(", ")}`
      )
    }
    const jobs = yield* FiberMap.make<string>()
    const planned = new PlannedRuns()

    /** Waits for the planned run, runs it; the run after it, or none when the service stops. */
    const step = (instance: Instance, next: Planned): Effect.Effect<Option.Option<Planned>> =>
      Effect.gen(function*() {
        yield* planned.plan(instance.id, DateTime.unsafeMake(next.at))
        const now = DateTime.toEpochMillis(yield* DateTime.now)
        if (next.at > now) yield* Effect.sleep(Duration.millis(next.at - now))
        yield* planned.starting(instance.id)
        const outcome = yield* runner.run(instance)
        return yield* plannedAfter(instance, next.anchor, outcome)
      })

    /** The job's loop; whatever escapes a step is logged and the job goes on after the retry floor. */
    const loop = (instance: Instance, next: Planned): Effect.Effect<void> =>
      step(instance, next).pipe(
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            const delay = retryDelay(Duration.zero, intervalOf(instance), runner.retryPolicy)
            yield* Effect.logError(
              `${instance.id}: the job's step failed; going on in ${Duration.format(delay)}`,
              cause
            )
            return Option.some(retryAt(delay, DateTime.toEpochMillis(yield* DateTime.now)))
          })
        ),
        Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (after) => loop(instance, after) })),
        Effect.annotateLogs({ instance: instance.id })
      )

    return {
      type: "LegacyScheduler" as const,
      scheduler: Option.none(),
      start: Effect.forEach(
        runner.instances,
        (instance) =>
          FiberMap.run(
            jobs,
            instance.id,
            Effect.flatMap(firstPlanned(store, instance), (first) => loop(instance, first))
          ),
        { discard: true }
      ),
      // Interrupting a job fiber stops its timer at once; a run in flight has
      // its own fiber (see CollectorRunner) and gets the shutdown timeout.
      stop: Effect.zipRight(FiberMap.clear(jobs), runner.drain).pipe(Effect.zipRight(planned.clear)),
      // a manual run is not persisted: the runner runs it now
      trigger: runner.runInstance,
      status: (running) =>
        Effect.map(planned.snapshot, (runs) => ({
          running,
          registeredJobs: runner.instances.length,
          pendingTasks: runs.size,
          nextRunAt: SchedulerAdapter.earliest(runs),
          planned: runs,
          retries: new Map(),
          schedules: new Map(),
          scheduler: Option.none(),
          cluster: Option.none()
        }))
    }
  })
).pipe(Effect.annotateLogs({ module: "LegacySchedulerAdapter" }))

/** The adapter as a layer, started when built (see `SchedulerAdapter`). */
export const layer: Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore> =
  SchedulerAdapter.layer(make)

/** The adapter as a layer, not started (see `SchedulerAdapter`). */
export const layerNotStarted: Layer.Layer<SchedulerAdapter.SchedulerAdapter, never, CollectorRunner | JobStateStore> =
  SchedulerAdapter.layerNotStarted(make)
