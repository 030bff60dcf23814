/**
 * Which runner holds what: the cluster's runners (`<prefix>_runners`), the
 * runner holding each source's shard (`<prefix>_locks`, written by
 * @effect/cluster when `shardLockDisableAdvisory` is on) and the runs in
 * flight (`<prefix>_tasks`). A read for operators (`/status`), not a
 * coordination mechanism: it can be a heartbeat behind. See docs/cluster.md,
 * "Which runner holds what".
 *
 * @internal
 */
import * as EntityId from "@effect/cluster/EntityId"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type { SqlError } from "@effect/sql/SqlError"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedules from "./schedules.js"
import * as Source from "./source.js"
import { ClusterStorage, missingStorageMessage } from "./storage.js"

/** A runner as the cluster's runner storage records it. */
export interface RunnerInfo {
  /** `host:port`, the runner's address. */
  readonly address: string
  /**
   * Whether the others' health checks find it alive. Runners shut down
   * cleanly, or silent for longer than the shard lock expiry, are not listed.
   */
  readonly healthy: boolean
  /** Its last heartbeat, as the database's clock wrote it. */
  readonly lastHeartbeat: DateTime.Utc
}

/** A run in flight. */
export interface RunningTask {
  readonly taskId: string
  /** The runner's name (`ClusterSchedulerOptions.runnerName`). */
  readonly runner: string
  readonly startedAt: DateTime.Utc
  readonly attempt: number
}

/** One source, cluster-wide. */
export interface SourceTopology {
  /**
   * The address of the runner holding the source's shard; none if no live
   * runner holds it (it is moving) or the holders are not recorded
   * (advisory shard locks: `shardLockDisableAdvisory` off).
   */
  readonly holder: Option.Option<string>
  readonly running: ReadonlyArray<RunningTask>
  /** The earliest pending retry (a task at attempt 2 or more), if any. */
  readonly retryAt: Option.Option<DateTime.Utc>
}

/** The cluster seen from one process. */
export interface ClusterTopology {
  /** This process's runner address; none for a client-only instance. */
  readonly self: Option.Option<string>
  readonly runners: ReadonlyArray<RunnerInfo>
  /** The address of the runner hosting the schedules; none as for {@link SourceTopology.holder}. */
  readonly schedulesHost: Option.Option<string>
  /** Whether shard holders are recorded (`shardLockDisableAdvisory`). */
  readonly holdersKnown: boolean
  readonly sources: ReadonlyMap<string, SourceTopology>
}

const toDate = (millis: number): DateTime.Utc => DateTime.unsafeMake(millis)

/** The topology, with the sources asked for (each one, present or not). @internal */
export const topology = (
  sources: Iterable<string>
): Effect.Effect<ClusterTopology, SqlError, Sharding.Sharding | ShardingConfig.ShardingConfig> =>
  Effect.gen(function*() {
    const storage = yield* Effect.serviceOption(ClusterStorage)
    if (Option.isNone(storage)) return yield* Effect.dieMessage(missingStorageMessage("ClusterScheduler.topology"))
    const { prefix, sql } = storage.value.store
    const sharding = yield* Sharding.Sharding
    const config = yield* ShardingConfig.ShardingConfig
    const names = [...new Set(sources)]
    const expiry = Duration.toMillis(Duration.decode(config.shardLockExpiration))

    // the heartbeat is a TIMESTAMP written with NOW() in the session's time zone: its age is read in SQL. A
    // runner whose heartbeat is older than the lock expiry is no longer one of the cluster's (as Sharding sees it)
    const runnerRows = yield* sql<{ address: string; healthy: boolean; age_ms: string | number }>`
      SELECT address, healthy, EXTRACT(EPOCH FROM (LOCALTIMESTAMP - last_heartbeat)) * 1000 AS age_ms
      FROM ${sql(`${prefix}_runners`)}
      WHERE last_heartbeat > LOCALTIMESTAMP - make_interval(secs => ${expiry / 1000})
      ORDER BY address`
    const now = DateTime.toEpochMillis(yield* DateTime.now)
    const locksTable = `${prefix}_locks`
    const present = (yield* sql<{ present: boolean }>`SELECT to_regclass(${locksTable}) IS NOT NULL AS present`)[0]
      ?.present === true
    // holders whose lock is younger than the expiry (an older lock is free for the taking), by the database's clock
    const lockRows = present && config.shardLockDisableAdvisory
      ? yield* sql<{ shard_id: string; address: string }>`
          SELECT shard_id, address FROM ${sql(locksTable)}
          WHERE acquired_at >= NOW() - make_interval(secs => ${expiry / 1000})`
      : []
    const holders = new Map(lockRows.map((row) => [row.shard_id, row.address]))
    const holderOf = (entity: string, group: string) =>
      Option.fromNullable(holders.get(sharding.getShardId(EntityId.make(entity), group).toString()))

    const taskRows = names.length === 0 ? [] : yield* sql<{
      id: string
      source: string
      runner: string | null
      started_ms: string | number | null
      due_ms: string | number
      attempt: number
    }>`SELECT id, source, runner, started_ms, due_ms, attempt FROM ${sql(`${prefix}_tasks`)}
        WHERE ${sql.in("source", names)} AND (started_ms IS NOT NULL OR attempt > 1)
        ORDER BY due_ms, id`
    const bySource = new Map<string, { running: Array<RunningTask>; retryAt: Option.Option<DateTime.Utc> }>()
    for (const name of names) bySource.set(name, { running: [], retryAt: Option.none() })
    for (const row of taskRows) {
      const entry = bySource.get(row.source)!
      if (row.started_ms !== null) {
        entry.running.push({
          taskId: row.id,
          runner: row.runner ?? "",
          startedAt: toDate(Number(row.started_ms)),
          attempt: row.attempt
        })
      } else if (Option.isNone(entry.retryAt)) {
        entry.retryAt = Option.some(toDate(Number(row.due_ms))) // rows come earliest first
      }
    }

    return {
      self: Option.map(config.runnerAddress, (address) => `${address.host}:${address.port}`),
      runners: runnerRows.map((row) => ({
        address: row.address,
        healthy: row.healthy,
        lastHeartbeat: toDate(now - Math.round(Number(row.age_ms)))
      })),
      schedulesHost: holderOf(
        Schedules.hostId,
        Schedules.SchedulesEntity.getShardGroup(EntityId.make(Schedules.hostId))
      ),
      holdersKnown: config.shardLockDisableAdvisory,
      sources: new Map(names.map((name) => {
        const entry = bySource.get(name)!
        return [name, {
          holder: holderOf(name, Source.SourceEntity.getShardGroup(EntityId.make(name))),
          running: entry.running,
          retryAt: entry.retryAt
        }]
      }))
    }
  })
