/**
 * Test support for the collector service: scripted collectors that record
 * when they run, and the scheduling stack over them with the in-memory
 * storage layers the app ships (`JobStateStore.layerMemory`,
 * `Pipeline.layerMemory`, `Leases.layerMemory`). The durable RayScheduler
 * adapter keeps its store in a private in-memory SQLite database (the
 * app's, `Database.layerMemory`) unless a test gives it one.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Context, DateTime, Duration, Effect, Layer, Option, Stream } from "effect"
import type { Collector, RawEvent } from "../../src/app/collectors/Collector.js"
import { CollectorError, type FetchError, RetryableCollectorError } from "../../src/app/collectors/Collector.js"
import * as Pipeline from "../../src/app/pipeline/Pipeline.js"
import * as CollectorRunner from "../../src/app/scheduling/CollectorRunner.js"
import * as LegacySchedulerAdapter from "../../src/app/scheduling/LegacySchedulerAdapter.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import { SchedulerAdapter, type SchedulerType } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as Database from "../../src/app/storage/Database.js"
import { Items } from "../../src/app/storage/Items.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import * as Leases from "../../src/app/storage/Leases.js"

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

/** A scripted collector: its name, interval, params and script. */
export interface ScriptedOptions {
  readonly name: string
  readonly intervalMinutes: number
  /** Cron times of the collector's jobs instead of the interval, in `timeZone` (default UTC). */
  readonly cron?: string | undefined
  readonly timeZone?: string | undefined
  readonly params?: ReadonlyArray<string>
  readonly script?: ((param: string | undefined, run: number) => Step) | undefined
}

/**
 * A collector whose runs follow `script(param, runIndex)`: sleep `ms`, emit
 * `events` events, then succeed, fail, ask for a retry, die (a defect) or
 * interrupt itself.
 */
