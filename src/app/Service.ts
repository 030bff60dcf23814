/**
 * The RayInfo collector service, assembled from layers:
 *
 *   HTTP API ─┐
 *             ├─ SchedulerAdapter (RayScheduler | Legacy, from USE_RAY_SCHEDULER)
 *             │    └─ CollectorRunner ─ Collectors (from the config file)
 *             └─ Items, Pipeline, JobStateStore ─ Database (SQLite, migrated)
 *
 * Closing the service's scope (SIGINT/SIGTERM through `NodeRuntime.runMain`)
 * releases it in reverse: the HTTP server stops, the adapter stops
 * triggering and waits for running collections, then SQLite is closed.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Collector } from "./collectors/Collector.js"
import * as CommandCollector from "./collectors/command.js"
import * as FeedCollector from "./collectors/feed.js"
import type { AppConfig, CollectorConfig } from "./config/AppConfig.js"
import * as ApiLive from "./http/ApiLive.js"
import * as SqlPipeline from "./pipeline/SqlPipeline.js"
import * as CollectorRunner from "./scheduling/CollectorRunner.js"
import * as LegacySchedulerAdapter from "./scheduling/LegacySchedulerAdapter.js"
import * as RaySchedulerAdapter from "./scheduling/RaySchedulerAdapter.js"
import * as Database from "./storage/Database.js"
import * as Items from "./storage/Items.js"
import type { JobStateStore } from "./storage/JobStateStore.js"
import * as SqlJobStateStore from "./storage/SqlJobStateStore.js"

/** SQLite, migrated, with the job state store, the pipeline and the item queries on it. */
export const storageLayer = (config: AppConfig) =>
  Layer.mergeAll(
    SqlJobStateStore.layer,
    SqlPipeline.layer({ dedupCapacity: config.dedup.capacity }),
    Items.layer
  ).pipe(Layer.provideMerge(Database.layer({ filename: config.storage.path })))

const buildCollector = (
  config: CollectorConfig
): Effect.Effect<
  Collector,
  never,
  CommandExecutor.CommandExecutor | FileSystem.FileSystem | HttpClient.HttpClient | JobStateStore
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

/** The configured collectors, built with the Node HTTP client, file system and process runner. */
export const collectorsLayer = (config: AppConfig) =>
  Layer.effect(
    CollectorRunner.Collectors,
    Effect.forEach(config.collectors, (collectorConfig) =>
      Effect.map(buildCollector(collectorConfig), (collector) => ({
        collector,
        concurrency: collectorConfig.concurrency
      })))
  ).pipe(Layer.provide(Layer.merge(NodeHttpClient.layer, NodeContext.layer)))

/**
 * The scheduler adapter chosen by the environment: `USE_RAY_SCHEDULER`
 * (boolean, default `true`) selects the RayScheduler; `false` the legacy
 * interval scheduler.
 */
export const adapterLayer = (config: AppConfig) =>
  Layer.unwrapEffect(
    Effect.map(
      Config.boolean("USE_RAY_SCHEDULER").pipe(Config.withDefault(true)),
      (useRay) =>
        useRay ? RaySchedulerAdapter.layer({ maxSleep: config.scheduler.maxSleep }) : LegacySchedulerAdapter.layer
    )
  )

/** Adapter + runner + collectors + storage: everything but the HTTP server. */
export const coreLayer = (config: AppConfig) =>
  adapterLayer(config).pipe(
    Layer.provideMerge(CollectorRunner.layer),
    Layer.provideMerge(collectorsLayer(config)),
    Layer.provideMerge(storageLayer(config))
  )

/** The whole service: the core and the HTTP API on `host`:`port`. */
export const serviceLayer = (config: AppConfig, server: ApiLive.ServerOptions) =>
  ApiLive.layer(server).pipe(Layer.provideMerge(coreLayer(config)))
