/**
 * `CollectorRunner` — runs one collector instance once: fetch → pipeline →
 * job state, whatever scheduler triggered it. Shared by both scheduler
 * adapters, so they differ only in *when* they run instances.
 *
 * - Runs of one instance never overlap (a per-instance lock), so a manual
 *   trigger and a scheduled run of the same job queue up instead of racing.
 * - Each run executes in its own fiber that outlives an interruption of the
 *   caller: stopping a trigger never cuts a collection in half, and
 *   `awaitIdle` waits for the runs in flight (graceful shutdown).
 * - Outcomes are data: a retryable error (quota, HTTP 429/503, transient
 *   network) does not update the last run time; any other failure, or a
 *   defect, is counted and logged; nothing escapes to the scheduler.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Collector } from "../collectors/Collector.js"
import { instanceId } from "../collectors/Collector.js"
import type { PipelineResult } from "../pipeline/Pipeline.js"
import { Pipeline } from "../pipeline/Pipeline.js"
import type { JobState } from "../storage/JobStateStore.js"
import { JobStateStore } from "../storage/JobStateStore.js"

/** A collector with its scheduling settings, as configured. */
export interface ConfiguredCollector {
  readonly collector: Collector
  /** Concurrency of each of its instances' consumers. Default 1. */
  readonly concurrency: number
}

/** The configured collectors (built from the config file, or supplied by tests). */
export class Collectors extends Context.Tag("rayinfo/Collectors")<Collectors, ReadonlyArray<ConfiguredCollector>>() {}

/** One schedulable job: a collector and one of its params (or none). */
export interface Instance {
  /** `collector` or `collector:param`. */
  readonly id: string
  readonly collector: Collector
  readonly param: string | undefined
  readonly interval: Duration.Duration
  readonly concurrency: number
}

/** The instances of the configured collectors, in configuration order. */
export const instancesOf = (collectors: ReadonlyArray<ConfiguredCollector>): ReadonlyArray<Instance> =>
  collectors.flatMap(({ collector, concurrency }): ReadonlyArray<Instance> =>
    collector.jobs === undefined || collector.jobs.length === 0
      ? [{
        id: instanceId(collector.name, undefined),
        collector,
        param: undefined,
        interval: collector.defaultInterval,
        concurrency
      }]
      : collector.jobs.map((job) => ({
        id: instanceId(collector.name, job.param),
        collector,
        param: job.param,
        interval: job.interval ?? collector.defaultInterval,
        concurrency
      }))
  )

/** What one run did. */
export type RunOutcome = Data.TaggedEnum<{
  /** The run completed; its counts. */
  Succeeded: { readonly instance: string; readonly startedAt: DateTime.Utc; readonly result: PipelineResult }
  /** Retryable failure: run again after `retryAfter`; the last run time is unchanged. */
  Retry: {
    readonly instance: string
    readonly startedAt: DateTime.Utc
    readonly error: string
    readonly retryAfter: Duration.Duration
  }
  /** The run failed (or died); the job runs again at its next interval. */
  Failed: { readonly instance: string; readonly startedAt: DateTime.Utc; readonly error: string }
}>
export const RunOutcome = Data.taggedEnum<RunOutcome>()

/** No instance has this id. */
export class UnknownInstanceError extends Data.TaggedError("UnknownInstanceError")<{ readonly instance: string }> {
  override get message(): string {
    return `No collector instance ${JSON.stringify(this.instance)}`
  }
}

/** Counters over all runs since start. */
export interface RunCounters {
  readonly started: number
  readonly succeeded: number
  readonly failed: number
  readonly retried: number
  readonly inFlight: number
  readonly itemsStored: number
}

/** An instance and what is known about it. */
export interface InstanceInfo {
  readonly id: string
  readonly collector: string
  readonly param: Option.Option<string>
  readonly intervalMillis: number
  readonly concurrency: number
  readonly running: boolean
  readonly nextRunAt: Option.Option<DateTime.Utc>
  readonly state: Option.Option<JobState>
  readonly lastOutcome: Option.Option<RunOutcome>
}

interface Live {
  readonly instance: Instance
  readonly lock: Effect.Semaphore
  running: number
  nextRunAt: Option.Option<DateTime.Utc>
  lastOutcome: Option.Option<RunOutcome>
}

export interface CollectorRunnerService {
  readonly instances: ReadonlyArray<Instance>
  readonly find: (id: string) => Effect.Effect<Instance, UnknownInstanceError>
  /** Runs the instance once and reports the outcome. Never fails. */
  readonly runOnce: (instance: Instance) => Effect.Effect<RunOutcome>
  /** Records when an adapter plans the instance's next run (for status). */
  readonly setNextRun: (id: string, at: Option.Option<DateTime.Utc>) => Effect.Effect<void>
  readonly info: Effect.Effect<ReadonlyArray<InstanceInfo>>
  readonly counters: Effect.Effect<RunCounters>
  /** Waits until no run is in flight. */
  readonly awaitIdle: Effect.Effect<void>
}

