/**
 * Quickstart: two consumers, tasks submitted out of order at different
 * times, fired in time order. Each line shows when the task was due, when it
 * started and the dispatch lateness (start − due).
 *
 *   npm start
 */
import { Clock, Console, DateTime, Duration, Effect, Layer, Option } from "effect"
import { ConsumerRegistry, Scheduler, Task, TaskConsumer } from "../src/index.js"

// Times are shown relative to the program's start, read from the Clock.
let t0 = 0
const elapsed = (millis: number) => `+${String(millis - t0).padStart(5)} ms`

const report = (task: Task.Task) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* Console.log(
      `${task.source.padEnd(8)} ${String(task.args.label).padEnd(22)} due ${elapsed(task.dueMillis)}` +
        `  started ${elapsed(now)}  lateness ${now - task.dueMillis} ms`
    )
  })

// A consumer that greets, one task at a time (concurrency defaults to 1).
const Greeter = TaskConsumer.layer({
  name: "greeter",
  consume: report
})

// A slower consumer that runs up to two tasks at once.
const Crawler = TaskConsumer.layer({
  name: "crawler",
  concurrency: 2,
  consume: (task) => Effect.zipRight(report(task), Effect.sleep(Duration.millis(300)))
})

// The canonical composition: consumers on top of the scheduler on top of the registry.
const AppLayer = Layer.mergeAll(Greeter, Crawler).pipe(
  Layer.provideMerge(Scheduler.Scheduler.layer),
  Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
)

const program = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const now = yield* DateTime.now
  t0 = DateTime.toEpochMillis(now)
  const at = (millis: number) => DateTime.add(now, { millis })

  // Submitted out of order on purpose: the heap fires them earliest first.
  yield* scheduler.submitAll([
    yield* Task.Task.create({ source: "greeter", args: { label: "hello at +900" }, scheduleAt: at(900) }),
    yield* Task.Task.create({ source: "crawler", args: { label: "crawl A at +300" }, scheduleAt: at(300) }),
    yield* Task.Task.create({ source: "crawler", args: { label: "crawl B at +300" }, scheduleAt: at(300) }),
    yield* Task.Task.create({ source: "crawler", args: { label: "crawl C at +300 (waits)" }, scheduleAt: at(300) }),
    yield* Task.Task.create({ source: "greeter", args: { label: "hello at +100" }, scheduleAt: at(100) }),
    yield* Task.Task.create({ source: "greeter", args: { label: "hello, already due" }, scheduleAt: at(-50) })
  ])
  yield* Console.log(`submitted 6 tasks; next due ${
    Option.match(yield* scheduler.nextAt, {
      onNone: () => "none",
      onSome: (at) => elapsed(DateTime.toEpochMillis(at))
    })
  }`)

  // A task earlier than the current head wakes the sleeping dispatcher.
  yield* Effect.sleep(Duration.millis(400))
  yield* scheduler.submit(
    yield* Task.Task.create({ source: "greeter", args: { label: "hello at +500 (late)" }, scheduleAt: at(500) })
  )
  // A task for a source nobody consumes is dropped and logged.
  yield* scheduler.submit(yield* Task.Task.create({ source: "nobody", args: { label: "dropped" } }))

  yield* Effect.sleep(Duration.millis(800))
  const stats = yield* scheduler.stats
  yield* Console.log(
    `done: submitted ${stats.submitted}, succeeded ${stats.succeeded}, failed ${stats.failed}, ` +
      `dropped ${stats.dropped}, mean lateness ${stats.lateness.meanMillis.toFixed(2)} ms, ` +
      `max ${stats.lateness.maxMillis} ms`
  )
})

program.pipe(Effect.provide(AppLayer), Effect.runPromise)
