/**
 * No task storm: due tasks beyond a source's permits wait as data, not as
 * parked fibers. A Supervisor counts every fiber the scheduler starts and
 * records the peak number alive at once.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Exit } from "effect"
import { Deferred, Effect, type Fiber, Supervisor } from "effect"
import type { Task } from "../src/scheduler/Task.js"
import { setup, taskAt } from "./support.js"

class PeakFibers extends Supervisor.AbstractSupervisor<number> {
  live = 0
  peak = 0
  started = 0
  get value() {
    return Effect.sync(() => this.peak)
  }
  override onStart(): void {
    this.started++
    this.live++
    if (this.live > this.peak) this.peak = this.live
  }
  override onEnd<A, E>(_value: Exit.Exit<A, E>, _fiber: Fiber.RuntimeFiber<A, E>): void {
    this.live--
  }
}

const storm = (sources: ReadonlyArray<{ readonly name: string; readonly concurrency: number }>, perSource: number) =>
  Effect.gen(function*() {
    const supervisor = new PeakFibers()
    const total = sources.length * perSource
    const done = yield* Deferred.make<void>()
    let consumed = 0
    const consume = (_task: Task) =>
      Effect.suspend(() => {
        consumed++
        return consumed === total ? Deferred.succeed(done, undefined) : Effect.void
      })
    const { scheduler } = yield* setup(sources.map((s) => ({ ...s, consume }))).pipe(
      Effect.supervised(supervisor)
    )
    const tasks: Array<Task> = []
    for (const { name } of sources) {
      for (let i = 0; i < perSource; i++) tasks.push(yield* taskAt(name, 0))
    }
    yield* scheduler.submitAll(tasks)
    yield* Deferred.await(done)
    const stats = yield* scheduler.stats
    return { supervisor, stats, total }
  })

describe("Scheduler: no task storm", () => {
  it.scoped("100k due tasks on a concurrency-1 source keep live task fibers bounded", () =>
    Effect.gen(function*() {
      const { stats, supervisor, total } = yield* storm([{ name: "one", concurrency: 1 }], 100_000)
      assert.strictEqual(stats.succeeded, total)
      assert.strictEqual(stats.pending, 0)
      // the dispatcher plus one worker (plus a short-lived timer fiber when
      // the dispatcher sleeps); never one fiber per task
      assert.isAtLeast(supervisor.peak, 2, "the supervisor saw the scheduler's fibers")
      assert.isAtMost(supervisor.peak, 1 + 8)
      assert.isBelow(supervisor.started, 100, `fibers started: ${supervisor.started}`)
    }), { timeout: 120_000 })

  it.scoped(
    "100k due tasks over several sources: live fibers <= sum of concurrency + a small constant",
    () =>
      Effect.gen(function*() {
        const sources = [
          { name: "a", concurrency: 4 },
          { name: "b", concurrency: 2 },
          { name: "c", concurrency: 1 },
          { name: "d", concurrency: 3 }
        ]
        const { stats, supervisor, total } = yield* storm(sources, 25_000)
        assert.strictEqual(stats.succeeded, total)
        for (const { name } of sources) assert.strictEqual(stats.bySource[name]?.succeeded, 25_000)
        assert.isAtMost(supervisor.peak, 4 + 2 + 1 + 3 + 8)
      }),
    { timeout: 120_000 }
  )
})
