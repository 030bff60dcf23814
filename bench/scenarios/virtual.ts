/**
 * Scenario 5 — Virtual time cost: the property-test workload at scale, run
 * under Effect's `TestClock` (`TestContext.TestContext`). `tasks` tasks at
 * random due instants on a coarse grid (`stepMs`, about three tasks per
 * step), over a few sources with small concurrencies, each consumer sleeping
 * 0 … `maxDurationSteps` steps; then the `TestClock` is advanced to a horizon
 * after which every task has run. What is measured is the wall time of the
 * simulation (submission + advancing the clock), i.e. what a test suite pays.
 *
 * Metrics: wallMs, consumed (must equal tasks).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import type { Task } from "../../src/scheduler/Task.js"
import { makeRandom } from "../lib/clock.js"
import { makeNaive } from "../lib/naive.js"
import { profileStart, profileStop } from "../lib/profile.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import type { BenchConsumer } from "../lib/ray.js"
import { buildRay } from "../lib/ray.js"
import { makeTask } from "../lib/tasks.js"

interface Contender {
  readonly submit: (
    consumers: ReadonlyArray<BenchConsumer>,
    tasks: ReadonlyArray<Task>
  ) => Effect.Effect<void, never, Scope.Scope>
}

const contenders: Record<string, Contender> = {
  ray: {
    submit: (consumers, tasks) =>
      Effect.flatMap(buildRay(consumers, { maxSleep: "1 hour" }), (scheduler) => scheduler.submitAll(tasks))
  },
  naive: {
    submit: (consumers, tasks) =>
      Effect.flatMap(makeNaive(consumers), (scheduler) => Effect.zipRight(scheduler.submitAll(tasks), scheduler.start))
  }
}

const simulate = (contender: Contender, params: Params) =>
  Effect.gen(function*() {
    const n = num(params, "tasks")
    const step = num(params, "stepMs")
    const maxSteps = num(params, "maxDurationSteps")
    const concurrencies = String(params.concurrencies).split(",").map(Number)
    const grid = Math.ceil(n / num(params, "tasksPerStep"))
    const random = makeRandom(num(params, "seed"))
    const durations = new Map<Task, number>()
    const tasks: Array<Task> = []
    let totalDuration = 0
    for (let i = 0; i < n; i++) {
      const source = Math.floor(random() * concurrencies.length)
      const task = makeTask(i, `v${source}`, Math.floor(random() * (grid + 1)) * step)
      const duration = Math.floor(random() * (maxSteps + 1)) * step
      durations.set(task, duration)
      totalDuration += duration
      tasks.push(task)
    }
    let consumed = 0
    const consume = (task: Task) => {
      const ms = durations.get(task) ?? 0
      const count = Effect.sync(() => {
        consumed++
      })
      return ms > 0 ? Effect.zipRight(Effect.sleep(Duration.millis(ms)), count) : count
    }
    const consumers = concurrencies.map((concurrency, i) => ({ name: `v${i}`, concurrency, consume }))
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    yield* contender.submit(consumers, tasks)
    // every task has run by then: all due by grid*step, and the sources' work is at most the sum of durations
    yield* TestClock.adjust(Duration.millis(grid * step + totalDuration + step))
    const wallMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    const notes = consumed === n ? [] : [`only ${consumed} of ${n} tasks ran`]
    return { metrics: { wallMs, tasks: n, consumed }, notes } satisfies SampleResult
  }).pipe(Effect.scoped, Effect.provide(TestContext.TestContext))

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  const c = contenders[contender]
  if (c === undefined) return Promise.reject(new Error(`virtual: unknown contender ${contender}`))
  return Effect.runPromise(simulate(c, params))
}
