/**
 * Parked workers: a source's worker with nothing due parks (keeping its
 * permit, no timer of its own) and takes the next due task without a new
 * fiber; it leaves after `workerIdleTimeout`, at `stop`, or when its
 * consumer is released. A Supervisor counts the fibers the scheduler starts.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Exit } from "effect"
import { type Context, Duration, Effect, type Fiber, Option, Supervisor, TestClock } from "effect"
import { recordingConsumer, type Run, settle, setup, taskAt } from "./support.js"

/**
 * Counts the fibers started without a parent fiber — the scheduler's
 * dispatcher and its workers (`Runtime.runFork` from the scheduler's
 * runtime) — and how many of them are alive. The dispatcher's timer fibers
 * (forked by the dispatcher) are not counted.
 */
class CountFibers extends Supervisor.AbstractSupervisor<number> {
  live = 0
  started = 0
  private readonly counted = new WeakSet<Fiber.RuntimeFiber<unknown, unknown>>()
  get value() {
    return Effect.sync(() => this.live)
  }
  override onStart<A, E, R>(
    _context: Context.Context<R>,
    _effect: Effect.Effect<A, E, R>,
    parent: Option.Option<Fiber.RuntimeFiber<unknown, unknown>>,
    fiber: Fiber.RuntimeFiber<A, E>
  ): void {
    if (Option.isSome(parent)) return
    this.counted.add(fiber)
    this.started++
    this.live++
  }
  override onEnd<A, E>(_value: Exit.Exit<A, E>, fiber: Fiber.RuntimeFiber<A, E>): void {
    if (this.counted.has(fiber)) this.live--
  }
}

/** A scheduler with one source `a` (concurrency 2) whose dispatcher and workers are counted. */
const withCountedFibers = (options: { readonly workerIdleTimeout?: Duration.DurationInput } = {}) =>
  Effect.gen(function*() {
    const supervisor = new CountFibers()
    const runs: Array<Run> = []
    const { registry, scheduler } = yield* setup([recordingConsumer("a", runs, 2)], { maxSleep: "1 hour", ...options })
      .pipe(Effect.supervised(supervisor))
    return { supervisor, runs, scheduler, registry }
  })

describe("Scheduler: parked workers", () => {
  it.scoped("a steady trickle (one task every 10 ms, submitted one by one) forks fewer than 0.05 workers per task", () =>
    Effect.gen(function*() {
      const { runs, scheduler, supervisor } = yield* withCountedFibers()
      yield* settle
      const before = supervisor.started
      for (let i = 1; i <= 400; i++) {
        yield* scheduler.submit(yield* taskAt("a", i * 10, { label: `t${i}` }))
        yield* TestClock.setTime(i * 10)
      }
      assert.strictEqual(runs.length, 400)
      assert.isTrue(runs.every((r) => r.start === r.due), "each on time")
      const workers = supervisor.started - before
      assert.isBelow(workers / 400, 0.05, `${workers} worker fibers for 400 tasks`)
    }))

  it.scoped("a parked worker leaves after workerIdleTimeout; with 0 a worker leaves at once", () =>
    Effect.gen(function*() {
      const parked = yield* withCountedFibers({ workerIdleTimeout: "2 seconds" })
      yield* parked.scheduler.submit(yield* taskAt("a", 0, { label: "x" }))
      yield* settle
      assert.strictEqual(parked.runs.length, 1)
      const alive = parked.supervisor.live
      yield* TestClock.adjust(Duration.millis(1999))
      assert.strictEqual(parked.supervisor.live, alive, "still parked")
      yield* TestClock.adjust(Duration.millis(1))
      yield* settle
      assert.strictEqual(parked.supervisor.live, alive - 1, "the parked worker left")

      const eager = yield* withCountedFibers({ workerIdleTimeout: 0 })
      const dispatcherOnly = eager.supervisor.live
      yield* eager.scheduler.submit(yield* taskAt("a", 0, { label: "y" }))
      yield* settle
      assert.strictEqual(eager.runs.length, 1)
      assert.strictEqual(eager.supervisor.live, dispatcherOnly, "no worker is left")
    }))

  it.scoped("stop wakes the parked worker (it leaves) and returns at once", () =>
    Effect.gen(function*() {
      const { runs, scheduler, supervisor } = yield* withCountedFibers({ workerIdleTimeout: "1 hour" })
      yield* scheduler.submit(yield* taskAt("a", 0, { label: "x" }))
      yield* settle
      assert.strictEqual(runs.length, 1)
      yield* scheduler.stop
      yield* settle
      assert.strictEqual(supervisor.live, 0, "no fiber of the scheduler is left")
    }))

  it.scoped("a released consumer's parked worker leaves; the next consumer of the name gets a new one", () =>
    Effect.gen(function*() {
      const { registry, runs, scheduler, supervisor } = yield* withCountedFibers({ workerIdleTimeout: "1 hour" })
      yield* scheduler.submit(yield* taskAt("a", 0, { label: "x" }))
      yield* settle
      const withParked = supervisor.live
      yield* registry.unregister("a")
      yield* settle
      assert.strictEqual(supervisor.live, withParked - 1, "the parked worker left with its consumer")
      const later: Array<Run> = []
      yield* Effect.orDie(registry.register({ ...recordingConsumer("a", later), produce: () => Effect.die("unused") }))
      yield* scheduler.submit(yield* taskAt("a", 0, { label: "y" }))
      yield* settle
      assert.deepStrictEqual([runs.length, later.map((r) => r.label)], [1, ["y"]])
    }))
})
