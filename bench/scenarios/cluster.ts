/**
 * Scenario 12 — several worker processes (issue 11): `ClusterScheduler` with
 * 1, 2 and 3 runner processes against BullMQ (a queue per source, its
 * global concurrency = the source's limit, on the local Redis) and
 * graphile-worker 0.16 (on the local PostgreSQL), with as many worker
 * processes (`bench/lib/clusterChild.ts`). Contender ids: `ray1`..`ray3`,
 * `bullmq1`..`bullmq3`, `graphile1`..`graphile3`.
 *
 * `tasks` no-op tasks over `sources` sources (limits 1 to 4) fall due at
 * `ratePerSec`, from an instant far enough ahead that all of them are
 * submitted first (from this process; not timed), `settleMs` after the
 * workers said they are ready. Metrics: throughput
 * (tasks / time from the first due instant until the last one ran),
 * lateness p50 / p99 / max (start − due, on the machine's clock, measured
 * in the workers), submit time, and runs beyond one per task (duplicates).
 */
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import { DateTime, Effect, Layer, Option, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import * as ClusterScheduler from "../../src/scheduler/ClusterScheduler.js"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import { Scheduler } from "../../src/scheduler/Scheduler.js"
import { Task } from "../../src/scheduler/Task.js"
import { openGraphile, pgProblem } from "../lib/durable.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import { percentiles } from "../lib/stats.js"
import { redisProblem } from "./lateness.js"

/** The worker processes' program (workers run from the repository's root; this module may be bundled elsewhere). */
const CHILD = path.resolve(process.cwd(), "bench", "lib", "clusterChild.ts")
const limitOf = (i: number) => 1 + (i % 4)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** A worker process and what it said: `ran` (latest), `lateness` (at the end). */
interface Child {
  readonly process: ChildProcess
  ready: Promise<void>
  ran: number
  lateness: Array<number> | undefined
  exited: Promise<void>
}

const spawnChild = (env: Record<string, string>): Child => {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"]
  })
  let markReady: () => void = () => {}
  let failed: (error: Error) => void = () => {}
  const state: Child = {
    process: child,
    ready: new Promise<void>((resolve, reject) => {
      markReady = resolve
      failed = reject
    }),
    ran: 0,
    lateness: undefined,
    exited: new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        failed(new Error(`cluster bench: a worker process exited (${code ?? signal}) before it was ready`))
        resolve()
      })
    )
  }
  let buffer = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8")
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (!line.startsWith("{")) continue
      const message = JSON.parse(line) as { ready?: boolean; ran?: number; lateness?: Array<number> }
      if (message.ready === true) markReady()
      if (message.ran !== undefined) state.ran = message.ran
      if (message.lateness !== undefined) state.lateness = message.lateness
    }
  })
  return state
}

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`cluster bench: ${what} timed out`)), ms))
  ])

/** The planned tasks: ids, sources, due instants (`t0` + i / rate). */
const plan = (params: Params, t0: number) => {
  const n = num(params, "tasks")
  const rate = num(params, "ratePerSec")
  const sources = num(params, "sources")
  return Array.from({ length: n }, (_, i) => ({
    id: `t${i}`,
    source: `s${(i * 7) % sources}`,
    due: t0 + Math.floor((i * 1000) / rate)
  }))
}

type Planned = ReturnType<typeof plan>

/** How a contender stores the tasks and cleans up after itself. */
interface Backend {
  readonly env: Record<string, string>
  readonly submit: (tasks: Planned) => Promise<void>
  readonly close: () => Promise<void>
}

const pgUrl = (params: Params) => String(params.pgUrl)

const rayBackend = async (params: Params): Promise<Backend> => {
  const prefix = `ray_bench_cl_${process.pid}_${Date.now().toString(36)}`
  const url = pgUrl(params)
  const Database = PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })
  const Client = ClusterScheduler.layer().pipe(
    Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
    Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", clientOnly: true, shardingConfig: {} })),
    Layer.provideMerge(
      ClusterScheduler.layerStorage({ prefix }).pipe(
        Layer.provide(ShardingConfig.layer({ runnerAddress: Option.none() }))
      )
    ),
    Layer.provideMerge(Database)
  )
  return {
    env: { BENCH_PREFIX: prefix },
    submit: (tasks) =>
      Effect.runPromise(Effect.scoped(
        Effect.gen(function*() {
          const scheduler = yield* Scheduler
          for (let i = 0; i < tasks.length; i += 500) {
            yield* scheduler.submitAll(
              tasks.slice(i, i + 500).map((t) =>
                new Task({ id: t.id, source: t.source, args: {}, scheduleAt: DateTime.unsafeMake(t.due) })
              )
            )
          }
        }).pipe(Effect.provide(Client))
      )),
    close: async () => {
      const pg = (await import("pg")).default
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      const { rows } = await client.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE $1",
        [`${prefix}%`]
      )
      for (const { tablename } of rows) await client.query(`DROP TABLE IF EXISTS "${tablename}"`)
      await client.end()
    }
  }
}

