// The usage example from README.md, kept compiling by `npm run typecheck`.
// Run: npx tsx examples/usage.ts
import { NodeRuntime } from "@effect/platform-node"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Clock, DateTime, Effect, Layer } from "effect"
import { ConsumerRegistry, Scheduler, Task, TaskConsumer } from "ray-scheduler"

// A consumer, supplied as a layer: registered when built, unregistered when released.
const Greeter = TaskConsumer.layer({
  name: "greeter",
  concurrency: 2, // at most 2 greeter tasks at once (default 1)
  consume: (task) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* Effect.log(`hello ${task.args.who}, ${now - task.dueMillis} ms late`)
    })
})

// Consumers on top of the scheduler on top of the registry (and, for the durable scheduler, a database).
// `Scheduler.Scheduler.layerSql()` keeps the tasks in SQLite: they survive a crash or a restart.
// `Scheduler.Scheduler.layer` is the in-memory scheduler (no database; the fastest; tests).
const AppLayer = Layer.mergeAll(Greeter).pipe(
  Layer.provideMerge(Scheduler.Scheduler.layerSql()),
  Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
  Layer.provideMerge(SqliteClient.layer({ filename: "tasks.db" }))
)

const program = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const now = yield* DateTime.now
  yield* scheduler.submitAll([
    yield* Task.Task.create({
      source: "greeter",
      args: { who: "later" },
      scheduleAt: DateTime.add(now, { seconds: 2 })
    }),
    yield* Task.Task.create({ source: "greeter", args: { who: "soon" }, scheduleAt: DateTime.add(now, { seconds: 1 }) })
  ])
  yield* Effect.sleep("3 seconds")
  yield* Effect.log(yield* scheduler.stats)
})

program.pipe(Effect.provide(AppLayer), NodeRuntime.runMain)
