/**
 * Scheduling policy in a few seconds of real time:
 *
 * - `rateLimit`: 6 due tasks of `api`, at most 2 starts in any second;
 * - `timeout`: a `slow` run longer than 500 ms is interrupted;
 * - `maxConcurrency`: at most 3 runs at once across all sources;
 * - `pause` / `resume`: `report` waits while paused;
 * - `cancel` / `reschedule`: one pending task removed, one moved earlier.
 *
 *   npm run example:policy
 */
import { Clock, Console, DateTime, Effect, Layer } from "effect"
import { ConsumerRegistry, Scheduler, Task, TaskConsumer } from "../src/index.js"

let t0 = 0
const log = (line: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Console.log(`+${String(now - t0).padStart(5)} ms  ${line}`))

const Api = TaskConsumer.layer({
  name: "api",
  concurrency: 6,
  rateLimit: { limit: 2, interval: "1 second" },
  consume: (task) => log(`api     ${task.args.n}`)
})

const Slow = TaskConsumer.layer({
  name: "slow",
  timeout: "500 millis",
  consume: () => Effect.zipRight(log("slow    started (needs 2 s)"), Effect.sleep("2 seconds"))
})

const Report = TaskConsumer.layer({
  name: "report",
  consume: (task) => log(`report  ${task.args.name}`)
})

const AppLayer = Layer.mergeAll(Api, Slow, Report).pipe(
  Layer.provideMerge(Scheduler.Scheduler.layerWith({ maxConcurrency: 3 })),
  Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
)

const program = Effect.gen(function*() {
  t0 = yield* Clock.currentTimeMillis
  const scheduler = yield* Scheduler.Scheduler
  const now = yield* DateTime.now
  const at = (millis: number) => DateTime.add(now, { millis })

  yield* scheduler.pause("report")
  const report = (name: string, millis: number) =>
    Task.Task.create({ source: "report", args: { name }, scheduleAt: at(millis) })
  const daily = yield* report("daily (cancelled)", 100)
  const weekly = yield* report("weekly (moved from +5000 to +1500)", 5000)
  yield* scheduler.submitAll([
    ...(yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => Task.Task.create({ source: "api", args: { n } }))),
    yield* Task.Task.create({ source: "slow" }),
    daily,
    weekly,
    yield* report("monthly (waits while paused)", 200)
  ])
  yield* scheduler.cancel(daily.id)
  yield* scheduler.reschedule(weekly.id, at(1500))

  yield* Effect.sleep("1 second")
  yield* log("resuming report")
  yield* scheduler.resume("report")
  yield* Effect.sleep("2 seconds")

  const stats = yield* scheduler.stats
  const [letter] = yield* scheduler.deadLetters
  yield* Console.log(
    `succeeded ${stats.succeeded}, failed ${stats.failed}, cancelled ${stats.cancelled}; dead letter: ${letter?.error}`
  )
})

Effect.runPromise(Effect.provide(program, AppLayer).pipe(Effect.scoped))
