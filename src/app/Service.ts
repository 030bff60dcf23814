/**
 * The RayInfo collector service, assembled from layers (built bottom-up):
 *
 *   scheduling: starts once the HTTP API is up; stops first
 *     └─ HTTP API
 *          └─ SchedulerAdapter (RayScheduler on the durable store | Legacy, from USE_RAY_SCHEDULER; not started)
 *               └─ CollectorRunner ─ Collectors (from the config file; process groups reaped)
 *                    └─ the `service` lease (one service per database)
 *                         └─ Items, Pipeline, JobStateStore, Leases ─ Database (SQLite, migrated)
 *
 * Nothing is scheduled before the lease is held and the API answers.
 * Closing the service's scope (SIGINT/SIGTERM through `NodeRuntime.runMain`)
 * releases it in reverse, so scheduling stops first: the adapter stops
 * triggering and the runner waits for running collections up to
 * `shutdown.timeout` (then interrupts them) while the HTTP API still
 * answers; then the HTTP server stops, the lease is released and SQLite is
 * closed. See docs/architecture.md, "Shutdown".
 *
 * The CLI's one-shot commands (`collectors`, `trigger`) use {@link coreLayer}:
 * the runner on the storage, without scheduling or HTTP.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Collector } from "./collectors/Collector.js"
import * as CommandCollector from "./collectors/command.js"
import * as FeedCollector from "./collectors/feed.js"
import * as ProcessGroups from "./collectors/ProcessGroups.js"
import type { AppConfig, Environment } from "./config/AppConfig.js"
import * as ApiLive from "./http/ApiLive.js"
import * as SqlPipeline from "./pipeline/SqlPipeline.js"
import * as ProcessOwner from "./ProcessOwner.js"
import * as CollectorRunner from "./scheduling/CollectorRunner.js"
import * as LegacySchedulerAdapter from "./scheduling/LegacySchedulerAdapter.js"
import * as RaySchedulerAdapter from "./scheduling/RaySchedulerAdapter.js"
import { SchedulerAdapter } from "./scheduling/SchedulerAdapter.js"
import * as Database from "./storage/Database.js"
import * as Items from "./storage/Items.js"
import type { JobStateStore } from "./storage/JobStateStore.js"
import { type Lease, Leases } from "./storage/Leases.js"
import * as LeasesModule from "./storage/Leases.js"
import * as SqlJobStateStore from "./storage/SqlJobStateStore.js"
import type { StorageError } from "./storage/StorageError.js"

/** SQLite, migrated, with the job state store, the pipeline, the item queries and the leases on it. */
export const storageLayer = (config: AppConfig) =>
  Layer.mergeAll(
    SqlJobStateStore.layer,
    SqlPipeline.layer({ dedupCapacity: config.dedup.capacity }),
    Items.layer,
    LeasesModule.layerSql()
  ).pipe(Layer.provideMerge(Database.layer({ filename: config.storage.path, busyTimeout: config.storage.busyTimeout })))

/** What building the collectors needs. */
type CollectorRequirements = HttpClient.HttpClient | JobStateStore | ProcessGroups.ProcessGroups

/**
 * The configured collectors, each built from its own configuration (its
 * options as `FeedCollector.Config` / `CommandCollector.Config` decoded them)
 * with the Node HTTP client, and the process groups of their commands
 * recorded in the database (building it kills what a crashed predecessor
 * left running).
 */
export const collectorsLayer = (config: AppConfig) =>
  Layer.effect(
    CollectorRunner.Collectors,
    Effect.forEach(config.collectors, (collector) =>
      Effect.map(
        Effect.suspend((): Effect.Effect<Collector, never, CollectorRequirements> =>
          collector.type === "feed" ? FeedCollector.make(collector) : CommandCollector.make(collector)
        ),
        (built) => ({ collector: built, concurrency: collector.concurrency, misfire: collector.misfire })
      ))
  ).pipe(Layer.provide(Layer.merge(NodeHttpClient.layer, ProcessGroups.layerSql)))

/** The runner with the configured retry policy and shutdown timeout. */
export const runnerLayer = (config: AppConfig) =>
  CollectorRunner.layer({ retry: config.retry, shutdownTimeout: config.shutdown.timeout })

/**
 * The runner over the configured collectors, on storage: what the CLI's
 * one-shot commands use (`collectors`, `trigger`); no scheduling, no HTTP.
 */
export const coreLayer = (config: AppConfig) =>
  runnerLayer(config).pipe(
    Layer.provideMerge(collectorsLayer(config)),
    Layer.provideMerge(storageLayer(config))
  )

/**
 * The scheduler adapter chosen by the environment, not started:
 * `USE_RAY_SCHEDULER` (`true` or `false` in any case, default `true`; see
 * `AppConfig.useRayScheduler`) selects the RayScheduler on the durable store
 * (tables `ray_scheduler_*` in the service's database; building it takes
 * the store's lease and recovers the stored runs); `false` the legacy
 * interval scheduler.
 */
export const adapterLayer = (
  config: AppConfig,
  env: Pick<Environment, "useRayScheduler">
): Layer.Layer<SchedulerAdapter, StorageError, CollectorRunner.CollectorRunner | JobStateStore | SqlClient.SqlClient> =>
  env.useRayScheduler
    ? RaySchedulerAdapter.layerSqlNotStarted({ maxSleep: config.scheduler.maxSleep })
    : LegacySchedulerAdapter.layerNotStarted

/** The `service` lease held by the running service. */
export class ServiceLease extends Context.Tag("rayinfo/ServiceLease")<ServiceLease, Lease>() {}

/**
 * Takes the database's `service` lease: fails with `LeaseHeldError` when
 * another service holds it (see docs/architecture.md, "Processes sharing a
 * database").
 */
export const serviceLeaseLayer = (server: ApiLive.ServerOptions) =>
  Layer.scoped(
    ServiceLease,
    Effect.flatMap(Leases, (leases) =>
      leases.acquire("service", {
        wait: false,
        description: `the RayInfo service (${
          ProcessOwner.describe(ProcessOwner.current())
        }, API http://${server.host}:${server.port})`
      }))
  )

/**
 * Starts the scheduling when built, and stops it (bounded by
 * `shutdown.timeout`) when released. Built last in {@link serviceLayer}:
 * runs are triggered only once the lease is held and the HTTP API answers,
 * and they end (or are dropped or interrupted) before the HTTP server
 * closes — the server waits for the requests in flight, and a `POST
 * /instances/:id/run` waits for its run. `/status` keeps answering meanwhile.
 */
export const schedulingLayer = Layer.scopedDiscard(
  Effect.flatMap(SchedulerAdapter, (adapter) => Effect.zipRight(Effect.addFinalizer(() => adapter.stop), adapter.start))
)

/** The whole service: the lease, the runner, the adapter, the HTTP API on `host`:`port`, and the scheduling. */
export const serviceLayer = (config: AppConfig, env: Environment) =>
  schedulingLayer.pipe(
    Layer.provideMerge(ApiLive.layer({ host: env.host, port: env.port })),
    Layer.provideMerge(adapterLayer(config, env)),
    Layer.provideMerge(runnerLayer(config)),
    Layer.provideMerge(collectorsLayer(config)),
    Layer.provideMerge(serviceLeaseLayer({ host: env.host, port: env.port })),
    Layer.provideMerge(storageLayer(config))
  )
