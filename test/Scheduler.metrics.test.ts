/**
 * `SchedulerMetrics`: the counters, gauges and histograms each run updates,
 * under the `TestClock`. A conformance suite (memory and SQL layers,
 * vitest.config.ts). The metrics are global to the process: each test uses
 * sources of its own (a random suffix), so that other tests do not count.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Metric, Schedule, TestClock } from "effect"
import * as SchedulerMetrics from "../src/scheduler/SchedulerMetrics.js"
import { settle, setup, taskAt } from "./support.js"

const fresh = (name: string) => `${name}-${Math.random().toString(36).slice(2, 10)}`

const runs = (source: string, outcome: string) =>
  Effect.map(
    Metric.value(SchedulerMetrics.taskRuns.pipe(Metric.tagged("source", source), Metric.tagged("outcome", outcome))),
    (state) => state.count
  )

const gauge = (metric: typeof SchedulerMetrics.tasksPending, source: string) =>
  Effect.map(Metric.value(Metric.tagged(metric, "source", source)), (state) => state.value)

const histogram = (metric: typeof SchedulerMetrics.taskLateness, source: string) =>
  Effect.map(Metric.value(Metric.tagged(metric, "source", source)), (state) => ({ count: state.count, sum: state.sum }))

describe("SchedulerMetrics", () => {
  it.scoped("submitted, pending and running, lateness and duration, outcomes and dead letters, by source", () =>
    Effect.gen(function*() {
      const ok = fresh("ok")
      const bad = fresh("bad")
      const gate = yield* Deferred.make<void>()
      let failures = 0
      const { scheduler } = yield* setup([
        { name: ok, consume: () => Effect.zipRight(Deferred.await(gate), Effect.sleep("2 seconds")) },
        {
          name: bad,
          retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1))),
          consume: () => Effect.suspend(() => ++failures <= 3 ? Effect.fail("nope") : Effect.void)
        }
      ], { metrics: true })
      yield* scheduler.submitAll([yield* taskAt(ok, 1000), yield* taskAt(ok, 1000), yield* taskAt(ok, 5000)])
      yield* scheduler.submitAll([yield* taskAt(bad, 1000), yield* taskAt(bad, 1000)])
      yield* settle
      const submitted = yield* Metric.value(Metric.tagged(SchedulerMetrics.tasksSubmitted, "source", ok))
      assert.strictEqual(submitted.count, 3)
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksPending, ok), 3)
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksRunning, ok), 0)

      // at 1 s: one `ok` task runs (concurrency 1), blocked; the `bad` ones fail, one is retried
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksRunning, ok), 1)
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksPending, ok), 2)
      // released 500 ms late: the second `ok` task starts 2.5 s after its instant
      yield* TestClock.adjust("500 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("10 seconds")

      assert.strictEqual(yield* runs(ok, "succeeded"), 3)
      assert.strictEqual(yield* runs(ok, "failed"), 0)
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksPending, ok), 0)
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksRunning, ok), 0)
      const lateness = yield* histogram(SchedulerMetrics.taskLateness, ok)
      // one at a time: the first ran 1 s to 3.5 s (on time), the second 3.5 s to 5.5 s (2.5 s late),
      // the third, due at 5 s, from 5.5 s (0.5 s late)
      assert.deepStrictEqual(lateness, { count: 3, sum: 3 })
      const duration = yield* histogram(SchedulerMetrics.taskRunDuration, ok)
      assert.deepStrictEqual(duration, { count: 3, sum: 2.5 + 2 + 2 })

      // bad: 2 tasks, 3 failures in all (one retry each allowed): runs 1 and 2 fail and are retried,
      // the third failure is for good (a dead letter), the fourth run succeeds
      assert.strictEqual(yield* runs(bad, "retried"), 2)
      assert.strictEqual(yield* runs(bad, "failed"), 1)
      assert.strictEqual(yield* runs(bad, "succeeded"), 1)
      const dead = yield* Metric.value(
        SchedulerMetrics.deadLetters.pipe(Metric.tagged("source", bad), Metric.tagged("reason", "Failed"))
      )
      assert.strictEqual(dead.count, 1)
    }))

  it.scoped("a task with no consumer is a NoConsumer dead letter; a cancelled run counts as cancelled", () =>
    Effect.gen(function*() {
      const orphan = fresh("orphan")
      const slow = fresh("slow")
      const { scheduler } = yield* setup([{ name: slow, consume: () => Effect.never }], {
        noConsumerGrace: 0,
        metrics: true
      })
      const running = yield* taskAt(slow, 1000)
      yield* scheduler.submitAll([yield* taskAt(orphan, 1000), running])
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksRunning, slow), 1)
      assert.isTrue(yield* scheduler.cancel(running.id))
      yield* settle
      assert.strictEqual(yield* runs(slow, "cancelled"), 1)
      assert.strictEqual(yield* gauge(SchedulerMetrics.tasksRunning, slow), 0)
      const dead = yield* Metric.value(
        SchedulerMetrics.deadLetters.pipe(Metric.tagged("source", orphan), Metric.tagged("reason", "NoConsumer"))
      )
      assert.strictEqual(dead.count, 1)
    }))

  it.scoped("bounded: beyond 1000 sources, the others share the source label _other (no series each)", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([], { metrics: true })
      const before = (yield* Metric.value(Metric.tagged(SchedulerMetrics.tasksSubmitted, "source", "_other"))).count
      const names = Array.from({ length: 1100 }, (_, i) => fresh(`many${i}`))
      yield* scheduler.submitAll(yield* Effect.forEach(names, (name) => taskAt(name, 3_600_000)))
      const own = yield* Effect.forEach(
        names,
        (name) =>
          Effect.map(Metric.value(Metric.tagged(SchedulerMetrics.tasksSubmitted, "source", name)), (s) => s.count)
      )
      const other = (yield* Metric.value(Metric.tagged(SchedulerMetrics.tasksSubmitted, "source", "_other"))).count
      // at most 1000 sources in the process have series of their own (earlier tests made a few)
      const counted = own.filter((count) => count === 1).length
      assert.isAtMost(counted, 1000)
      assert.isAtLeast(counted, 900)
      assert.strictEqual(other - before, 1100 - counted, "the rest are counted under _other")
    }))

  it.scoped("off by default: a scheduler without the metrics option updates none", () =>
    Effect.gen(function*() {
      const quiet = fresh("quiet")
      const { scheduler } = yield* setup([{ name: quiet, consume: () => Effect.void }])
      yield* scheduler.submit(yield* taskAt(quiet, 1000))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* scheduler.stats).bySource[quiet]?.succeeded, 1, "it ran")
      assert.strictEqual(
        (yield* Metric.value(Metric.tagged(SchedulerMetrics.tasksSubmitted, "source", quiet))).count,
        0
      )
      assert.strictEqual(yield* runs(quiet, "succeeded"), 0)
    }))
})
