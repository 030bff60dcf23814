/**
 * `ClusterScheduler` — the `Scheduler` on several processes: Effect's own
 * distributed engine, @effect/cluster, with its storage on PostgreSQL. A
 * source's tasks run on the runner that holds the source (one at a time),
 * so its `concurrency` holds across the cluster; a task is a persisted
 * message, so a runner that dies loses nothing (its sources move to the
 * other runners, which run its unfinished tasks again).
 *
 * Code that submits tasks, registers consumers as layers and reads stats
 * does not change: it is the same {@link Scheduler} tag. Deployment
 * (runners, ports, database, leases, node loss, clock skew) and the full
 * composition are in docs/cluster.md; how it works in
 * docs/architecture.md, "The cluster layer".
 *
 * @since 0.4.0
 */
import type * as MessageStorage from "@effect/cluster/MessageStorage"
import type * as RunnerStorage from "@effect/cluster/RunnerStorage"
import type * as Sharding from "@effect/cluster/Sharding"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { ConsumerRegistry } from "./ConsumerRegistry.js"
import * as internal from "./internal/cluster/scheduler.js"
import * as storage from "./internal/cluster/storage.js"
import * as topologyInternal from "./internal/cluster/topology.js"
import type { Scheduler } from "./Scheduler.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.4.0
 * @category models
 */
export interface ClusterSchedulerOptions {
  /** Start running tasks on this runner when built. Default: `true`. */
  readonly autoStart?: boolean | undefined
  /**
   * How long `stop` (and closing the layer) waits for this runner's running
   * tasks before interrupting them; an interrupted task runs again (its
   * next attempt, at once). Default: no limit.
   */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /**
   * How long a task delivered to a runner without a consumer for its source
   * waits for one (registered on that runner) before it becomes a dead
   * letter (`NoConsumer`). Default: 30 seconds.
   */
  readonly noConsumerGrace?: Duration.DurationInput | undefined
  /**
   * This runner's name in the tasks table (`runner` of a running task: which
   * runner holds what). Default: `$HOSTNAME:<pid>` (`runner:<pid>` without
   * `HOSTNAME`).
   */
  readonly runnerName?: string | undefined
  /**
   * How long @effect/cluster's rows of a task's message (and its reply) are
   * kept after it was sent, once processed: the runner hosting the
   * schedules deletes older ones every 10 minutes (@effect/cluster never
   * does). `Duration.infinity` keeps them. Default: 1 day.
   */
  readonly messageRetention?: Duration.DurationInput | undefined
  /**
   * Update the `SchedulerMetrics` with this runner's runs (no pending and
   * running gauges: the tasks table has the cluster's counts). Default:
   * `false`.
   */
  readonly metrics?: boolean | undefined
}

/**
 * Options of {@link layerStorage}.
 *
 * @since 0.4.0
 * @category models
 */
export interface ClusterStorageOptions {
  /**
   * The prefix of every table: @effect/cluster's (`<prefix>_messages`,
   * `<prefix>_replies`, `<prefix>_runners`, `<prefix>_locks`, …) and the
   * scheduler's (`<prefix>_tasks`, `<prefix>_dead_letters`, `<prefix>_paused`,
   * `<prefix>_schedules`). Letters, digits and `_`. Default: `"cluster"`
   * (@effect/cluster's default).
   */
  readonly prefix?: string | undefined
}

/**
 * The scheduler on a cluster runner (or a client-only instance, which
 * submits and reads but runs nothing). Registers the source entity with
 * `Sharding`, and needs the storage of {@link layerStorage} in its context
 * (provide it with `Layer.provideMerge` below both the `Sharding` layer and
 * this one; without it the layer dies saying so).
 *
 * What differs from the local layers (docs/cluster.md, "Semantics"):
 * `stats` counts `started`, `succeeded`, `failed`, `retried`, `dropped` and
 * lateness on this runner, and `pending`, `inFlight`, `deadLetters` and
 * `nextAt` across the cluster; `stop` stops this runner only (its sources'
 * tasks wait until it starts again or its sources move).
 *
 * @since 0.4.0
 * @category layers
 */
export const layer: (
  options?: ClusterSchedulerOptions
) => Layer.Layer<Scheduler, never, ConsumerRegistry | Sharding.Sharding> = internal.layer

/**
 * A runner's storage on PostgreSQL: @effect/cluster's SQL message storage
 * (its reads wake the runner at the instant the next message is due, so a
 * task is not late by the cluster's poll interval) and runner storage, and
 * the scheduler's own tables, created if need be. Give it to the cluster
 * layer (`NodeClusterSocket.layer({ storage: "byo" })`) and to {@link layer}.
 *
 * @since 0.4.0
 * @category layers
 */
export const layerStorage: (
  options?: ClusterStorageOptions
) => Layer.Layer<
  MessageStorage.MessageStorage | RunnerStorage.RunnerStorage | storage.ClusterStorage,
  SqlError,
  SqlClient.SqlClient | ShardingConfig.ShardingConfig
> = storage.layer

/**
 * The scheduler's view of a runner's storage (provided by
 * {@link layerStorage}).
 *
 * @since 0.4.0
 * @category tags
 */
export const ClusterStorage = storage.ClusterStorage

/**
 * @since 0.4.0
 * @category tags
 */
export type ClusterStorage = storage.ClusterStorage

/**
 * Which runner holds what, for operators: the cluster's runners with their
 * last heartbeat, the runner holding each of `sources` (and the schedules),
 * the runs in flight and the earliest waiting retry of each source. Read
 * from the cluster's tables (a heartbeat behind at most); the holders are
 * known only with `shardLockDisableAdvisory: true` in the `ShardingConfig`
 * (@effect/cluster then records shard locks in `<prefix>_locks`). Needs the
 * storage of {@link layerStorage} in its context, like {@link layer}.
 *
 * @since 0.4.0
 * @category getters
 */
export const topology: (
  sources: Iterable<string>
) => Effect.Effect<ClusterTopology, SqlError, Sharding.Sharding | ShardingConfig.ShardingConfig> =
  topologyInternal.topology

/**
 * @since 0.4.0
 * @category models
 */
export type ClusterTopology = topologyInternal.ClusterTopology

/**
 * @since 0.4.0
 * @category models
 */
export type SourceTopology = topologyInternal.SourceTopology

/**
 * @since 0.4.0
 * @category models
 */
export type RunnerInfo = topologyInternal.RunnerInfo

/**
 * @since 0.4.0
 * @category models
 */
export type RunningTask = topologyInternal.RunningTask
