/**
 * The RayInfo collector service, assembled from layers (built bottom-up):
 *
 *   HTTP API
 *     └─ SchedulerAdapter (RayScheduler | Legacy, from USE_RAY_SCHEDULER)
 *          └─ CollectorRunner ─ Collectors (from the config file; process groups reaped)
 *               └─ the `service` lease (one service per database)
 *                    └─ Items, Pipeline, JobStateStore, Leases ─ Database (SQLite, migrated)
 *
 * Closing the service's scope (SIGINT/SIGTERM through `NodeRuntime.runMain`)
 * releases it in reverse, except that scheduling stops first: the adapter
 * stops triggering and the runner waits for running collections up to
 * `shutdown.timeout` (then interrupts them) while the HTTP API still
 * answers; then the HTTP server stops, the lease is released and SQLite is
 * closed. See docs/architecture.md, "Shutdown".
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Collector } from "./collectors/Collector.js"
import * as CommandCollector from "./collectors/command.js"
import * as FeedCollector from "./collectors/feed.js"
import * as ProcessGroups from "./collectors/ProcessGroups.js"
import { type AppConfig, type CollectorConfig, useRayScheduler } from "./config/AppConfig.js"
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

/** SQLite, migrated, with the job state store, the pipeline, the item queries and the leases on it. */
export const storageLayer = (config: AppConfig) =>
  Layer.mergeAll(
    SqlJobStateStore.layer,
    SqlPipeline.layer({ dedupCapacity: config.dedup.capacity }),
    Items.layer,
    LeasesModule.layerSql()
  ).pipe(Layer.provideMerge(Database.layer({ filename: config.storage.path, busyTimeout: config.storage.busyTimeout })))

const buildCollector = (
  config: CollectorConfig
): Effect.Effect<
  Collector,
  never,
  HttpClient.HttpClient | JobStateStore | ProcessGroups.ProcessGroups
> => {
  switch (config.type) {
    case "feed":
      return FeedCollector.make({
        name: config.name,
        interval: config.interval,
        feeds: config.feeds.map((feed) => ({ url: feed.url, interval: feed.interval })),
        timeout: config.timeout,
        maxBytes: config.maxBytes,
        userAgent: config.userAgent,
        maxRedirects: config.maxRedirects,
        retryAfter: config.retryAfter,
        debug: config.debug
      })
    case "command":
      return CommandCollector.make({
        name: config.name,
        command: config.command,
        args: config.args,
        jobs: config.jobs.map((job) => ({ param: job.param, interval: job.interval })),
        interval: config.interval,
        timeout: config.timeout,
        maxOutputBytes: config.maxOutputBytes,
        resultsField: config.resultsField,
        keyField: config.keyField,
        quotaExitCodes: config.quotaExitCodes,
        quotaField: config.quotaField,
        retryAfter: config.retryAfter,
        cwd: config.cwd,
        env: config.env,
        debug: config.debug
      })
  }
}

/**
 * The configured collectors, built with the Node HTTP client, and the
 * process groups of their commands recorded in the database
 * (building it kills what a crashed predecessor left running).
 */
export const collectorsLayer = (config: AppConfig) =>
  Layer.effect(
    CollectorRunner.Collectors,
    Effect.forEach(config.collectors, (collectorConfig) =>
      Effect.map(buildCollector(collectorConfig), (collector) => ({
        collector,
        concurrency: collectorConfig.concurrency
      })))
  ).pipe(Layer.provide(Layer.merge(NodeHttpClient.layer, ProcessGroups.layerSql)))

/**
 * The scheduler adapter chosen by the environment: `USE_RAY_SCHEDULER`
 * (`true` or `false` in any case, default `true`; see
 * `AppConfig.useRayScheduler`) selects the RayScheduler; `false` the legacy
 * interval scheduler.
 */
export const adapterLayer = (config: AppConfig) =>
  Layer.unwrapEffect(
    Effect.map(
      useRayScheduler,
      (useRay) =>
        useRay ? RaySchedulerAdapter.layer({ maxSleep: config.scheduler.maxSleep }) : LegacySchedulerAdapter.layer
    )
  )

/** The runner with the configured retry policy and shutdown timeout. */
export const runnerLayer = (config: AppConfig) =>
  CollectorRunner.layer({
    retry: { minDelay: config.retry.minDelay, maxDelay: config.retry.maxDelay },
    shutdownTimeout: config.shutdown.timeout
  })

/** Adapter + runner + collectors, on top of storage. */
const schedulingLayer = (config: AppConfig) =>
  adapterLayer(config).pipe(
    Layer.provideMerge(runnerLayer(config)),
    Layer.provideMerge(collectorsLayer(config))
  )

/** Adapter + runner + collectors + storage: everything but the HTTP server and the service lease (CLI commands). */
export const coreLayer = (config: AppConfig) => schedulingLayer(config).pipe(Layer.provideMerge(storageLayer(config)))

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
 * Stops the scheduling (bounded by `shutdown.timeout`) before the HTTP server
 * closes: the server waits for the requests in flight, and a `POST
 * /instances/:id/run` waits for its run, so the runs must end (or be
 * dropped or interrupted) first. `/status` keeps answering meanwhile.
 */
const stopSchedulingFirst = Layer.scopedDiscard(
  Effect.flatMap(SchedulerAdapter, (adapter) => Effect.addFinalizer(() => adapter.shutdown))
)

/** The whole service: the lease, the core and the HTTP API on `host`:`port`. */
export const serviceLayer = (config: AppConfig, server: ApiLive.ServerOptions) =>
  stopSchedulingFirst.pipe(
    Layer.provideMerge(ApiLive.layer(server)),
    Layer.provideMerge(schedulingLayer(config)),
    Layer.provideMerge(serviceLeaseLayer(server)),
    Layer.provideMerge(storageLayer(config))
  )
