/**
 * `SchedulerAdapter` — one interface over the two ways of driving the
 * collectors: the heap-based RayScheduler and the legacy interval scheduler
 * (one timer loop per job, the APScheduler-style design). The entrypoint
 * picks one from the `USE_RAY_SCHEDULER` environment variable.
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { SchedulerStats } from "../../scheduler/Scheduler.js"
import type { InstanceInfo, RunCounters, RunOutcome, UnknownInstanceError } from "./CollectorRunner.js"

/** `RayScheduler` or `LegacyScheduler`. */
export type SchedulerType = "RayScheduler" | "LegacyScheduler"

/** What `/status` reports about the scheduler. */
export interface AdapterStatus {
  readonly type: SchedulerType
  readonly running: boolean
  /** Collector instances (jobs) loaded. */
  readonly registeredJobs: number
  /** Runs planned and not started yet. */
  readonly pendingTasks: number
  /** The earliest planned run. */
  readonly nextRunAt: Option.Option<DateTime.Utc>
  readonly runs: RunCounters
  /** The core scheduler's counters (RayScheduler only). */
  readonly scheduler: Option.Option<SchedulerStats>
}

export interface SchedulerAdapterService {
  readonly type: SchedulerType
  /** Registers every configured collector instance; returns how many. Idempotent. */
  readonly loadAll: Effect.Effect<number>
  /** Plans each instance's first run (resume rule) and starts triggering. Idempotent. */
  readonly start: Effect.Effect<void>
  /** Stops triggering at once and waits for the runs in flight. Idempotent. */
  readonly shutdown: Effect.Effect<void>
  /** Runs one instance now (outside its schedule) and reports the outcome. */
  readonly runInstance: (id: string) => Effect.Effect<RunOutcome, UnknownInstanceError>
  readonly listInstances: Effect.Effect<ReadonlyArray<InstanceInfo>>
  readonly status: Effect.Effect<AdapterStatus>
}

export class SchedulerAdapter extends Context.Tag("rayinfo/SchedulerAdapter")<
  SchedulerAdapter,
  SchedulerAdapterService
>() {}