const bullBackend = async (params: Params): Promise<Backend> => {
  const { Queue } = await import("bullmq")
  const host = String(params.redisHost)
  const port = num(params, "redisPort")
  const connection = { host, port, maxRetriesPerRequest: null }
  const prefix = `ray-bench-cluster-${process.pid}-${Date.now()}`
  const queues = Array.from({ length: num(params, "sources") }, (_, i) => new Queue(`${prefix}-s${i}`, { connection }))
  for (let i = 0; i < queues.length; i++) await queues[i]!.setGlobalConcurrency(limitOf(i))
  return {
    env: { BENCH_PREFIX: prefix, BENCH_REDIS_HOST: host, BENCH_REDIS_PORT: String(port) },
    submit: async (tasks) => {
      const now = Date.now()
      const bySource = new Map<number, Array<Planned[number]>>()
      for (const t of tasks) {
        const i = Number(t.source.slice(1))
        bySource.set(i, [...(bySource.get(i) ?? []), t])
      }
      for (const [i, list] of bySource) {
        for (let k = 0; k < list.length; k += 1000) {
          await queues[i]!.addBulk(
            list.slice(k, k + 1000).map((t) => ({
              name: "job",
              data: { due: t.due },
              opts: { jobId: t.id, delay: t.due - now, timestamp: now, removeOnComplete: true, removeOnFail: true }
            }))
          )
        }
      }
    },
    close: async () => {
      for (const queue of queues) {
        await queue.obliterate({ force: true })
        await queue.close()
      }
    }
  }
}

const graphileBackend = async (params: Params): Promise<Backend> => {
  const g = await openGraphile(pgUrl(params))
  return {
    env: { BENCH_PREFIX: g.schema, BENCH_CONCURRENCY: String(num(params, "graphileConcurrency")) },
    submit: async (tasks) => {
      for (let i = 0; i < tasks.length; i += 1000) {
        await g.addJobs(
          tasks.slice(i, i + 1000).map((t) => ({
            identifier: "job",
            payload: { due: t.due },
            run_at: new Date(t.due).toISOString(),
            job_key: t.id
          }))
        )
      }
    },
    close: () => g.close()
  }
}

export const run = async (contender: string, params: Params): Promise<SampleResult> => {
  const match = /^(ray|bullmq|graphile)(\d)$/.exec(contender)
  if (match === null) throw new Error(`cluster: unknown contender ${contender}`)
  const kind = match[1]!
  const workers = Number(match[2])
  const problem = kind === "bullmq"
    ? await redisProblem(String(params.redisHost), num(params, "redisPort"))
    : await pgProblem(pgUrl(params))
  if (problem !== undefined) return { metrics: {}, skipped: problem }
  const backend = kind === "ray"
    ? await rayBackend(params)
    : kind === "bullmq"
    ? await bullBackend(params)
    : await graphileBackend(params)
  const children: Array<Child> = []
  try {
    for (let w = 0; w < workers; w++) {
      children.push(spawnChild({
        ...backend.env,
        BENCH_KIND: kind,
        BENCH_SOURCES: String(num(params, "sources")),
        BENCH_PG_URL: pgUrl(params),
        BENCH_PORT: String(await freePort())
      }))
    }
    await withTimeout(Promise.all(children.map((c) => c.ready)), 120_000, "starting the workers")
    // a runner takes its shards (and the runners share them out) in the seconds after it started
    await new Promise((resolve) => setTimeout(resolve, num(params, "settleMs")))
    const n = num(params, "tasks")
    // the first task is due once every task is stored: a lead for the submission (RayScheduler's is the slowest)
    const lead = 3000 + n * (kind === "ray" ? num(params, "raySubmitMsPerTask") : 0.2)
    const t0 = Date.now() + lead
    const tasks = plan(params, t0)
    const s0 = Date.now()
    await backend.submit(tasks)
    const submitMs = Date.now() - s0
    const notes = Date.now() > t0 ? [`the submission overran its lead (${lead} ms): lateness includes it`] : []
    const ran = () => children.reduce((sum, c) => sum + c.ran, 0)
    const deadline = tasks.at(-1)!.due + 180_000
    while (ran() < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const doneAt = Date.now()
    if (ran() < n) notes.push(`only ${ran()} of ${n} ran within 180 s of the last due instant`)
    for (const child of children) child.process.kill("SIGTERM")
    await withTimeout(Promise.all(children.map((c) => c.exited)), 60_000, "stopping the workers")
    const lateness = children.flatMap((c) => c.lateness ?? [])
    const { p50, p99 } = lateness.length === 0 ? { p50: NaN, p99: NaN } : percentiles(lateness)
    return {
      metrics: {
        tasksPerSec: (Math.min(ran(), n) * 1000) / Math.max(1, doneAt - t0),
        latenessP50: p50,
        latenessP99: p99,
        latenessMax: lateness.reduce((a, b) => Math.max(a, b), -Infinity),
        submitMs,
        duplicates: Math.max(0, lateness.length - n),
        workers
      },
      notes
    }
  } finally {
    for (const child of children) if (child.process.exitCode === null) child.process.kill("SIGKILL")
    await backend.close()
  }
}