export const scriptedCollector = (options: ScriptedOptions & { readonly runs: Array<RunRecord> }): Collector => {
  const counts = new Map<string, number>()
  return {
    name: options.name,
    defaultInterval: Duration.minutes(options.intervalMinutes),
    cron: options.cron,
    timeZone: options.timeZone,
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

/** An adapter layer over the runner (and the job state store, for the first runs). */
export type AdapterLayer = Layer.Layer<
  SchedulerAdapter,
  never,
  CollectorRunner.CollectorRunner | JobStateStore.JobStateStore
>

/** A fresh private in-memory SQLite database (the app's, migrated) for the durable adapter's store. */
export const memoryDatabase = Layer.orDie(Database.layerMemory)

/** The durable RayScheduler adapter on a fresh in-memory database: started, or not. */
export const durableAdapter = {
  started: Layer.orDie(RaySchedulerAdapter.layerSql({ maxSleep: "1 hour" })).pipe(Layer.provide(memoryDatabase)),
  notStarted: Layer.orDie(RaySchedulerAdapter.layerSqlNotStarted({ maxSleep: "1 hour" })).pipe(
    Layer.provide(memoryDatabase)
  )
}

/** An adapter under test: the `type` it reports, and its layers started when built and not started. */
export interface AdapterUnderTest {
  readonly type: SchedulerType
  readonly started: AdapterLayer
  readonly notStarted: AdapterLayer
  /**
   * Whether a job has a next run while it runs: the RayScheduler's schedules
   * know their next occurrence (and make it a task only when due); the
   * legacy scheduler plans a job's next run (a pending run) when one ends.
   */
  readonly plansWhileRunning: boolean
  /** Started when built, on the test's database (the durable store: in its `SqlClient`), if it uses one. */
  readonly startedOnDatabase?: Layer.Layer<
    SchedulerAdapter,
    never,
    CollectorRunner.CollectorRunner | JobStateStore.JobStateStore | SqlClient.SqlClient
  >
}

/**
 * The adapters, for one shared suite: the RayScheduler on the durable store
 * (what the service runs) and on the in-memory scheduler, and the legacy
 * interval scheduler.
 */
export const adapters: ReadonlyArray<readonly [string, AdapterUnderTest]> = [
  ["RayScheduler (durable)", {
    type: "RayScheduler",
    ...durableAdapter,
    plansWhileRunning: true,
    startedOnDatabase: Layer.orDie(RaySchedulerAdapter.layerSql({ maxSleep: "1 hour" }))
  }],
  ["RayScheduler (memory)", {
    type: "RayScheduler",
    plansWhileRunning: true,
    started: RaySchedulerAdapter.layer({ maxSleep: "1 hour" }),
    notStarted: RaySchedulerAdapter.layerNotStarted({ maxSleep: "1 hour" })
  }],
  ["LegacyScheduler", {
    type: "LegacyScheduler",
    plansWhileRunning: false,
    started: LegacySchedulerAdapter.layer,
    notStarted: LegacySchedulerAdapter.layerNotStarted
  }]
]

/** What the runner and an adapter are built on; each default is a fresh in-memory one. */
export interface Stack {
  readonly store?: Layer.Layer<JobStateStore.JobStateStore> | undefined
  readonly pipeline?: Layer.Layer<Pipeline.Pipeline> | undefined
  readonly runner?: CollectorRunner.CollectorRunnerOptions | undefined
}

/** The runner over the given collectors, with in-memory storage and leases (unless `stack` says otherwise). */
export const runnerLayer = (collectors: ReadonlyArray<Collector>, stack: Stack = {}) =>
  CollectorRunner.layer(stack.runner).pipe(
    Layer.provideMerge(
      Layer.succeed(CollectorRunner.Collectors, collectors.map((collector) => ({ collector, concurrency: 1 })))
    ),
    Layer.provideMerge(stack.store ?? JobStateStore.layerMemory()),
    Layer.provideMerge(stack.pipeline ?? Pipeline.layerMemory()),
    Layer.provideMerge(Leases.layerMemory())
  )

/** An adapter over the runner of {@link runnerLayer}. */
export const adapterLayer = (adapter: AdapterLayer, collectors: ReadonlyArray<Collector>, stack: Stack = {}) =>
  adapter.pipe(Layer.provideMerge(runnerLayer(collectors, stack)))

/** Builds {@link adapterLayer} in the current scope: the adapter and its runner. */
export const build = (adapter: AdapterLayer, collectors: ReadonlyArray<Collector>, stack: Stack = {}) =>
  Effect.map(Layer.build(adapterLayer(adapter, collectors, stack)), (context) => ({
    adapter: Context.get(context, SchedulerAdapter),
    runner: Context.get(context, CollectorRunner.CollectorRunner)
  }))

/** Builds `adapter` over one scripted collector: the adapter, its runner and the collector's runs. */
export const buildJob = (adapter: AdapterLayer, collector: ScriptedOptions, stack: Stack = {}) =>
  Effect.gen(function*() {
    const runs: Array<RunRecord> = []
    return { ...(yield* build(adapter, [scriptedCollector({ ...collector, runs })], stack)), runs }
  })

/** Builders over one of the {@link adapters}, started when built: over collectors, or over one scripted collector. */
export const harness = (adapter: { readonly started: AdapterLayer }) => ({
  started: (collectors: ReadonlyArray<Collector>, stack: Stack = {}) => build(adapter.started, collectors, stack),
  startedJob: (collector: ScriptedOptions, stack: Stack = {}) => buildJob(adapter.started, collector, stack)
})

/** `Items` with no item and a fixed `count`: for API tests that do not read items. */
export const itemsStub = (count = 0) =>
  Layer.succeed(Items, {
    count: Effect.succeed(count),
    countBySource: Effect.succeed([]),
    recent: () => Effect.succeed([]),
    page: () => Effect.succeed({ items: [], nextCursor: Option.none() })
  })
