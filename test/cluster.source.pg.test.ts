/**
 * LIVE (real time, the local PostgreSQL): the cluster layer's source entity
 * (src/scheduler/internal/cluster/source.ts, issue 11, work in progress) on
 * one runner: tasks are persisted messages delivered not before their
 * instant, a task id submitted twice runs once, and a source never runs
 * more tasks at once than its consumer's concurrency. Skipped with a reason
 * when PostgreSQL is absent; a failure under `CI=true`
 * (test/services/postgres.ts).
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Layer, Option } from "effect"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as DueTimer from "../src/scheduler/internal/cluster/dueTimer.js"
import * as Source from "../src/scheduler/internal/cluster/source.js"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { freePort } from "./e2e/support.js"
import { checkPostgres, pgLayer } from "./services/postgres.js"

const available = await checkPostgres()

/** The most intervals [start, end) that overlap at one instant. */
const maxOverlap = (runs: ReadonlyArray<Source.RunReport>): number => {
  const edges = runs.flatMap((r) => [[r.startedMillis, 1], [r.endedMillis, -1]] as const)
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]) // an end before a start at the same instant
  let open = 0
  let most = 0
  for (const [, d] of edges) most = Math.max(most, open += d)
  return most
}

/** Drops the cluster tables `<prefix>*` when the test's scope closes. */
const dropTablesAtEnd = (prefix: string) =>
  Effect.gen(function*() {
    const sql = yield* Effect.provide(SqlClient.SqlClient, Layer.orDie(pgLayer()))
    yield* Effect.addFinalizer(() =>
      Effect.ignore(Effect.gen(function*() {
        const tables = yield* sql<{ tablename: string }>`
          SELECT tablename FROM pg_tables WHERE tablename LIKE ${`${prefix}%`}`
        for (const { tablename } of tables) yield* sql.unsafe(`DROP TABLE IF EXISTS ${tablename}`)
      }))
    )
  })

