/**
 * One worker process of the cluster benchmark (bench/scenarios/cluster.ts):
 * a `ClusterScheduler` runner, a BullMQ worker process, or a graphile-worker
 * process, running no-op tasks of `BENCH_SOURCES` sources (source i: limit
 * 1 + i mod 4) and measuring each task's lateness against the machine's
 * clock (start − due, ms; the due instant travels with the task).
 *
 * Environment: `BENCH_KIND` (ray | bullmq | graphile), `BENCH_SOURCES`,
 * `BENCH_PG_URL`, `BENCH_PREFIX` (ray: table prefix; bullmq: queue name
 * prefix; graphile: schema), `BENCH_PORT` (ray), `BENCH_REDIS_HOST` /
 * `BENCH_REDIS_PORT` (bullmq), `BENCH_CONCURRENCY` (graphile).
 *
 * stdout: `{"ready":true}` once it takes work, `{"ran":n}` as the count
 * grows (at most every 200 ms), and on SIGTERM `{"lateness":[...]}` before it
 * exits.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Fiber, Layer, Option, Redacted } from "effect"
import * as ClusterScheduler from "../../src/scheduler/ClusterScheduler.js"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import * as TaskConsumer from "../../src/scheduler/TaskConsumer.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}
const kind = env("BENCH_KIND")
const sources = Number(env("BENCH_SOURCES"))
const prefix = env("BENCH_PREFIX")
const limitOf = (i: number) => 1 + (i % 4)

const lateness: Array<number> = []
const record = (due: number) => void lateness.push(Date.now() - due)
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
let reported = 0
const progress = setInterval(() => {
  if (lateness.length !== reported) say({ ran: reported = lateness.length })
}, 200)

let stop: () => Promise<void> = async () => {}
process.once("SIGTERM", () => {
  clearInterval(progress)
  say({ ran: lateness.length })
  say({ lateness })
  void stop().finally(() => process.exit(0))
})

const ray = async () => {
  const port = Number(env("BENCH_PORT"))
  const shardingConfig = { runnerAddress: Option.some(RunnerAddress.make("127.0.0.1", port)) }
  const consumers = Array.from({ length: sources }, (_, i) =>
    TaskConsumer.layer({
      name: `s${i}`,
      concurrency: limitOf(i),
      consume: (task) => Effect.sync(() => record(task.scheduleAt.epochMillis))
    }))
  const Runner = ClusterScheduler.layer({ runnerName: `runner:${port}` }).pipe(
    Layer.provideMerge(Layer.mergeAll(consumers[0]!, ...consumers.slice(1))),
    Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
    Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig })),
    Layer.provideMerge(
      ClusterScheduler.layerStorage({ prefix }).pipe(Layer.provide(ShardingConfig.layer(shardingConfig)))
    ),
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(env("BENCH_PG_URL")), maxConnections: 8 }))
  )
  const fiber = Effect.runFork(
    Effect.scoped(
      Effect.zipRight(Layer.build(Runner), Effect.zipRight(Effect.sync(() => say({ ready: true })), Effect.never))
    )
  )
  stop = () => Effect.runPromise(Effect.ignore(Effect.timeout(Fiber.interrupt(fiber), "20 seconds")))
}

const bullmq = async () => {
  const { Worker } = await import("bullmq")
  const connection = {
    host: env("BENCH_REDIS_HOST"),
    port: Number(env("BENCH_REDIS_PORT")),
    maxRetriesPerRequest: null
  }
  const workers = Array.from(
    { length: sources },
    (_, i) =>
      new Worker(`${prefix}-s${i}`, async (job) => record(Number(job.data.due)), {
        connection,
        concurrency: limitOf(i)
      })
  )
  await Promise.all(workers.map((worker) => worker.waitUntilReady()))
  say({ ready: true })
  stop = async () => {
    await Promise.all(workers.map((worker) => worker.close(true)))
  }
}

const graphile = async () => {
  const { Logger, run } = await import("graphile-worker")
  const runner = await run({
    connectionString: env("BENCH_PG_URL"),
    schema: prefix,
    concurrency: Number(env("BENCH_CONCURRENCY")),
    noHandleSignals: true,
    logger: new Logger(() => (level, message) => {
      if (level === "error") console.error(`graphile-worker: ${message}`)
    }),
    taskList: { job: async (payload) => record(Number((payload as { due: number }).due)) }
  })
  say({ ready: true })
  stop = () => runner.stop()
}

const main = kind === "ray" ? ray : kind === "bullmq" ? bullmq : kind === "graphile" ? graphile : undefined
if (main === undefined) throw new Error(`BENCH_KIND must be ray, bullmq or graphile, got ${kind}`)
main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
