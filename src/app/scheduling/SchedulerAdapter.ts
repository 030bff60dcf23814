/**
 * `SchedulerAdapter` — one interface over the two ways of deciding *when*
 * the collectors run: the heap-based RayScheduler and the legacy interval
 * scheduler (one timer loop per job, the APScheduler-style design). The
 * entrypoint picks one from the `USE_RAY_SCHEDULER` environment variable.
 *
 * An adapter starts, stops and reports its scheduling, and takes manual
 * triggers (`trigger`: the RayScheduler adapter on the durable store
 * persists them; the others hand them to the runner at once); running an
 * instance (scheduled or manual) and describing the instances is the
 * `CollectorRunner`'s. Its life, in order:
 *
 * - **not started** — built: every instance is registered (`registeredJobs`),
 *   nothing is planned. What `layerNotStarted` provides.
 * - **started** — `start` declared each instance's schedule (RayScheduler:
 *   a library schedule, seeded by the resume rule; legacy: its first run,
 *   `Plan.ts`) and triggers runs as they fall due. What `layer` provides
 *   (it starts when built).
 * - **stopped** — `stop` stopped triggering at once and drained the runner
 *   (waiting for running collections up to the shutdown timeout, then
 *   interrupting them). Final: `start` does nothing any more. Releasing the
 *   layer stops it.
 *
 * Each adapter reports the next run of each instance in `status`.
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ScheduleInfo, SchedulerService, SchedulerStats } from "../../scheduler/Scheduler.js"
import type { RunOutcome, UnknownInstanceError } from "./CollectorRunner.js"

/** `RayScheduler` or `LegacyScheduler`. */
export type SchedulerType = "RayScheduler" | "LegacyScheduler"

/** What `/status` reports about the scheduling. */
export interface AdapterStatus {
  readonly type: SchedulerType
  /** Started and not stopped. */
  readonly running: boolean
  /** Collector instances (jobs) registered. */
  readonly registeredJobs: number
  /** Runs planned and not started yet. */
  readonly pendingTasks: number
  /** The earliest planned run. */
  readonly nextRunAt: Option.Option<DateTime.Utc>
  /**
   * The next run of each instance that has one (none once stopped). The
   * RayScheduler's: its schedule's next occurrence, or a waiting retry if
   * earlier (also while it runs); the legacy scheduler's: its planned run
   * (not while it runs).
   */
  readonly planned: ReadonlyMap<string, DateTime.Utc>
  /** When each instance's waiting retry is due (RayScheduler, retries made in this process; none once stopped). */
  readonly retries: ReadonlyMap<string, DateTime.Utc>
  /** Each instance's library schedule (RayScheduler only; empty for the legacy scheduler). */
  readonly schedules: ReadonlyMap<string, ScheduleInfo>
  /** The core scheduler's counters (RayScheduler only). */
  readonly scheduler: Option.Option<SchedulerStats>
  /** Which runner holds what, in cluster mode (`RAYINFO_DATABASE_URL`); none otherwise. */
  readonly cluster: Option.Option<ClusterStatus>
}

/** The cluster seen from this process (`ClusterScheduler.topology`, per job). */
export interface ClusterStatus {
  /** This process's runner address (`RAYINFO_RUNNER_HOST:RAYINFO_RUNNER_PORT`). */
  readonly self: string
  readonly runners: ReadonlyArray<{
    readonly address: string
    readonly healthy: boolean
    readonly lastHeartbeat: DateTime.Utc
  }>
  /** The runner hosting the schedules (it fires every occurrence); none while it moves. */
  readonly schedulesHost: Option.Option<string>
  /** Per job: the runner holding it (none while it moves) and the runners running it now (scheduled runs). */
  readonly jobs: ReadonlyMap<
    string,
    { readonly holder: Option.Option<string>; readonly runningOn: ReadonlyArray<string> }
  >
  /** Why the cluster's tables could not be read, if they could not (the rest is then empty). */
  readonly problem: Option.Option<string>
}

