/**
 * Schedules, retries and misfires in a few seconds of real time:
 *
 * - `tick` runs every second (a schedule with `every`);
 * - `flaky` fails twice and succeeds at its third run (`retry`);
 * - the scheduler is stopped for 3.5 s: `tick` missed three occurrences and
 *   runs one catch-up at the start (misfire policy `coalesce`).
 *
 *   npm run example:schedules
 */
import { Clock, Console, Effect, Layer, Schedule } from "effect"
import { ConsumerRegistry, Scheduler, Task, TaskConsumer, TaskRun } from "../src/index.js"

let t0 = 0
const log = (line: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Console.log(`+${String(now - t0).padStart(5)} ms  ${line}`))

const Tick = TaskConsumer.layer({
  name: "tick",
  consume: (task) => log(`tick   ${task.id}`)
})

class NotYet extends Error {
  readonly _tag = "NotYet"
}

const Flaky = TaskConsumer.layer({
  name: "flaky",
  // 300 ms after each failure, at most 3 times
  retry: Schedule.spaced("300 millis").pipe(Schedule.compose(Schedule.recurs(3))),
  consume: () =>
    Effect.gen(function*() {
      const run = yield* Effect.orDie(TaskRun.current)
      if (run.attempt < 3) {
        yield* log(`flaky  run ${run.attempt} fails`)
        return yield* Effect.fail(new NotYet("not yet"))
      }
      yield* log(`flaky  run ${run.attempt} succeeds`)
    })
})

const AppLayer = Layer.mergeAll(Tick, Flaky).pipe(
  Layer.provideMerge(Scheduler.Scheduler.layer),
  Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
)

const program = Effect.gen(function*() {
  t0 = yield* Clock.currentTimeMillis
  const scheduler = yield* Scheduler.Scheduler
  yield* scheduler.schedule({ id: "tick", source: "tick", every: "1 second", misfire: { policy: "coalesce" } })
  yield* scheduler.submit(yield* Task.Task.create({ source: "flaky" }))
  yield* Effect.sleep("2500 millis")

  yield* log("stopping the scheduler for 3.5 s")
  yield* scheduler.stop
  yield* Effect.sleep("3500 millis")
  yield* log("starting it again: the missed ticks get one catch-up run")
  yield* scheduler.start
  yield* Effect.sleep("1800 millis")

  const [tick] = yield* scheduler.schedules
  const stats = yield* scheduler.stats
  yield* Console.log(
    `tick: ${tick!.runs} runs, ${tick!.skippedMissed} missed occurrences not run; ` +
      `all tasks: ${stats.succeeded} succeeded, ${stats.retried} retried, ${stats.deadLetters} dead letters`
  )
})

Effect.runPromise(Effect.provide(program, AppLayer).pipe(Effect.scoped))
