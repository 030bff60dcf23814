/**
 * Test doubles for the collector service: an in-memory JobStateStore and
 * Pipeline, and scripted collectors that record when they run.
 */
import { Clock, DateTime, Duration, Effect, Layer, Option, Stream } from "effect"
import type { Collector, RawEvent } from "../../src/app/collectors/Collector.js"
import { CollectorError, type FetchError, RetryableCollectorError } from "../../src/app/collectors/Collector.js"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as CollectorRunner from "../../src/app/scheduling/CollectorRunner.js"
import * as LegacySchedulerAdapter from "../../src/app/scheduling/LegacySchedulerAdapter.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import type { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import type { JobState } from "../../src/app/storage/JobStateStore.js"
import { JobStateStore } from "../../src/app/storage/JobStateStore.js"
import * as Leases from "../../src/app/storage/Leases.js"
import type { Json } from "../../src/scheduler/Task.js"

/** An in-memory JobStateStore; `states` can be pre-filled to simulate a restart. */
export const memoryJobStateStore = (states: Map<string, JobState> = new Map()) => {
  const meta = new Map<string, Json>()
  const empty = (instance: string): JobState => ({
    instance,
    lastRunAt: Option.none(),
    runCount: 0,
    errorCount: 0,
    lastError: Option.none(),
    lastErrorAt: Option.none()
  })
  return {
    states,
    layer: Layer.succeed(JobStateStore, {
      get: (instance) => Effect.sync(() => Option.fromNullable(states.get(instance))),
      list: Effect.sync(() => [...states.values()]),
      recordSuccess: (instance, at) =>
        Effect.sync(() => {
          const s = states.get(instance) ?? empty(instance)
          states.set(instance, { ...s, lastRunAt: Option.some(at), runCount: s.runCount + 1 })
        }),
      recordFailure: (instance, at, error) =>
        Effect.sync(() => {
          const s = states.get(instance) ?? empty(instance)
          states.set(instance, {
            ...s,
            errorCount: s.errorCount + 1,
            lastError: Option.some(error),
            lastErrorAt: Option.some(at)
          })
        }),
      getMeta: (instance, key) => Effect.sync(() => Option.fromNullable(meta.get(`${instance}\u0000${key}`))),
      setMeta: (instance, key, value) => Effect.sync(() => void meta.set(`${instance}\u0000${key}`, value))
    })
  }
}

/** A pipeline that stores every event it receives (no dedup), in memory. */
export const memoryPipeline = () => {
  const stored: Array<RawEvent> = []
  return {
    stored,
    layer: Layer.succeed(Pipeline, {
      run: (events) =>
        Stream.runFold(events, 0, (n, event) => {
          stored.push(event)
          return n + 1
        }).pipe(Effect.map((n) => ({ received: n, duplicates: 0, stored: n })))
    })
  }
}

/** What a scripted run does. */
export interface Step {
  readonly ms?: number
  readonly outcome?: "ok" | "fail" | "retry" | "die" | "interrupt"
  readonly retryAfter?: Duration.Duration
  readonly events?: number
}

/** One recorded run of a scripted collector (virtual ms). */
export interface RunRecord {
  readonly instance: string
  readonly start: number
  end: number | undefined
}

/**
 * A collector whose runs follow `script(param, runIndex)`: sleep `ms`, emit
 * `events` events, then succeed, fail, ask for a retry, die (a defect) or
 * interrupt itself.
 */
export const scriptedCollector = (options: {
  readonly name: string
  readonly intervalMinutes: number
  readonly params?: ReadonlyArray<string>
  readonly script?: ((param: string | undefined, run: number) => Step) | undefined
  readonly runs: Array<RunRecord>
}): Collector => {
  const counts = new Map<string, number>()
  return {
    name: options.name,
    defaultInterval: Duration.minutes(options.intervalMinutes),
    jobs: options.params?.map((param) => ({ param })),
    fetch: (param) =>
      Stream.unwrap(Effect.gen(function*(): Effect.fn.Return<Stream.Stream<RawEvent, FetchError>> {
        const instance = param === undefined ? options.name : `${options.name}:${param}`
        const n = counts.get(instance) ?? 0
        counts.set(instance, n + 1)
        const step = options.script?.(param, n) ?? {}
        const record: RunRecord = { instance, start: yield* Clock.currentTimeMillis, end: undefined }
        options.runs.push(record)
        if ((step.ms ?? 0) > 0) yield* Effect.sleep(Duration.millis(step.ms!))
        record.end = yield* Clock.currentTimeMillis
        const fetchedAt = yield* DateTime.now
        const events = Array.from({ length: step.events ?? 1 }, (_, i): RawEvent => ({
          source: instance,
          key: `${n}-${i}`,
          raw: { n, i },
          fetchedAt,
          debug: false
        }))
        switch (step.outcome) {
          case "fail":
            return Stream.fail(new CollectorError({ instance, message: `run ${n} failed` }))
          case "retry":
            return Stream.fail(
              new RetryableCollectorError({
                instance,
                message: "quota exceeded",
                retryAfter: step.retryAfter ?? Duration.hours(1)
              })
            )
          case "die":
            return Stream.die(new Error(`run ${n} died`))
          case "interrupt":
            return yield* Effect.interrupt
          default:
            return Stream.fromIterable(events)
        }
      }))
  }
}

/** The two adapters, for one shared suite. */
export const adapters: ReadonlyArray<
  readonly [string, Layer.Layer<SchedulerAdapter, never, CollectorRunner.CollectorRunner | JobStateStore>]
> = [
  ["RayScheduler", RaySchedulerAdapter.layer({ maxSleep: "1 hour" })],
  ["LegacyScheduler", LegacySchedulerAdapter.layer]
]

/** What an adapter needs: the runner over the given collectors, with in-memory storage and leases. */
export const runnerLayer = (
  collectors: ReadonlyArray<Collector>,
  store: { readonly layer: Layer.Layer<JobStateStore> } = memoryJobStateStore(),
  pipeline: { readonly layer: Layer.Layer<Pipeline> } = memoryPipeline(),
  options: CollectorRunner.CollectorRunnerOptions = {}
) =>
  CollectorRunner.layer(options).pipe(
    Layer.provideMerge(
      Layer.succeed(CollectorRunner.Collectors, collectors.map((collector) => ({ collector, concurrency: 1 })))
    ),
    Layer.provideMerge(store.layer),
    Layer.provideMerge(pipeline.layer),
    Layer.provideMerge(Leases.layerMemory())
  )

/** An adapter over the given collectors and in-memory storage. */
export const adapterLayer = (
  adapter: Layer.Layer<SchedulerAdapter, never, CollectorRunner.CollectorRunner | JobStateStore>,
  collectors: ReadonlyArray<Collector>,
  store: { readonly layer: Layer.Layer<JobStateStore> } = memoryJobStateStore(),
  pipeline: { readonly layer: Layer.Layer<Pipeline> } = memoryPipeline(),
  options: CollectorRunner.CollectorRunnerOptions = {}
) => adapter.pipe(Layer.provideMerge(runnerLayer(collectors, store, pipeline, options)))