describe.skipIf(!available)("LIVE: the cluster source entity on PostgreSQL (one runner)", () => {
  it.live("tasks run once each, not before their instant, within their source's limit", () =>
    Effect.gen(function*() {
      const prefix = `ray_cluster_t${Date.now().toString(36)}`
      const port = yield* Effect.promise(freePort)
      const config = {
        runnerAddress: Option.some(RunnerAddress.make("127.0.0.1", port)),
        entityMessagePollInterval: Duration.millis(200),
        shardLockDisableAdvisory: true // advisory lock ids ignore the table prefix
      }
      const reports: Array<Source.RunReport> = []
      const attempts: Array<number> = []
      const consumer = (name: string, concurrency: number) =>
        TaskConsumer.layer({
          name,
          concurrency,
          consume: () =>
            Effect.zipRight(
              Effect.map(TaskRun.currentOption, (run) => void attempts.push(Option.getOrThrow(run).attempt)),
              Effect.sleep("150 millis")
            )
        })
      const Pg = pgLayer()
      const Storage = Layer.mergeAll(
        SqlMessageStorage.layerWith({ prefix }),
        Layer.orDie(SqlRunnerStorage.layerWith({ prefix }))
      ).pipe(Layer.provide(ShardingConfig.layer(config)), Layer.provide(Pg))
      const Runner = Source.layer({ onRun: (report) => Effect.sync(() => void reports.push(report)) }).pipe(
        Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig: config })),
        Layer.provide(Storage),
        Layer.provideMerge(Layer.mergeAll(consumer("one", 1), consumer("two", 2))),
        Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
      )
      yield* dropTablesAtEnd(prefix)

      yield* Effect.gen(function*() {
        const client = yield* Source.SourceEntity.client
        const now = yield* DateTime.now
        const tasks: Array<Task> = []
        for (let i = 0; i < 12; i++) {
          tasks.push(
            yield* Task.create({
              source: i % 2 === 0 ? "one" : "two",
              args: { i },
              scheduleAt: DateTime.add(now, { millis: 500 + 50 * i })
            })
          )
        }
        for (const task of [...tasks, ...tasks.slice(0, 3)]) { // three submitted twice
          yield* client(task.source).Run(new Source.RunMessage({ task, attempt: 1 }), { discard: true })
        }
        const deadline = Date.now() + 30_000
        while (reports.length < tasks.length && Date.now() < deadline) yield* Effect.sleep("50 millis")
        yield* Effect.sleep("500 millis") // a duplicate run would show now
        assert.strictEqual(reports.length, tasks.length, "each task ran, once")
        assert.deepStrictEqual(new Set(reports.map((r) => r.task.id)).size, tasks.length)
        for (const report of reports) {
          assert.strictEqual(report.result, "succeeded")
          assert.isAtLeast(report.startedMillis, DateTime.toEpochMillis(report.task.scheduleAt), "never early")
        }
        assert.deepStrictEqual(attempts, tasks.map(() => 1), "TaskRun: the first run of each")
        const one = reports.filter((r) => r.task.source === "one")
        const two = reports.filter((r) => r.task.source === "two")
        assert.strictEqual(maxOverlap(one), 1, "source one: one at a time")
        assert.strictEqual(maxOverlap(two), 2, "source two: two at a time, and it used them")
        const lateness = reports.map((r) => r.startedMillis - DateTime.toEpochMillis(r.task.scheduleAt))
        console.log(`cluster source entity, poll 200 ms: lateness max ${Math.max(...lateness)} ms`)
      }).pipe(Effect.provide(Runner), Effect.scoped)
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "with the due timer, a task is read at its instant, not at the next poll (10 s)",
    () =>
      Effect.gen(function*() {
        const prefix = `ray_cluster_d${Date.now().toString(36)}`
        const port = yield* Effect.promise(freePort)
        const config = {
          runnerAddress: Option.some(RunnerAddress.make("127.0.0.1", port)),
          shardLockDisableAdvisory: true // the default poll interval: 10 s
        }
        const reports: Array<Source.RunReport> = []
        const Pg = pgLayer()
        const Runner = Source.layer({ onRun: (report) => Effect.sync(() => void reports.push(report)) }).pipe(
          Layer.provideMerge(DueTimer.loopLayer),
          Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig: config })),
          Layer.provideMerge(
            Layer.merge(DueTimer.storageLayer({ prefix }), Layer.orDie(SqlRunnerStorage.layerWith({ prefix }))).pipe(
              Layer.provide(ShardingConfig.layer(config)),
              Layer.provide(Pg)
            )
          ),
          Layer.provideMerge(
            TaskConsumer.layer({ name: "s", concurrency: 10, consume: () => Effect.void })
          ),
          Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
        )
        yield* dropTablesAtEnd(prefix)
        yield* Effect.gen(function*() {
          const client = yield* Source.SourceEntity.client
          const timer = yield* DueTimer.DueTimer
          yield* Effect.sleep("1 second") // the runner holds its shards
          const now = yield* DateTime.now
          const tasks = yield* Effect.forEach(
            [1000, 1500, 2000, 2500, 3000],
            (millis) => Task.create({ source: "s", scheduleAt: DateTime.add(now, { millis }) })
          )
          // sent in reverse order: each later send arms an earlier wake-up
          for (const task of [...tasks].reverse()) {
            yield* client("s").Run(new Source.RunMessage({ task, attempt: 1 }), { discard: true })
          }
          const deadline = Date.now() + 30_000
          while (reports.length < tasks.length && Date.now() < deadline) yield* Effect.sleep("20 millis")
          assert.strictEqual(reports.length, tasks.length)
          const lateness = reports.map((r) => r.startedMillis - DateTime.toEpochMillis(r.task.scheduleAt)).sort((
            a,
            b
          ) => a - b)
          console.log(`cluster due timer, poll 10 s: lateness ${lateness.join(", ")} ms; ${timer.fired()} wake-ups`)
          for (const late of lateness) {
            assert.isAtLeast(late, 0, "never early")
            // without the timer every one of them waits for the poll 10 s after the runner started: 6 s late or more
            assert.isBelow(late, 5000, "read at its instant, not at the next poll")
          }
          assert.isAtLeast(timer.fired(), 1)
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )
})
