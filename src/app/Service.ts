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
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as ClusterScheduler from "../scheduler/ClusterScheduler.js"
import type { Collector } from "./collectors/Collector.js"
import * as CommandCollector from "./collectors/command.js"
import * as FeedCollector from "./collectors/feed.js"
import * as ProcessGroups from "./collectors/ProcessGroups.js"
import type { AppConfig, ClusterEnvironment, Environment } from "./config/AppConfig.js"
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

/**
 * The database, migrated — SQLite on `storage.path`, or PostgreSQL in
 * cluster mode (`RAYINFO_DATABASE_URL`) — with the job state store, the
 * pipeline, the item queries and the leases on it.
 */
export const storageLayer = (config: AppConfig, env: Pick<Environment, "cluster">) =>
  Layer.mergeAll(
    SqlJobStateStore.layer,
    SqlPipeline.layer({ dedupCapacity: config.dedup.capacity }),
    Items.layer,
    LeasesModule.layerSql()
  ).pipe(Layer.provideMerge(databaseLayer(config, env)))

/** The database alone: SQLite on `storage.path`, or PostgreSQL in cluster mode. */
export const databaseLayer = (config: AppConfig, env: Pick<Environment, "cluster">, options?: { migrate?: boolean }) =>
  Option.match(env.cluster, {
    onNone: () => Database.layer({ filename: config.storage.path, busyTimeout: config.storage.busyTimeout }),
    onSome: (cluster) =>
      Database.layerPg({ url: cluster.databaseUrl, busyTimeout: config.storage.busyTimeout, ...options })
  })

/** Where the storage is, for messages: the SQLite file, or the PostgreSQL URL without its password. */
export const storageLabel = (config: AppConfig, env: Pick<Environment, "cluster">): string =>
  Option.match(env.cluster, {
    onNone: () => config.storage.path,
    onSome: (cluster) => {
      try {
        const url = new URL(Redacted.value(cluster.databaseUrl))
        if (url.password !== "") url.password = "***"
        return url.toString()
      } catch {
        return "the PostgreSQL database of RAYINFO_DATABASE_URL"
      }
    }
  })

/** The table prefix of the cluster's storage in RayInfo's database (`rayinfo_tasks`, `rayinfo_runners`, ...). */
export const clusterTablePrefix = "rayinfo"

/** Whether a host name or address is a loopback one (a runner there is reachable from this machine only). */
const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127\./.test(host)

/**
 * This process as a runner of the cluster (cluster mode): @effect/cluster's
 * sharding on the socket transport, on `RAYINFO_RUNNER_HOST`:`RAYINFO_RUNNER_PORT`
 * (listening on every interface, or on the loopback address given), with
 * `ClusterScheduler.layerStorage` on the service's PostgreSQL (tables
 * `rayinfo_*`). Shard locks are rows of `rayinfo_locks`
 * (`shardLockDisableAdvisory`), so that `/status` can say which runner holds
 * each job; they expire after `RAYINFO_RUNNER_LEASE`.
 */
export const clusterLayer = (cluster: ClusterEnvironment) => {
  const shardingConfig = {
    runnerAddress: Option.some(RunnerAddress.make(cluster.runnerHost, cluster.runnerPort)),
    runnerListenAddress: Option.some(
      RunnerAddress.make(isLoopback(cluster.runnerHost) ? cluster.runnerHost : "0.0.0.0", cluster.runnerPort)
    ),
    shardLockDisableAdvisory: true,
    shardLockExpiration: cluster.runnerLease,
    // renewed well within the lease (@effect/cluster's default refresh, 10 s, is longer than a short lease)
    shardLockRefreshInterval: Duration.min(
      Duration.seconds(10),
      Duration.divide(cluster.runnerLease, 3).pipe(
        Option.getOrElse(() => Duration.seconds(10))
      )
    )
  }
  const config = ShardingConfig.layer(shardingConfig)
  return NodeClusterSocket.layer({ storage: "byo", shardingConfig }).pipe(
    Layer.provideMerge(ClusterScheduler.layerStorage({ prefix: clusterTablePrefix })),
    Layer.provideMerge(config)
  )
}

/** This runner's address, as the cluster's tables name it. */
export const runnerAddressOf = (cluster: ClusterEnvironment) => `${cluster.runnerHost}:${cluster.runnerPort}`

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
export const coreLayer = (config: AppConfig, env: Pick<Environment, "cluster">) =>
  runnerLayer(config).pipe(
    Layer.provideMerge(collectorsLayer(config)),
    Layer.provideMerge(storageLayer(config, env))
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

/**
 * The whole service: the lease, the runner, the adapter, the HTTP API on
 * `host`:`port`, and the scheduling. In cluster mode (`env.cluster`), on
 * PostgreSQL, the process is a runner of the cluster instead of the only
 * service on its database: no `service` lease, and the adapter is the
 * cluster's (`RaySchedulerAdapter.makeCluster`). The cluster layer sits
 * right above the storage, so that it closes (handing this runner's jobs
 * over) after the adapter drained the runs and before the database closes.
 */
export const serviceLayer = (config: AppConfig, env: Environment) => {
  const upper = <E, R>(adapter: Layer.Layer<SchedulerAdapter, E, R>) =>
    schedulingLayer.pipe(
      Layer.provideMerge(ApiLive.layer({ host: env.host, port: env.port, token: env.apiToken })),
      Layer.provideMerge(adapter),
      Layer.provideMerge(runnerLayer(config)),
      Layer.provideMerge(collectorsLayer(config))
    )
  return oneOf(
    Option.map(env.cluster, (cluster) =>
      upper(clusterAdapterLayer(config, cluster)).pipe(
        Layer.provideMerge(Layer.succeed(ServiceLease, { name: "service", lost: Effect.never })),
        Layer.provideMerge(clusterLayer(cluster)),
        Layer.provideMerge(storageLayer(config, env))
      )),
    () =>
      upper(adapterLayer(config, env)).pipe(
        Layer.provideMerge(serviceLeaseLayer({ host: env.host, port: env.port })),
        Layer.provideMerge(storageLayer(config, env))
      )
  )
}

/** The layer in `some`, else the other one, as one layer type: what both provide. */
const oneOf = <A1, E1, A2, E2>(
  some: Option.Option<Layer.Layer<A1, E1>>,
  otherwise: () => Layer.Layer<A2, E2>
): Layer.Layer<Extract<A1, A2>, E1 | E2> => Option.isSome(some) ? some.value : otherwise()

/** The cluster adapter on this runner, not started. */
export const clusterAdapterLayer = (config: AppConfig, cluster: ClusterEnvironment) =>
  RaySchedulerAdapter.layerClusterNotStarted({
    shutdownTimeout: config.shutdown.timeout,
    runnerName: runnerAddressOf(cluster)
  })
