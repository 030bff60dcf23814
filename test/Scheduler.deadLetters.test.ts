/**
 * Issue 9, both layers' share (here: the memory layer): idempotent submit
 * (`duplicates`), dead letters (`Failed`, `Died`, `NoConsumer`), replay and
 * purge, the no-consumer grace period, and `TaskRun`. Under `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import {
  captureLogs,
  layerUnderTest,
  namedTask,
  nameOf,
  recordingConsumer,
  type Run,
  settle,
  setup,
  uid
} from "./support.js"

const task = namedTask

describe("Scheduler: idempotent submit", () => {
  it.scoped("a task whose id is pending or running is not added again, and is counted in duplicates", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { scheduler } = yield* setup([recordingConsumer("s", runs)])
        yield* scheduler.submit(yield* task("t1", "s", 1000, { ms: 500 }))
        yield* scheduler.submit(yield* task("t1", "s", 1000, { ms: 500 })) // pending
        yield* scheduler.submitAll([yield* task("t2", "s", 2000), yield* task("t2", "s", 2000)]) // twice in one batch
        assert.strictEqual(yield* scheduler.pending, 2)
        yield* TestClock.setTime(1000)
        yield* scheduler.submit(yield* task("t1", "s", 1000)) // running
        yield* TestClock.setTime(3000)
        assert.deepStrictEqual(runs.map((r) => nameOf(r.id)), ["t1", "t2"])
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.duplicates, 3)
        assert.strictEqual(stats.bySource["s"]?.duplicates, 3)
        assert.strictEqual(stats.submitted, 2)
        // once its run ended, the id can be submitted again
        yield* scheduler.submit(yield* task("t1", "s", 3000))
        yield* settle
        assert.deepStrictEqual(runs.map((r) => nameOf(r.id)), ["t1", "t2", "t1"])
      })
    ))
})

describe("Scheduler: idempotent submit at scale", () => {
  it.scoped("after 20,000 runs (the id index sweeps ended ids) the same ids are accepted again, and pending ones still refused", () =>
    Effect.gen(function*() {
      let runs = 0
      const { scheduler } = yield* setup([{ name: "s", concurrency: 4, consume: () => Effect.sync(() => void runs++) }])
      const ids = Array.from(
        { length: 20_000 },
        (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`
      )
      const batch = (at: number) =>
        Effect.forEach(ids, (id) => Task.create({ id, source: "s", scheduleAt: DateTime.unsafeMake(at) }))
      yield* scheduler.submitAll(yield* batch(100))
      yield* scheduler.submitAll(yield* batch(100)) // all pending: all duplicates
      assert.strictEqual((yield* scheduler.stats).duplicates, 20_000)
      yield* TestClock.setTime(100)
      yield* settle
      assert.strictEqual(runs, 20_000)
      yield* scheduler.submitAll(yield* batch(200)) // all ended: all accepted
      yield* scheduler.submit(yield* Task.create({ id: ids[7]!, source: "s", scheduleAt: DateTime.unsafeMake(200) }))
      assert.strictEqual((yield* scheduler.stats).duplicates, 20_001)
      yield* TestClock.setTime(200)
      yield* settle
      assert.strictEqual(runs, 40_000)
    }))
})

describe("Scheduler: dead letters", () => {
  it.scoped("failures, defects and tasks without a consumer become dead letters with reason, error and attempts", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { scheduler } = yield* setup([recordingConsumer("s", runs)])
        yield* scheduler.submitAll([
          yield* task("ok", "s", 100),
          yield* task("bad", "s", 200, { outcome: "fail", label: "x" }),
          yield* task("worse", "s", 300, { outcome: "die", label: "y" }),
          yield* task("lost", "nobody", 400)
        ])
        yield* TestClock.setTime(1000)
        const letters = yield* scheduler.deadLetters
        assert.deepStrictEqual(
          letters.map((l) => [nameOf(l.task.id), l.reason, l.error, l.attempts, DateTime.toEpochMillis(l.at)]),
          [
            ["bad", "Failed", "Error: boom x", 1, 200],
            ["worse", "Died", "Error: defect y", 1, 300],
            ["lost", "NoConsumer", "no consumer is registered for source \"nobody\"", 0, 400]
          ]
        )
        const stats = yield* scheduler.stats
        assert.deepStrictEqual([stats.deadLetters, stats.failed, stats.dropped, stats.succeeded], [3, 2, 1, 1])
      })
    ))

  it.scoped("one dead letter per task id; replay submits it again, due now; unknown and pending ids are refused", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { scheduler } = yield* setup([recordingConsumer("s", runs)])
        yield* scheduler.submit(yield* task("bad", "s", 100, { outcome: "fail" }))
        yield* TestClock.setTime(500)
        assert.strictEqual((yield* scheduler.deadLetters).length, 1)
        assert.isFalse(yield* scheduler.replay(uid("nope")))
        // a pending task with the same id: the dead letter stays
        yield* scheduler.submit(yield* task("bad", "s", 10_000, { outcome: "fail" }))
        assert.isFalse(yield* scheduler.replay(uid("bad")))
        assert.strictEqual((yield* scheduler.deadLetters).length, 1)
        yield* TestClock.setTime(10_000)
        // it failed again: one dead letter per task id, the newer one
        const letters = yield* scheduler.deadLetters
        assert.deepStrictEqual(letters.map((l) => DateTime.toEpochMillis(l.at)), [10_000])
        // now it is not pending: replay runs it at once (it fails again)
        assert.isTrue(yield* scheduler.replay(uid("bad")))
        assert.strictEqual((yield* scheduler.deadLetters).length, 0)
        yield* settle
        const starts = runs.map((r) => [nameOf(r.id), r.start])
        assert.deepStrictEqual(starts, [["bad", 100], ["bad", 10_000], ["bad", 10_000]])
        assert.strictEqual((yield* scheduler.deadLetters).length, 1)
      })
    ))

  it.scoped("purgeDeadLetters removes those older than the given age, or all", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const { scheduler } = yield* setup([])
        yield* scheduler.submitAll([yield* task("a", "x", 1000), yield* task("b", "x", 5000)])
        yield* TestClock.setTime(6000)
        assert.strictEqual(yield* scheduler.purgeDeadLetters("3 seconds"), 1) // "a" died at 1000 < 6000 - 3000
        assert.deepStrictEqual((yield* scheduler.deadLetters).map((l) => nameOf(l.task.id)), ["b"])
        assert.strictEqual(yield* scheduler.purgeDeadLetters(), 1)
        assert.strictEqual((yield* scheduler.stats).deadLetters, 0)
        const bad = yield* Effect.exit(scheduler.purgeDeadLetters("soon" as never))
        assert.isTrue(Exit.isFailure(bad))
      })
    ))

  it.scoped("deadLetterLimit keeps the most recent ones (the SQL layer keeps all)", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const { scheduler } = yield* setup([], { deadLetterLimit: 2 })
        yield* scheduler.submitAll([yield* task("a", "x", 1), yield* task("b", "x", 2), yield* task("c", "x", 3)])
        yield* TestClock.setTime(10)
        // the SQL layer keeps every dead letter until purged
        assert.deepStrictEqual(
          (yield* scheduler.deadLetters).map((l) => nameOf(l.task.id)),
          layerUnderTest === "memory" ? ["b", "c"] : ["a", "b", "c"]
        )
      })
    ))
})

describe("Scheduler: no-consumer grace period", () => {
  it.scoped("due tasks wait for a consumer registered within the grace period, and start as soon as it is", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        const { registry, scheduler } = yield* setup([], { noConsumerGrace: "30 seconds" })
        yield* scheduler.submitAll([yield* task("a", "s", 1000), yield* task("b", "s", 2000)])
        yield* TestClock.setTime(5000)
        assert.strictEqual(logs.filter((l) => l.message.includes("no consumer")).length, 1, "logged once")
        assert.strictEqual((yield* scheduler.stats).waiting, 2)
        assert.strictEqual((yield* scheduler.stats).dropped, 0)
        yield* TestClock.setTime(12_000)
        yield* Effect.orDie(Effect.flatMap(TaskConsumer.make(recordingConsumer("s", runs)), registry.register))
        yield* settle
        assert.deepStrictEqual(runs.map((r) => [nameOf(r.id), r.start]), [["a", 12_000], ["b", 12_000]])
        assert.strictEqual((yield* scheduler.stats).waiting, 0)
        assert.strictEqual((yield* scheduler.deadLetters).length, 0)
      })
    ))

  it.scoped("after the grace period they become dead letters (NoConsumer), at its end", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const { scheduler } = yield* setup([], { noConsumerGrace: "30 seconds" })
        yield* scheduler.submit(yield* task("a", "s", 1000))
        yield* TestClock.setTime(30_999)
        assert.strictEqual((yield* scheduler.deadLetters).length, 0)
        yield* TestClock.setTime(31_000)
        const letters = yield* scheduler.deadLetters
        assert.deepStrictEqual(letters.map((l) => [nameOf(l.task.id), l.reason, DateTime.toEpochMillis(l.at)]), [
          ["a", "NoConsumer", 31_000]
        ])
        assert.strictEqual((yield* scheduler.stats).dropped, 1)
      })
    ))

  it.scoped("the memory layer's default drops at once", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const { scheduler } = yield* setup([])
        yield* scheduler.submit(yield* task("a", "s", 1000))
        yield* TestClock.setTime(1000)
        assert.strictEqual((yield* scheduler.deadLetters).length, 1)
      })
    ))
})

describe("TaskRun", () => {
  it.scoped("a consumer reads its task, attempt and start; outside a run it is absent", () =>
    captureLogs((_logs) =>
      Effect.gen(function*() {
        const seen: Array<[string, number, number]> = []
        const { scheduler } = yield* setup([{
          name: "s",
          concurrency: 2,
          consume: (t) =>
            Effect.gen(function*() {
              const run = yield* Effect.orDie(TaskRun.current)
              assert.strictEqual(run.task, t)
              yield* Effect.sleep("10 millis")
              // a fiber forked by the run sees it too
              const inChild = yield* Effect.fork(TaskRun.current).pipe(Effect.flatMap((f) => f.await))
              assert.isTrue(Exit.isSuccess(inChild))
              seen.push([nameOf(run.task.id), run.attempt, DateTime.toEpochMillis(run.startedAt)])
            })
        }])
        yield* scheduler.submitAll([yield* task("a", "s", 100), yield* task("b", "s", 100), yield* task("c", "s", 250)])
        yield* TestClock.setTime(300)
        yield* settle
        assert.deepStrictEqual(seen.sort(), [["a", 1, 100], ["b", 1, 100], ["c", 1, 250]])
        assert.isTrue(Option.isNone(yield* TaskRun.currentOption))
        assert.isTrue(Exit.isFailure(yield* Effect.exit(TaskRun.current)))
      })
    ))
})
