/**
 * A runner of the cluster layer for tests, on the local PostgreSQL: the
 * socket transport, `ClusterScheduler.layerStorage` (tables `<prefix>_*`)
 * and the scheduler, over the `ConsumerRegistry` it is given. Used in
 * process (test/cluster.scheduler.pg.test.ts) and by the runner processes
 * of test/e2e/cluster.e2e.test.ts.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Duration, Effect, Layer, Option } from "effect"
import * as ClusterScheduler from "../src/scheduler/ClusterScheduler.js"
import type * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Internal from "../src/scheduler/internal/cluster/scheduler.js"
import type * as Source from "../src/scheduler/internal/cluster/source.js"
import { pgLayer } from "./services/postgres.js"

/** Options of {@link runnerLayer}. */
export interface RunnerOptions extends Internal.ClusterSchedulerOptions {
  /** Table prefix of the cluster's storage. */
  readonly prefix: string
  /** The runner's port on 127.0.0.1; undefined: a client-only instance (no shards, runs nothing). */
  readonly port?: number | undefined
  /** `entityMessagePollInterval` in ms. Default: the cluster's (10 s). */
  readonly pollMillis?: number | undefined
  /** `shardLockExpiration` (how soon a dead runner's shards are taken over). Default: the cluster's (35 s). */
  readonly leaseMillis?: number | undefined
  readonly onRun?: ((report: Source.RunReport) => Effect.Effect<void>) | undefined
}

/** A runner (or a client-only instance) with the scheduler, over the `ConsumerRegistry` it is given. */
export const runnerLayer = (options: RunnerOptions) => {
  const config = {
    runnerAddress: options.port === undefined
      ? Option.none()
      : Option.some(RunnerAddress.make("127.0.0.1", options.port)),
    shardLockDisableAdvisory: true, // advisory lock ids ignore the table prefix
    ...(options.pollMillis === undefined ? {} : { entityMessagePollInterval: Duration.millis(options.pollMillis) }),
    ...(options.leaseMillis === undefined ? {} : {
      shardLockExpiration: Duration.millis(options.leaseMillis),
      // renewed within the lease (the default refresh, 10 s, is longer than a short lease)
      shardLockRefreshInterval: Duration.millis(Math.min(10_000, options.leaseMillis / 3))
    })
  }
  const storage = ClusterScheduler.layerStorage({ prefix: options.prefix }).pipe(
    Layer.provideMerge(ShardingConfig.layer(config))
  )
  const cluster = NodeClusterSocket.layer({
    storage: "byo",
    clientOnly: options.port === undefined,
    shardingConfig: config
  })
  return Internal.layer(options).pipe(
    Layer.provideMerge(cluster),
    Layer.provideMerge(storage),
    Layer.provideMerge(pgLayer())
  )
}

/** Drops the tables `<prefix>*` when the current scope closes. */
export const dropTablesAtEnd = (prefix: string) =>
  Effect.gen(function*() {
    // a client of its own, open until the scope closes (after the drop: finalizers run in reverse order)
    const sql = Context.get(yield* Layer.build(Layer.orDie(pgLayer())), SqlClient.SqlClient)
    yield* Effect.addFinalizer(() =>
      Effect.ignore(Effect.gen(function*() {
        const tables = yield* sql<{ tablename: string }>`
          SELECT tablename FROM pg_tables WHERE tablename LIKE ${`${prefix}%`}`
        for (const { tablename } of tables) yield* sql.unsafe(`DROP TABLE IF EXISTS ${tablename}`)
      }))
    )
  })

/** A table prefix of its own for a test (letters and digits). */
export const freshPrefix = (tag: string) =>
  `ray_cluster_${tag}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

export type { ConsumerRegistry }
