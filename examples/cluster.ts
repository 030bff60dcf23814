/**
 * The scheduler on a cluster: a runner process of @effect/cluster with its
 * storage in PostgreSQL (docs/cluster.md). Start it in two or three
 * terminals with different ports; the sources split between the runners,
 * the schedule `heartbeat` fires once per occurrence in the cluster, and
 * stopping a runner (Ctrl-C) hands its sources to the others:
 *
 *   RUNNER_PORT=34431 npm run example:cluster
 *   RUNNER_PORT=34432 npm run example:cluster
 *
 * PostgreSQL: `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test).
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Console, DateTime, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { ClusterScheduler, ConsumerRegistry, Scheduler, Task, TaskConsumer } from "../src/index.js"

const port = Number(process.env.RUNNER_PORT ?? 34431)
const me = `runner:${port}`

// 1. The consumers, as in any application of the library
const Mailer = TaskConsumer.layer({
  name: "mailer",
  concurrency: 2, // at most 2 mails at once in the whole cluster
  consume: (task) => Console.log(`${me} mails ${JSON.stringify(task.args)}`).pipe(Effect.delay("200 millis"))
})
const Heartbeat = TaskConsumer.layer({
  name: "heartbeat",
  consume: (task) => Console.log(`${me} runs ${task.id}`)
})

// 2. The runner: its address, the cluster's storage on PostgreSQL, the socket transport
const shardingConfig = {
  runnerAddress: Option.some(RunnerAddress.make("127.0.0.1", port)),
  shardLockExpiration: Duration.seconds(10) // a dead runner's sources move within about 15 s
}
const Database = PgClient.layer({
  url: Redacted.make(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test")
})
const Storage = ClusterScheduler.layerStorage({ prefix: "ray_example" }).pipe(
  Layer.provide(ShardingConfig.layer(shardingConfig))
)
const Runner = ClusterScheduler.layer({ runnerName: me }).pipe(
  Layer.provideMerge(Layer.mergeAll(Mailer, Heartbeat)),
  Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
  Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig })),
  Layer.provideMerge(Storage),
  Layer.provideMerge(Database)
)

// 3. The application: declares its schedule at every start (kept if it exists), submits work, reports
const main = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  yield* scheduler.schedule({ id: "heartbeat", source: "heartbeat", every: "5 seconds" })
  const now = yield* DateTime.now
  yield* scheduler.submitAll(
    Array.from({ length: 6 }, (_, i) =>
      new Task.Task({
        id: `${me}/mail-${i}`,
        source: "mailer",
        args: { to: `user${i}@example.org`, from: me },
        scheduleAt: DateTime.add(now, { seconds: 2 + i })
      }))
  )
  yield* Console.log(`${me}: started; Ctrl-C to stop`)
  yield* scheduler.stats.pipe(
    Effect.flatMap((stats) =>
      Console.log(
        `${me}: here ${stats.started} started, ${stats.succeeded} succeeded; cluster: ${stats.pending} pending, ` +
          `${stats.inFlight} running`
      )
    ),
    Effect.repeat(Schedule.spaced("10 seconds")),
    Effect.delay("10 seconds")
  )
})

NodeRuntime.runMain(Effect.provide(main, Runner))