/** The adapter's operations: when the collectors run. */
export interface SchedulerAdapterService {
  readonly type: SchedulerType
  /**
   * The core scheduler (RayScheduler: memory, durable store or cluster),
   * for the scheduler's HTTP API (`SchedulerApi`); none for the legacy
   * scheduler.
   */
  readonly scheduler: Option.Option<SchedulerService>
  /**
   * Plans each instance's first run (resume rule) and starts triggering.
   * Runs once: later calls, and calls after `stop`, do nothing.
   */
  readonly start: Effect.Effect<void>
  /**
   * Stops triggering at once and drains the runner (bounded by its shutdown
   * timeout). Idempotent: every call returns once the first one is done.
   */
  readonly stop: Effect.Effect<void>
  readonly status: Effect.Effect<AdapterStatus>
  /**
   * A manual run of the instance `id` (`POST /instances/:id/run`): runs it
   * now, outside its schedule, and returns its outcome (`Cancelled` when
   * the service is shutting down). The runner's rules hold: runs of one job
   * never overlap, and a manual run waiting for its turn is joined by further
   * triggers. The durable RayScheduler adapter persists the trigger first.
   */
  readonly trigger: (id: string) => Effect.Effect<RunOutcome, UnknownInstanceError>
}

/** The scheduler adapter. */
export class SchedulerAdapter extends Context.Tag("rayinfo/SchedulerAdapter")<
  SchedulerAdapter,
  SchedulerAdapterService
>() {}

/** The earliest of `planned`. */
export const earliest = (planned: ReadonlyMap<string, DateTime.Utc>): Option.Option<DateTime.Utc> =>
  Option.fromNullable([...planned.values()].reduce<DateTime.Utc | undefined>(
    (min, at) => min === undefined || DateTime.lessThan(at, min) ? at : min,
    undefined
  ))

/** What an adapter implements; {@link make} adds the life cycle and the spans. */
export interface AdapterParts {
  readonly type: SchedulerType
  /** The core scheduler, if there is one (see {@link SchedulerAdapterService.scheduler}). */
  readonly scheduler: Option.Option<SchedulerService>
  /** Plans the first runs and starts triggering; called once. */
  readonly start: Effect.Effect<void>
  /** Stops triggering and drains the runner; called once. */
  readonly stop: Effect.Effect<void>
  /** A manual run (see {@link SchedulerAdapterService.trigger}). */
  readonly trigger: (id: string) => Effect.Effect<RunOutcome, UnknownInstanceError>
  /** The status, given whether the adapter is started (and not stopped). */
  readonly status: (running: boolean) => Effect.Effect<Omit<AdapterStatus, "type">>
}

/**
 * Builds an adapter from its parts (not started): `start` and `stop` follow
 * the life cycle of the module doc, one at a time; the adapter is stopped
 * when the scope closes.
 */
export const make = <E, R>(
  build: Effect.Effect<AdapterParts, E, R>
): Effect.Effect<SchedulerAdapterService, E, R | Scope.Scope> =>
  Effect.gen(function*() {
    const parts = yield* build
    const transitions = yield* Effect.makeSemaphore(1)
    let state: "not started" | "started" | "stopped" = "not started"
    const attributes = { attributes: { type: parts.type } }

    const start = transitions.withPermits(1)(Effect.suspend(() => {
      if (state !== "not started") return Effect.void
      state = "started"
      return parts.start
    })).pipe(Effect.withSpan("SchedulerAdapter.start", attributes))

    const stop = yield* Effect.cached(
      transitions.withPermits(1)(Effect.suspend(() => {
        state = "stopped"
        return parts.stop
      })).pipe(Effect.withSpan("SchedulerAdapter.stop", attributes))
    )

    const status = Effect.suspend(() =>
      Effect.map(parts.status(state === "started"), (status) => ({ ...status, type: parts.type }))
    )

    const trigger = (id: string) =>
      parts.trigger(id).pipe(Effect.withSpan("SchedulerAdapter.trigger", { attributes: { type: parts.type, id } }))

    yield* Effect.addFinalizer(() => stop)
    return { type: parts.type, scheduler: parts.scheduler, start, stop, status, trigger }
  })

/** An adapter as a layer, started when built; stopped (runner drained) when released. */
export const layer = <E, R>(
  adapter: Effect.Effect<SchedulerAdapterService, E, R | Scope.Scope>
): Layer.Layer<SchedulerAdapter, E, Exclude<R, Scope.Scope>> =>
  Layer.scoped(SchedulerAdapter, Effect.tap(adapter, (built) => built.start))

/**
 * An adapter as a layer, not started (call `start`, or build
 * `Service.schedulingLayer`); stopped (runner drained) when released.
 */
export const layerNotStarted = <E, R>(
  adapter: Effect.Effect<SchedulerAdapterService, E, R | Scope.Scope>
): Layer.Layer<SchedulerAdapter, E, Exclude<R, Scope.Scope>> => Layer.scoped(SchedulerAdapter, adapter)
