/**
 * A runner's storage for the cluster layer: @effect/cluster's SQL message
 * and runner storage (tables `<prefix>_*`), the message storage wrapped by
 * the due timer (`dueTimer.ts`), and the scheduler's own tables
 * (`store.ts`), all on the `SqlClient` of a PostgreSQL database. See
 * docs/cluster.md.
 *
 * @internal
 */
import * as MessageStorage from "@effect/cluster/MessageStorage"
import type * as RunnerStorage from "@effect/cluster/RunnerStorage"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { validPrefix } from "../sqlStore.js"
import * as DueTimer from "./dueTimer.js"
import * as Store from "./store.js"

/** What the cluster layer's scheduler needs of its runner's storage. @internal */
export class ClusterStorage extends Context.Tag("ray-scheduler/cluster/ClusterStorage")<ClusterStorage, {
  readonly store: Store.ClusterStore
  readonly timer: DueTimer.DueTimer
  /** The runner's message storage (the wrapped one): submits store their messages through it directly. */
  readonly messages: MessageStorage.MessageStorage["Type"]
}>() {}

/** Why `where` cannot run: the storage of `layerStorage` is missing from its context. @internal */
export const missingStorageMessage = (where: string) =>
  `${where}: no cluster storage in the context. Provide ClusterScheduler.layerStorage (on a PostgreSQL SqlClient) ` +
  "with Layer.provideMerge below both the cluster's Sharding and this layer (see docs/cluster.md)"

/** The default table prefix: @effect/cluster's own default. @internal */
export const defaultPrefix = "cluster"

/** @internal */
export const layer = (
  options: { readonly prefix?: string | undefined } = {}
): Layer.Layer<
  MessageStorage.MessageStorage | RunnerStorage.RunnerStorage | ClusterStorage,
  SqlError,
  SqlClient.SqlClient | ShardingConfig.ShardingConfig
> => {
  const prefix = options.prefix ?? defaultPrefix
  if (!validPrefix.test(prefix)) {
    return Layer.fail(
      new SqlError({
        message: `ClusterScheduler.layerStorage: prefix must be letters, digits and _ (at most 41), got ${
          JSON.stringify(prefix)
        }`
      })
    )
  }
  const own = Layer.scopedContext(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialectOrElse({ pg: () => "pg", orElse: () => "other" })
    if (dialect !== "pg") {
      return yield* new SqlError({
        message: "ClusterScheduler.layerStorage: the cluster layer runs on PostgreSQL only"
      })
    }
    const store = yield* Store.make(sql, prefix)
    const { storage, timer } = yield* DueTimer.make({ prefix })
    return Context.make(MessageStorage.MessageStorage, storage).pipe(
      Context.add(ClusterStorage, { store, timer, messages: storage })
    )
  })).pipe(Layer.provide(Snowflake.layerGenerator))
  // @effect/cluster creates its tables with CREATE TABLE IF NOT EXISTS, which PostgreSQL does not make safe
  // against a concurrent creation: runners starting together fail (or die: some of its migrations are orDie)
  // with a unique violation in the catalog or "already exists". Creating them again once the other runner is
  // done succeeds (everything is IF NOT EXISTS). Each attempt builds in a scope of its own, closed if it fails.
  const merged = Layer.merge(own, SqlRunnerStorage.layerWith({ prefix }))
  const attempt = Effect.gen(function*() {
    const child = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    return yield* Layer.buildWithScope(merged, child).pipe(
      Effect.catchAllDefect((defect) =>
        defect instanceof SqlError && isCreationRace(defect) ? Effect.fail(defect) : Effect.die(defect)
      ),
      Effect.onError((cause) => Scope.close(child, Exit.failCause(cause)))
    )
  })
  return Layer.scopedContext(
    Effect.retry(
      attempt,
      Schedule.spaced("250 millis").pipe(
        Schedule.jittered,
        Schedule.intersect(Schedule.recurs(20)),
        Schedule.whileInput(isCreationRace)
      )
    )
  )
}

/**
 * Another session created the same table, index or type meanwhile: a unique
 * violation in PostgreSQL's catalog (23505), or "already exists" (42P07
 * duplicate_table, 42710 duplicate_object).
 */
const isCreationRace = (error: SqlError): boolean => {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return code === "23505" || code === "42P07" || code === "42710"
}
