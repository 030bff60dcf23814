/**
 * What the durable-scheduler scenarios share: RayScheduler's SQL layer on a
 * SQLite file in a temporary directory (its journal mode and `synchronous`
 * setting read back, since they decide what "committed" means), and the
 * durable contenders' services — BullMQ on the local Redis, graphile-worker
 * on the local PostgreSQL in a fresh schema per sample — each reporting why
 * it cannot run when its service is absent.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Logger, WorkerUtils } from "graphile-worker"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import * as TaskConsumer from "../../src/scheduler/TaskConsumer.js"
import type { BenchConsumer } from "./ray.js"

const MB = 1024 * 1024

/** The process's maximum resident set size so far (MB). */
export const peakRssMB = (): number => (process.resourceUsage().maxRSS * 1024) / MB

/** SQLite's `synchronous` levels by number. */
const syncNames = ["OFF", "NORMAL", "FULL", "EXTRA"]

/** A durable RayScheduler on a fresh SQLite file, and what the file is set to. */
export interface RaySql {
  readonly scheduler: Scheduler.SchedulerService
  readonly sql: SqlClient.SqlClient
  readonly filename: string
  /** e.g. "journal_mode=wal, synchronous=FULL" */
  readonly settings: string
  /** Size of the database file plus its WAL (MB). */
  readonly fileMB: () => number
}

const sizeMB = (file: string): number => {
  try {
    return statSync(file).size / MB
  } catch {
    return 0
  }
}

/**
 * A registry with `consumers` and `Scheduler.makeSql(options)` on
 * `SqliteClient.layer({ filename })` (the client's defaults: WAL) in a
 * temporary directory removed when the scope closes.
 */
export const buildRaySql = (
  consumers: ReadonlyArray<BenchConsumer>,
  options: Scheduler.SqlSchedulerOptions,
  /** Sets `PRAGMA synchronous` on the client (its default otherwise). */
  synchronous?: "NORMAL" | "FULL"
): Effect.Effect<RaySql, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ray-bench-sql-"))
    // added first, so it runs last: after the client has closed the file
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const filename = path.join(dir, "tasks.db")
    const context = yield* Effect.orDie(Layer.build(SqliteClient.layer({ filename })))
    const sql = Context.get(context, SqlClient.SqlClient)
    if (synchronous !== undefined) yield* Effect.orDie(sql.unsafe(`PRAGMA synchronous = ${synchronous}`))
    const journal = yield* Effect.orDie(sql.unsafe<{ journal_mode: string }>("PRAGMA journal_mode"))
    const sync = yield* Effect.orDie(sql.unsafe<{ synchronous: number }>("PRAGMA synchronous"))
    const level = Number(sync[0]?.synchronous)
    const settings = `journal_mode=${journal[0]?.journal_mode ?? "?"}, synchronous=${syncNames[level] ?? level}`
    const registry = yield* ConsumerRegistry.make
    for (const consumer of consumers) {
      yield* Effect.orDie(Effect.flatMap(TaskConsumer.make(consumer), registry.register))
    }
    const scheduler = yield* Scheduler.makeSql(options).pipe(
      Effect.provide(context),
      Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry),
      Effect.orDie
    )
    return {
      scheduler,
      sql,
      filename,
      settings,
      fileMB: () => sizeMB(filename) + sizeMB(`${filename}-wal`)
    }
  })

// ---- Redis (BullMQ) -----------------------------------------------------------

/** Redis's persistence settings (what BullMQ's "added" means for durability), or undefined. */
export const redisPersistence = async (host: string, port: number): Promise<string | undefined> => {
  const { Redis } = await import("ioredis")
  const redis = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on("error", () => {})
  try {
    await redis.connect()
    const get = async (key: string) => ((await redis.config("GET", key)) as Array<string>)[1] ?? "?"
    const aof = await get("appendonly")
    const fsync = await get("appendfsync")
    const save = await get("save")
    return `Redis appendonly=${aof}${aof === "yes" ? `, appendfsync=${fsync}` : ""}, save="${save}"`
  } catch {
    return undefined
  } finally {
    redis.disconnect()
  }
}

// ---- PostgreSQL (graphile-worker) ---------------------------------------------

/** Resolves to `undefined` when PostgreSQL answers, else to the reason. */
export const pgProblem = async (connectionString: string): Promise<string | undefined> => {
  const { default: pg } = await import("pg")
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000 })
  client.on("error", () => {})
  try {
    await client.connect()
    await client.query("SELECT 1")
    return undefined
  } catch (error) {
    return `PostgreSQL not reachable at ${connectionString} (${error instanceof Error ? error.message : String(error)})`
  } finally {
    await client.end().catch(() => {})
  }
}

/** PostgreSQL's commit settings (what "committed" means for durability). */
export const pgPersistence = async (connectionString: string): Promise<string | undefined> => {
  const { default: pg } = await import("pg")
  const client = new pg.Client({ connectionString })
  client.on("error", () => {})
  try {
    await client.connect()
    const show = async (name: string) =>
      String(((await client.query(`SHOW ${name}`)).rows[0] as Record<string, unknown>)[name])
    return `PostgreSQL fsync=${await show("fsync")}, synchronous_commit=${await show("synchronous_commit")}`
  } catch {
    return undefined
  } finally {
    await client.end().catch(() => {})
  }
}

/** graphile-worker's tools on a fresh schema (dropped by `close`). */
export interface Graphile {
  readonly schema: string
  readonly utils: WorkerUtils
  /**
   * Adds jobs with `graphile_worker.add_jobs` in one statement (0.16 has no
   * bulk `addJobs` in JavaScript; the SQL function is its bulk API).
   */
  readonly addJobs: (specs: ReadonlyArray<GraphileSpec>) => Promise<void>
  readonly logger: Logger
  readonly close: () => Promise<void>
}

export interface GraphileSpec {
  readonly identifier: string
  readonly payload: unknown
  readonly run_at: string
  readonly job_key: string
}

/** A fresh schema with graphile-worker's tables, functions and types (migrated). */
export const openGraphile = async (connectionString: string): Promise<Graphile> => {
  const { Logger: GraphileLogger, makeWorkerUtils } = await import("graphile-worker")
  // quiet: warnings and errors only
  const logger = new GraphileLogger(() => (level, message) => {
    if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`)
  })
  const schema = `ray_bench_gw_${process.pid}_${Date.now()}`
  const utils = await makeWorkerUtils({ connectionString, schema, logger })
  await utils.migrate()
  const addJobs = async (specs: ReadonlyArray<GraphileSpec>) => {
    await utils.withPgClient((client) =>
      client.query(
        `SELECT count(*) FROM "${schema}".add_jobs(
          array(SELECT spec FROM json_populate_recordset(null::"${schema}".job_spec, $1::json) AS spec))`,
        [JSON.stringify(specs)]
      )
    )
  }
  const close = async () => {
    await utils.withPgClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
    await utils.release()
  }
  return { schema, utils, addJobs, logger, close }
}
