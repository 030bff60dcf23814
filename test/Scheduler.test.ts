import { assert, describe, it } from "@effect/vitest"
import { Cause, DateTime, Deferred, Effect, Exit, Fiber, Layer, LogLevel, Option, TestClock } from "effect"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import {
  advanceTo,
  captureLogs,
  makeJumpingClock,
  recordingConsumer,
  type Run,
  settle,
  setup,
  taskAt
} from "./support.js"

const labels = (runs: ReadonlyArray<Run>) => runs.map((r) => r.label)

describe("Scheduler", () => {
  it.scoped("fires tasks in time order, each exactly at its instant", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)])
      // submitted out of order
      yield* scheduler.submit(yield* taskAt("a", 3000, { label: "t2" }))
      yield* scheduler.submit(yield* taskAt("a", 1000, { label: "t0" }))
      yield* scheduler.submit(yield* taskAt("a", 2000, { label: "t1" }))
      assert.deepStrictEqual(yield* scheduler.nextAt, Option.some(DateTime.unsafeMake(1000)))

      yield* advanceTo(999)
      assert.strictEqual(runs.length, 0, "nothing fires before its instant")
      yield* advanceTo(1000)
      assert.deepStrictEqual(labels(runs), ["t0"])
      yield* advanceTo(3000)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["t0", 1000], ["t1", 2000], ["t2", 3000]])
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.succeeded, 3)
      assert.strictEqual(stats.pending, 0)
      assert.strictEqual(stats.lateness.maxMillis, 0)
      assert.deepStrictEqual(yield* scheduler.nextAt, Option.none())
    }))

  it.scoped("an earlier task wakes the sleeping dispatcher; the later one still fires on time", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)])
      yield* scheduler.submit(yield* taskAt("a", 5000, { label: "+5s" }))
      yield* advanceTo(500)
      assert.strictEqual(runs.length, 0)
      yield* scheduler.submit(yield* taskAt("a", 1000, { label: "+1s" }))
      assert.deepStrictEqual(yield* scheduler.nextAt, Option.some(DateTime.unsafeMake(1000)))
      yield* advanceTo(1000)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["+1s", 1000]])
      yield* advanceTo(4999)
      assert.strictEqual(runs.length, 1)
      yield* advanceTo(5000)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["+1s", 1000], ["+5s", 5000]])
    }))

  it.scoped("a later submission does not disturb the sleeper", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)])
      yield* scheduler.submit(yield* taskAt("a", 1000, { label: "first" }))
      yield* settle
      yield* scheduler.submit(yield* taskAt("a", 4000, { label: "later" }))
      yield* advanceTo(1000)
      yield* advanceTo(4000)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["first", 1000], ["later", 4000]])
    }))

  it.scoped("a past-due task fires immediately", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      yield* TestClock.setTime(10_000)
      const { scheduler } = yield* setup([recordingConsumer("a", runs)])
      yield* scheduler.submit(yield* taskAt("a", 9000, { label: "past" }))
      yield* settle
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["past", 10_000]])
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.lateness.maxMillis, 1000, "lateness is measured from the due instant")
    }))

  it.scoped("concurrency 1 runs a source's tasks strictly one after the other", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("serial", runs, 1)])
      yield* scheduler.submitAll([
        yield* taskAt("serial", 0, { label: "a", ms: 100 }),
        yield* taskAt("serial", 0, { label: "b", ms: 100 }),
        yield* taskAt("serial", 0, { label: "c", ms: 100 })
      ])
      yield* settle
      assert.deepStrictEqual(runs.map((r) => r.start), [0])
      yield* advanceTo(300)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start, r.end]), [
        ["a", 0, 100],
        ["b", 100, 200],
        ["c", 200, 300]
      ])
    }))

  it.scoped("concurrency 2 never runs more than 2 at once, and uses both permits", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("pair", runs, 2)])
      const tasks = []
      for (let i = 0; i < 6; i++) tasks.push(yield* taskAt("pair", 0, { label: `t${i}`, ms: 100 }))
      yield* scheduler.submitAll(tasks)
      yield* settle
      assert.strictEqual((yield* scheduler.stats).inFlight, 2)
      assert.strictEqual((yield* scheduler.stats).bySource["pair"]?.pending, 4)
      yield* advanceTo(300)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [
        ["t0", 0],
        ["t1", 0],
        ["t2", 100],
        ["t3", 100],
        ["t4", 200],
        ["t5", 200]
      ])
    }))

  it.scoped("two sources do not block each other", () =>
    Effect.gen(function*() {
      const slow: Array<Run> = []
      const fast: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("slow", slow, 1), recordingConsumer("fast", fast, 1)])
      yield* scheduler.submitAll([
        yield* taskAt("slow", 0, { label: "s0", ms: 10_000 }),
        yield* taskAt("slow", 0, { label: "s1", ms: 10_000 }),
        yield* taskAt("fast", 0, { label: "f0" }),
        yield* taskAt("fast", 50, { label: "f1" })
      ])
      yield* advanceTo(50)
      assert.deepStrictEqual(fast.map((r) => [r.label, r.start]), [["f0", 0], ["f1", 50]])
      assert.deepStrictEqual(slow.map((r) => [r.label, r.start]), [["s0", 0]])
      // let the slow tasks finish: closing the scope waits for running tasks
      yield* advanceTo(20_000)
      assert.deepStrictEqual(slow.map((r) => [r.label, r.start]), [["s0", 0], ["s1", 10_000]])
    }))

  it.scoped("an unknown source is dropped, logged at error level with the task, counted; the scheduler continues", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { scheduler } = yield* setup([recordingConsumer("known", runs)])
        const ghost = yield* taskAt("ghost", 100, { label: "lost" })
        yield* scheduler.submitAll([ghost, yield* taskAt("known", 200, { label: "ok" })])
        yield* advanceTo(200)
        assert.deepStrictEqual(labels(runs), ["ok"])
        const errors = logs.filter((l) => l.level === LogLevel.Error)
        assert.strictEqual(errors.length, 1)
        assert.match(errors[0]!.message, /no consumer is registered for source "ghost"/)
        assert.strictEqual(errors[0]!.annotations.source, "ghost")
        assert.strictEqual(errors[0]!.annotations.taskId, ghost.id)
        assert.deepStrictEqual(errors[0]!.annotations.task, {
          id: ghost.id,
          source: "ghost",
          args: { label: "lost" },
          scheduleAt: "1970-01-01T00:00:00.100Z"
        })
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.dropped, 1)
        assert.strictEqual(stats.bySource["ghost"]?.dropped, 1)
        assert.strictEqual(stats.bySource["ghost"]?.pending, 0)
        assert.strictEqual(stats.succeeded, 1)
        assert.strictEqual(stats.submitted, 2)
        assert.strictEqual(stats.pending, 0)
      })
    ))

  it.scoped("reads the registry at dispatch time: a consumer registered after start runs its tasks", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { registry, scheduler } = yield* setup([])
      yield* scheduler.submit(yield* taskAt("late", 1000, { label: "x" }))
      yield* advanceTo(500)
      yield* Effect.orDie(Effect.flatMap(TaskConsumer.make(recordingConsumer("late", runs)), registry.register))
      yield* advanceTo(1000)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["x", 1000]])
    }))

  it.scoped("failure, defect and interruption are isolated, logged with their cause, counted; permits are released", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { scheduler } = yield* setup([recordingConsumer("flaky", runs, 1)])
        yield* scheduler.submitAll([
          yield* taskAt("flaky", 0, { label: "fail", outcome: "fail", ms: 10 }),
          yield* taskAt("flaky", 0, { label: "die", outcome: "die", ms: 10 }),
          yield* taskAt("flaky", 0, { label: "interrupt", outcome: "interrupt", ms: 10 }),
          yield* taskAt("flaky", 0, { label: "ok", ms: 10 })
        ])
        yield* advanceTo(40)
        assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [
          ["fail", 0],
          ["die", 10],
          ["interrupt", 20],
          ["ok", 30]
        ])
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.failed, 3)
        assert.strictEqual(stats.succeeded, 1)
        assert.strictEqual(stats.inFlight, 0)
        const errors = logs.filter((l) => l.level === LogLevel.Error)
        assert.deepStrictEqual(errors.map((l) => l.message), ["Task failed", "Task died", "Task was interrupted"])
        assert.isTrue(Cause.isFailType(errors[0]!.cause))
        assert.isTrue(Cause.isDieType(errors[1]!.cause))
        assert.isTrue(Cause.isInterruptedOnly(errors[2]!.cause))
        assert.deepStrictEqual(errors.map((l) => l.annotations.source), ["flaky", "flaky", "flaky"])
        assert.strictEqual(errors[0]!.annotations.taskId, runs[0]!.id)
        assert.isTrue(yield* scheduler.isRunning)
      })
    ))

  it.scoped("a consumer that throws instead of returning an Effect is a defect, isolated", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { scheduler } = yield* setup([
          {
            name: "thrower",
            consume: () => {
              throw new Error("not an effect")
            }
          },
          recordingConsumer("fine", runs)
        ])
        yield* scheduler.submitAll([yield* taskAt("thrower", 0), yield* taskAt("thrower", 0), yield* taskAt("fine", 0)])
        yield* settle
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.bySource["thrower"]?.failed, 2)
        assert.strictEqual(runs.length, 1)
        assert.strictEqual(logs.filter((l) => l.message === "Task died").length, 2)
      })
    ))

  it.scoped("equal instants fire in submission order (FIFO)", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("fifo", runs, 1)])
      const expected: Array<string> = []
      for (let i = 0; i < 50; i++) {
        expected.push(`t${i}`)
        yield* scheduler.submit(yield* taskAt("fifo", 1000, { label: `t${i}` }))
      }
      const batch = []
      for (let i = 50; i < 100; i++) {
        expected.push(`t${i}`)
        batch.push(yield* taskAt("fifo", 1000, { label: `t${i}` }))
      }
      yield* scheduler.submitAll(batch)
      yield* advanceTo(1000)
      assert.deepStrictEqual(labels(runs), expected)
    }))

  it.scoped("stop fires nothing new and returns once the running tasks have finished", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("work", runs, 4)])
      const tasks = []
      for (let i = 0; i < 10; i++) tasks.push(yield* taskAt("work", 0, { label: `due${i}`, ms: 1000 }))
      tasks.push(yield* taskAt("work", 500, { label: "future", ms: 1000 }))
      yield* scheduler.submitAll(tasks)
      yield* advanceTo(100)
      assert.strictEqual(runs.length, 4)

      const stopping = yield* Effect.fork(scheduler.stop)
      yield* settle
      assert.isFalse(yield* scheduler.isRunning)
      assert.isNull(stopping.unsafePoll(), "stop waits for the running tasks")
      yield* advanceTo(999)
      assert.isNull(stopping.unsafePoll())
      yield* advanceTo(1000)
      yield* Fiber.join(stopping)
      assert.deepStrictEqual(runs.map((r) => r.end), [1000, 1000, 1000, 1000], "running tasks finished")
      assert.strictEqual(runs.length, 4, "nothing new started")
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.inFlight, 0)
      assert.strictEqual(stats.pending, 7, "due and future tasks are kept")

      // nothing fires while stopped, and new submissions wait too
      yield* scheduler.submit(yield* taskAt("work", 2000, { label: "while-stopped" }))
      yield* advanceTo(10_000)
      assert.strictEqual(runs.length, 4)
      assert.strictEqual(yield* scheduler.pending, 8)

      // start resumes in (due, submission) order
      yield* scheduler.start
      yield* scheduler.start // idempotent
      yield* settle
      assert.deepStrictEqual(labels(runs).slice(4), ["due4", "due5", "due6", "due7"])
      yield* advanceTo(12_000)
      assert.deepStrictEqual(labels(runs).slice(8), ["due8", "due9", "future", "while-stopped"])
      assert.strictEqual((yield* scheduler.stats).succeeded, 12)
    }))

  it.scoped("stop is idempotent and a stopped scheduler restarts", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)], { autoStart: false })
      assert.isFalse(yield* scheduler.isRunning)
      yield* scheduler.stop
      yield* scheduler.submit(yield* taskAt("a", 0, { label: "x" }))
      yield* settle
      assert.strictEqual(runs.length, 0, "tasks submitted while stopped wait until start")
      yield* scheduler.start
      yield* settle
      assert.deepStrictEqual(labels(runs), ["x"])
      yield* scheduler.stop
      yield* scheduler.stop
      assert.isFalse(yield* scheduler.isRunning)
      yield* scheduler.start
      assert.isTrue(yield* scheduler.isRunning)
    }))

  it.effect("closing the layer's scope stops the scheduler after the running tasks finish", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const started = yield* Deferred.make<void>()
      const layer = Layer.mergeAll(
        TaskConsumer.layer(recordingConsumer("work", runs)),
        TaskConsumer.layer({ name: "signal", consume: () => Deferred.succeed(started, undefined) })
      ).pipe(
        Layer.provideMerge(Scheduler.Scheduler.layer),
        Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
      )
      const program = Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        yield* scheduler.submitAll([
          yield* taskAt("work", 0, { label: "running", ms: 1000 }),
          yield* taskAt("work", 0, { label: "queued" }),
          yield* taskAt("signal", 0)
        ])
        yield* Deferred.await(started)
        return scheduler
      })
      const fiber = yield* Effect.fork(Effect.provide(program, layer))
      yield* settle
      assert.isNull(fiber.unsafePoll(), "the scope's release waits for the running task")
      yield* advanceTo(1000)
      const scheduler = yield* Fiber.join(fiber)
      assert.isFalse(yield* scheduler.isRunning)
      assert.deepStrictEqual(runs.map((r) => [r.label, r.end]), [["running", 1000]])
    }))

  it.scoped("caps a long sleep at maxSleep and still fires far-future tasks on time", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)], { maxSleep: "20 days" })
      const farFuture = 40 * 24 * 3600_000 // beyond the 24.8-day JS timer limit
      yield* scheduler.submit(yield* taskAt("a", farFuture, { label: "far" }))
      yield* advanceTo(farFuture - 1)
      assert.strictEqual(runs.length, 0)
      yield* advanceTo(farFuture)
      assert.deepStrictEqual(runs.map((r) => r.start), [farFuture])
    }))

  it.scoped("a wall-clock jump forward fires the skipped tasks at the next wake-up, at most maxSleep late", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { clock, jump } = yield* makeJumpingClock
      const { scheduler } = yield* setup([recordingConsumer("a", runs)], { maxSleep: "1 minute" }, clock)
      yield* scheduler.submit(yield* taskAt("a", 10 * 60_000, { label: "at wall 10 min" }))
      yield* settle
      yield* jump(20 * 60_000) // wall clock now reads 20 min; the dispatcher's timer still has 1 min to go
      yield* settle
      assert.strictEqual(runs.length, 0)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["at wall 10 min", 21 * 60_000]])
    }))

  it.scoped("a wall-clock jump back delays tasks until the wall clock reaches their instant again", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { clock, jump } = yield* makeJumpingClock
      const { scheduler } = yield* setup([recordingConsumer("a", runs)], { maxSleep: "1 minute" }, clock)
      yield* scheduler.submit(yield* taskAt("a", 10 * 60_000, { label: "at wall 10 min" }))
      yield* settle
      yield* jump(-5 * 60_000)
      yield* TestClock.adjust("14 minutes") // wall clock: 9 min
      assert.strictEqual(runs.length, 0)
      yield* TestClock.adjust("1 minute") // wall clock: 10 min
      assert.deepStrictEqual(runs.map((r) => [r.label, r.start]), [["at wall 10 min", 10 * 60_000]])
    }))

  it.scoped("a re-registered consumer with another concurrency takes effect", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { registry, scheduler } = yield* setup([recordingConsumer("c", runs, 1)])
      yield* scheduler.submit(yield* taskAt("c", 0, { label: "one", ms: 10 }))
      yield* advanceTo(10)
      yield* registry.unregister("c")
      yield* Effect.orDie(Effect.flatMap(TaskConsumer.make(recordingConsumer("c", runs, 3)), registry.register))
      const tasks = []
      for (let i = 0; i < 3; i++) tasks.push(yield* taskAt("c", 20, { label: `x${i}`, ms: 10 }))
      yield* scheduler.submitAll(tasks)
      yield* advanceTo(20)
      assert.deepStrictEqual(runs.map((r) => r.start), [0, 20, 20, 20])
    }))

  it.scoped("stats count per source", () =>
    Effect.gen(function*() {
      const a: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", a, 2), recordingConsumer("b", a, 1)])
      yield* scheduler.submitAll([
        yield* taskAt("a", 0, { ms: 100 }),
        yield* taskAt("a", 0, { ms: 100 }),
        yield* taskAt("a", 0, { ms: 100 }),
        yield* taskAt("b", 0, { ms: 100, outcome: "fail" }),
        yield* taskAt("b", 5000)
      ])
      yield* settle
      const mid = yield* scheduler.stats
      assert.deepStrictEqual(
        [mid.bySource["a"]?.inFlight, mid.bySource["a"]?.pending, mid.bySource["b"]?.inFlight, mid.pending],
        [2, 1, 1, 2]
      )
      assert.deepStrictEqual(mid.nextAt, Option.some(DateTime.unsafeMake(0)), "a due task still waiting counts")
      yield* advanceTo(200)
      const end = yield* scheduler.stats
      assert.deepStrictEqual(end.bySource["a"], {
        submitted: 3,
        started: 3,
        succeeded: 3,
        failed: 0,
        dropped: 0,
        inFlight: 0,
        pending: 0,
        duplicates: 0,
        cancelled: 0,
        retried: 0,
        lateness: { count: 3, totalMillis: 100, maxMillis: 100, meanMillis: 100 / 3 }
      })
      assert.strictEqual(end.bySource["b"]?.failed, 1)
      assert.strictEqual(end.pending, 1)
      assert.deepStrictEqual(end.nextAt, Option.some(DateTime.unsafeMake(5000)))
      assert.isTrue(end.running)
      const exit = yield* Effect.exit(scheduler.stop)
      assert.isTrue(Exit.isSuccess(exit))
    }))
})