export class CollectorRunner
  extends Context.Tag("rayinfo/CollectorRunner")<CollectorRunner, CollectorRunnerService>()
{}

const describe = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return error instanceof Error ? error.message : String(error)
  }
  return Cause.pretty(cause).split("\n")[0] ?? "unknown failure"
}

/** Builds the runner over the configured collectors. */
export const make: Effect.Effect<CollectorRunnerService, never, Collectors | Pipeline | JobStateStore> = Effect.gen(
  function*() {
    const collectors = yield* Collectors
    const pipeline = yield* Pipeline
    const store = yield* JobStateStore
    const instances = instancesOf(collectors)
    const live = new Map<string, Live>()
    for (const instance of instances) {
      live.set(instance.id, {
        instance,
        lock: yield* Effect.makeSemaphore(1),
        running: 0,
        nextRunAt: Option.none(),
        lastOutcome: Option.none()
      })
    }
    let started = 0
    let succeeded = 0
    let failed = 0
    let retried = 0
    let itemsStored = 0
    let inFlight = 0
    // open while no run is in flight
    const idle = yield* Effect.makeLatch(true)

    const run = (entry: Live): Effect.Effect<RunOutcome> =>
      Effect.gen(function*() {
        const { instance } = entry
        const startedAt = yield* DateTime.now
        started++
        entry.running++
        const exit = yield* Effect.exit(pipeline.run(instance.collector.fetch(instance.param)))
        entry.running--
        let outcome: RunOutcome
        if (exit._tag === "Success") {
          succeeded++
          itemsStored += exit.value.stored
          yield* store.recordSuccess(instance.id, startedAt)
          outcome = RunOutcome.Succeeded({ instance: instance.id, startedAt, result: exit.value })
          yield* Effect.logInfo(
            `${instance.id}: ${exit.value.stored} new, ${exit.value.duplicates} duplicate, ${exit.value.received} received`
          )
        } else {
          const error = Cause.failureOption(exit.cause)
          const message = describe(exit.cause)
          const failedAt = yield* DateTime.now
          yield* store.recordFailure(instance.id, failedAt, message)
          if (Option.isSome(error) && error.value._tag === "RetryableCollectorError") {
            retried++
            outcome = RunOutcome.Retry({
              instance: instance.id,
              startedAt,
              error: message,
              retryAfter: error.value.retryAfter
            })
            yield* Effect.logWarning(
              `${instance.id}: ${message}; retrying in ${Duration.format(error.value.retryAfter)}`
            )
          } else {
            failed++
            outcome = RunOutcome.Failed({ instance: instance.id, startedAt, error: message })
            yield* Effect.logError(`${instance.id}: run failed`, exit.cause)
          }
        }
        entry.lastOutcome = Option.some(outcome)
        return outcome
      }).pipe(Effect.annotateLogs({ module: "CollectorRunner", instance: entry.instance.id }))

    const runOnce = (instance: Instance): Effect.Effect<RunOutcome> =>
      Effect.gen(function*() {
        const entry = live.get(instance.id)
        if (entry === undefined) {
          return RunOutcome.Failed({ instance: instance.id, startedAt: yield* DateTime.now, error: "unknown instance" })
        }
        if (inFlight++ === 0) idle.unsafeClose()
        // The run has its own fiber: interrupting the caller does not cut it short.
        const fiber = yield* Effect.forkDaemon(
          entry.lock.withPermits(1)(run(entry)).pipe(
            Effect.ensuring(Effect.sync(() => {
              if (--inFlight === 0) idle.unsafeOpen()
            }))
          )
        )
        return yield* Fiber.join(fiber)
      })

    const find = (id: string) =>
      Effect.suspend(() => {
        const entry = live.get(id)
        return entry === undefined
          ? Effect.fail(new UnknownInstanceError({ instance: id }))
          : Effect.succeed(entry.instance)
      })

    return {
      instances,
      find,
      runOnce,
      setNextRun: (id, at) =>
        Effect.sync(() => {
          const entry = live.get(id)
          if (entry !== undefined) entry.nextRunAt = at
        }),
      info: Effect.forEach(instances, (instance) =>
        Effect.map(store.get(instance.id), (state): InstanceInfo => {
          const entry = live.get(instance.id)!
          return {
            id: instance.id,
            collector: instance.collector.name,
            param: Option.fromNullable(instance.param),
            intervalMillis: Duration.toMillis(instance.interval),
            concurrency: instance.concurrency,
            running: entry.running > 0,
            nextRunAt: entry.nextRunAt,
            state,
            lastOutcome: entry.lastOutcome
          }
        })),
      counters: Effect.sync(() => ({ started, succeeded, failed, retried, inFlight, itemsStored })),
      awaitIdle: idle.await
    }
  }
)

/** The runner as a layer. */
export const layer: Layer.Layer<CollectorRunner, never, Collectors | Pipeline | JobStateStore> = Layer.effect(
  CollectorRunner,
  make
)
