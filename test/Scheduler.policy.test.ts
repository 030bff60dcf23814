/**
 * Issue 10, scheduling policy, against both layers (this file is in the
 * conformance list of vitest.config.ts): a consumer's `timeout`, `retry` and `rateLimit`, `maxConcurrency`, pause, cancel, clock jumps. Under
 * `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import type { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { captureLogs, makeWallJumpingClock, namedTask, nameOf, settle, setup } from "./support.js"

const task = namedTask

describe("TaskConsumer timeout", () => {
  it.scoped("a run longer than the timeout is interrupted (finalizers run, the permit is freed) and is a failure with TaskTimeoutError", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const events: Array<string> = []
        const consume = (t: Task) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const attempt = (yield* Effect.orDie(TaskRun.current)).attempt
            events.push(`${nameOf(t.id)} start ${now} attempt ${attempt}`)
            yield* Effect.addFinalizer(() =>
              Effect.flatMap(
                Clock.currentTimeMillis,
                (end) => Effect.sync(() => events.push(`${nameOf(t.id)} finalizer ${end}`))
              )
            )
            yield* Effect.sleep(Duration.millis(Number(t.args.ms)))
            events.push(`${nameOf(t.id)} done`)
          }).pipe(Effect.scoped)
        const { scheduler } = yield* setup([{ name: "s", concurrency: 1, timeout: "1 second", consume }])
        yield* scheduler.submitAll([
          yield* task("slow", "s", 0, { ms: 5000 }),
          yield* task("quick", "s", 0, { ms: 999 })
        ])
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
        yield* TestClock.adjust("999 millis")
        yield* settle
        assert.deepStrictEqual(events, [
          "slow start 0 attempt 1",
          "slow finalizer 1000",
          "quick start 1000 attempt 1",
          "quick done",
          "quick finalizer 1999"
        ])
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.failed, 1)
        assert.strictEqual(stats.succeeded, 1)
        const letters = yield* scheduler.deadLetters
        assert.deepStrictEqual(letters.map((l) => [nameOf(l.task.id), l.reason, l.attempts]), [["slow", "Failed", 1]])
        assert.match(
          letters[0]!.error,
          /^TaskTimeoutError: task .* of "s" ran longer than its timeout of 1s and was interrupted$/
        )
        assert.isTrue(
          logs.some((l) => l.message === "Task failed" && Cause.pretty(l.cause).includes("TaskTimeoutError")),
          "the failure is logged with its cause"
        )
      })
    ))

  it.scoped("a consumer without timeout (or an infinite one) lets a run take as long as it takes", () =>
    Effect.gen(function*() {
      const ended: Array<string> = []
      const consume = (t: Task) =>
        Effect.zipRight(Effect.sleep("1 hour"), Effect.sync(() => void ended.push(nameOf(t.id))))
      const { scheduler } = yield* setup([
        { name: "a", consume },
        { name: "b", timeout: Duration.infinity, consume }
      ])
      yield* scheduler.submitAll([yield* task("a1", "a", 0), yield* task("b1", "b", 0)])
      yield* settle
      yield* TestClock.adjust("1 hour")
      yield* settle
      assert.deepStrictEqual(ended.sort(), ["a1", "b1"])
      assert.strictEqual((yield* scheduler.stats).failed, 0)
    }))

  it.effect("an invalid timeout is an InvalidConsumerError naming it", () =>
    Effect.gen(function*() {
      const reason = (timeout: unknown) =>
        TaskConsumer.make({ name: "x", consume: () => Effect.void, timeout: timeout as Duration.DurationInput }).pipe(
          Effect.match({ onFailure: (error) => `${error._tag}: ${error.message}`, onSuccess: () => "valid" })
        )
      assert.match(yield* reason("0 seconds"), /timeout must be longer than 0, got 0/)
      assert.match(yield* reason(-5), /timeout must be longer than 0/)
      assert.match(
        yield* reason("soon"),
        /timeout must be a duration \(e\.g\. "30 seconds" or a number of milliseconds\), got "soon"/
      )
      assert.strictEqual(yield* reason("30 seconds"), "valid")
    }))
})

describe("maxConcurrency", () => {
  it.scoped("a freed slot goes to the source that waited for it first: two busy sources under a cap of 1 alternate", () =>
    Effect.gen(function*() {
      const starts: Array<string> = []
      const consume = (t: Task) =>
        Effect.gen(function*() {
          starts.push(`${nameOf(t.id)}@${yield* Clock.currentTimeMillis}`)
          yield* Effect.sleep("1 second")
        })
      const { scheduler } = yield* setup([
        { name: "a", concurrency: 2, consume },
        { name: "b", concurrency: 2, consume }
      ], { maxConcurrency: 1 })
      yield* scheduler.submitAll([
        yield* task("a1", "a", 0),
        yield* task("a2", "a", 0),
        yield* task("a3", "a", 0),
        yield* task("b1", "b", 0),
        yield* task("b2", "b", 0),
        yield* task("b3", "b", 0)
      ])
      for (let i = 0; i < 7; i++) {
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      assert.deepStrictEqual(starts, ["a1@0", "b1@1000", "a2@2000", "b2@3000", "a3@4000", "b3@5000"])
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.succeeded, 6)
      assert.strictEqual(stats.pending, 0)
    }))

  it.effect("an invalid maxConcurrency is a defect naming it", () =>
    Effect.gen(function*() {
      for (const bad of [0, 1.5, -1, Number.NaN]) {
        const exit = yield* Effect.exit(Effect.scoped(setup([], { maxConcurrency: bad })))
        assert.isTrue(Exit.isFailure(exit))
        assert.match(
          String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)),
          /option maxConcurrency must be an integer >= 1/
        )
      }
    }))
})

describe("pause and resume", () => {
  /** A consumer recording `name@start`; `args.ms` is how long a run takes. */
  const timed = (name: string, starts: Array<string>, concurrency = 1) => ({
    name,
    concurrency,
    consume: (t: Task) =>
      Effect.gen(function*() {
        starts.push(`${nameOf(t.id)}@${yield* Clock.currentTimeMillis}`)
        yield* Effect.sleep(Duration.millis(Number(t.args.ms ?? 0)))
      })
  })

  it.scoped("a paused source's due tasks wait (not dropped) while its running task finishes; resume starts them at once", () =>
    Effect.gen(function*() {
      const starts: Array<string> = []
      const { scheduler } = yield* setup([timed("a", starts), timed("b", starts)])
      yield* scheduler.submitAll([
        yield* task("a1", "a", 0, { ms: 2000 }),
        yield* task("a2", "a", 1000),
        yield* task("a3", "a", 1000),
        yield* task("b1", "b", 1000)
      ])
      yield* settle
      yield* TestClock.setTime(500)
      yield* scheduler.pause("a")
      yield* scheduler.pause("a") // again: nothing changes
      assert.deepStrictEqual([...(yield* scheduler.paused)], ["a"])
      yield* TestClock.setTime(1000)
      yield* TestClock.setTime(3000)
      yield* settle
      assert.deepStrictEqual(starts, ["a1@0", "b1@1000"], "a2 and a3 wait; a1 finished")
      const waiting = yield* scheduler.stats
      assert.strictEqual(waiting.pending, 2)
      assert.strictEqual(waiting.bySource["a"]?.succeeded, 1)
      assert.strictEqual(waiting.dropped, 0)
      yield* scheduler.resume("a")
      yield* settle
      assert.deepStrictEqual(starts, ["a1@0", "b1@1000", "a2@3000", "a3@3000"])
      assert.deepStrictEqual([...(yield* scheduler.paused)], [])
      yield* scheduler.resume("a") // not paused: nothing changes
      assert.strictEqual((yield* scheduler.stats).succeeded, 4)
    }))

  it.scoped("a source paused before it has tasks: its tasks wait until resume, other sources run", () =>
    Effect.gen(function*() {
      const starts: Array<string> = []
      const { scheduler } = yield* setup([timed("later", starts, 2), timed("other", starts)])
      yield* scheduler.pause("later")
      yield* scheduler.submitAll([
        yield* task("l1", "later", 100),
        yield* task("l2", "later", 200),
        yield* task("o1", "other", 150)
      ])
      yield* TestClock.setTime(1000)
      yield* settle
      assert.deepStrictEqual(starts, ["o1@150"])
      yield* scheduler.resume("later")
      yield* settle
      assert.deepStrictEqual(starts, ["o1@150", "l1@1000", "l2@1000"])
    }))

  it.scoped("an empty source name is a defect naming the operation", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([])
      for (const op of [scheduler.pause(""), scheduler.resume("")]) {
        const exit = yield* Effect.exit(op)
        assert.isTrue(Exit.isFailure(exit))
        assert.match(
          String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)),
          /Scheduler\.(pause|resume): source must be a non-empty string/
        )
      }
    }))
})

describe("TaskConsumer rateLimit", () => {
  const starting = (
    name: string,
    starts: Array<number>,
    rateLimit: TaskConsumer.TaskConsumerOptions<never, never>["rateLimit"],
    concurrency = 10
  ) => ({
    name,
    concurrency,
    rateLimit,
    consume: () => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void starts.push(now)))
  })

  it.scoped("10 due tasks with { limit: 2, interval: 1 second } start at 0, 0, 1, 1, 2, 2, ... s; another source is not held back", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const other: Array<number> = []
      const { scheduler } = yield* setup([
        starting("limited", starts, { limit: 2, interval: "1 second" }),
        starting("free", other, undefined)
      ])
      yield* scheduler.submitAll(
        yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => task(`t${i}`, "limited", 0))
      )
      yield* scheduler.submitAll(yield* Effect.forEach([0, 1, 2], (i) => task(`f${i}`, "free", 0)))
      yield* settle
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      assert.deepStrictEqual(starts, [0, 0, 1000, 1000, 2000, 2000, 3000, 3000, 4000, 4000])
      assert.deepStrictEqual(other, [0, 0, 0])
      assert.strictEqual((yield* scheduler.stats).pending, 0)
    }))

  it.scoped("the window slides over the last starts: due at 0, 500, 900, 1200 with limit 2 per second start at 0, 500, 1000, 1500", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const { scheduler } = yield* setup([starting("limited", starts, { limit: 2, interval: "1 second" })])
      yield* scheduler.submitAll(yield* Effect.forEach([0, 500, 900, 1200], (at, i) => task(`t${i}`, "limited", at)))
      for (const at of [0, 500, 900, 1000, 1200, 1500, 2000]) {
        yield* TestClock.setTime(at)
        yield* settle
      }
      assert.deepStrictEqual(starts, [0, 500, 1000, 1500])
    }))

  it.effect("an invalid rateLimit is an InvalidConsumerError naming the field", () =>
    Effect.gen(function*() {
      const reason = (rateLimit: unknown) =>
        TaskConsumer.make({
          name: "x",
          consume: () => Effect.void,
          rateLimit: rateLimit as TaskConsumer.TaskConsumerOptions<never, never>["rateLimit"]
        }).pipe(Effect.match({ onFailure: (error) => error.message, onSuccess: () => "valid" }))
      assert.match(yield* reason({ limit: 0, interval: "1 second" }), /rateLimit\.limit must be an integer >= 1, got 0/)
      assert.match(
        yield* reason({ limit: 2.5, interval: "1 second" }),
        /rateLimit\.limit must be an integer >= 1, got 2\.5/
      )
      assert.match(
        yield* reason({ limit: 2, interval: "0 seconds" }),
        /rateLimit\.interval must be a finite duration longer than 0/
      )
      assert.match(yield* reason({ limit: 2, interval: "often" }), /rateLimit\.interval .* got "often"/)
      assert.match(yield* reason(5), /rateLimit must be \{ limit, interval \}, got 5/)
      assert.strictEqual(yield* reason({ limit: 2, interval: "1 second" }), "valid")
    }))
})

describe("cancel and reschedule", () => {
  const recorder = (name: string, events: Array<string>, concurrency = 1) => ({
    name,
    concurrency,
    consume: (t: Task) =>
      Effect.gen(function*() {
        events.push(`${nameOf(t.id)} start ${yield* Clock.currentTimeMillis}`)
        yield* Effect.addFinalizer(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => void events.push(`${nameOf(t.id)} end ${now}`)))
        )
        yield* Effect.sleep(Duration.millis(Number(t.args.ms ?? 0)))
      }).pipe(Effect.scoped)
  })

  it.scoped("cancel removes a pending task (counted, not a dead letter); its id is free again; unknown ids are false", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const { scheduler } = yield* setup([recorder("s", events)])
      yield* scheduler.submitAll([yield* task("a", "s", 1000), yield* task("b", "s", 2000)])
      assert.isTrue(yield* scheduler.cancel((yield* task("a", "s", 0)).id))
      assert.isFalse(yield* scheduler.cancel((yield* task("a", "s", 0)).id), "already cancelled")
      assert.isFalse(yield* scheduler.cancel((yield* task("nope", "s", 0)).id))
      const stats = yield* scheduler.stats
      assert.deepStrictEqual([stats.cancelled, stats.pending, stats.bySource["s"]?.cancelled], [1, 1, 1])
      yield* TestClock.setTime(2000)
      yield* settle
      assert.deepStrictEqual(events, ["b start 2000", "b end 2000"])
      assert.deepStrictEqual(yield* scheduler.deadLetters, [])
      // the id can be submitted again
      yield* scheduler.submit(yield* task("a", "s", 3000))
      yield* TestClock.setTime(3000)
      yield* settle
      assert.deepStrictEqual(events.slice(2), ["a start 3000", "a end 3000"])
      assert.strictEqual((yield* scheduler.stats).duplicates, 0)
    }))

  it.scoped("cancel interrupts a running task: its finalizers run, cancel returns after them, the permit goes to the next task", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const { scheduler } = yield* setup([recorder("s", events)])
      yield* scheduler.submitAll([
        yield* task("long", "s", 0, { ms: 10_000 }),
        yield* task("next", "s", 0, { ms: 100 })
      ])
      yield* settle
      yield* TestClock.setTime(1000)
      assert.isTrue(yield* scheduler.cancel((yield* task("long", "s", 0)).id))
      assert.deepStrictEqual(
        events.slice(0, 2),
        ["long start 0", "long end 1000"],
        "finalizers ran before cancel returned"
      )
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* settle
      assert.deepStrictEqual(events, ["long start 0", "long end 1000", "next start 1000", "next end 1100"])
      const stats = yield* scheduler.stats
      assert.deepStrictEqual([stats.cancelled, stats.failed, stats.succeeded, stats.inFlight], [1, 0, 1, 0])
      assert.deepStrictEqual(yield* scheduler.deadLetters, [])
    }))

  it.scoped("reschedule moves a pending task later or earlier; a running or unknown task is not moved", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const { scheduler } = yield* setup([recorder("s", events)])
      yield* scheduler.submitAll([
        yield* task("later", "s", 1000),
        yield* task("sooner", "s", 9000),
        yield* task("busy", "s", 500, { ms: 1000 })
      ])
      const id = (name: string) => Effect.map(task(name, "s", 0), (t) => t.id)
      assert.isTrue(yield* scheduler.reschedule(yield* id("later"), DateTime.unsafeMake(5000)))
      assert.isTrue(yield* scheduler.reschedule(yield* id("sooner"), DateTime.unsafeMake(3000)))
      assert.isFalse(yield* scheduler.reschedule(yield* id("nope"), DateTime.unsafeMake(3000)))
      yield* TestClock.setTime(500)
      yield* settle
      assert.isFalse(yield* scheduler.reschedule(yield* id("busy"), DateTime.unsafeMake(8000)), "running")
      for (const at of [1000, 1500, 3000, 5000, 9000]) {
        yield* TestClock.setTime(at)
        yield* settle
      }
      assert.deepStrictEqual(events.filter((e) => e.includes("start")), [
        "busy start 500",
        "sooner start 3000",
        "later start 5000"
      ])
      const stats = yield* scheduler.stats
      assert.deepStrictEqual([stats.succeeded, stats.pending, stats.submitted], [3, 0, 3])
    }))
})

describe("clock jumps", () => {
  it.scoped("a wall-clock jump (against the monotonic clock) is counted and logged once with its size; tasks it skipped start at that wake-up", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const { clock, jump } = yield* makeWallJumpingClock
        const starts: Array<string> = []
        const consume = (t: Task) =>
          Effect.sync(() => void starts.push(`${nameOf(t.id)}@${clock.unsafeCurrentTimeMillis()}`))
        const { scheduler } = yield* setup([{ name: "s", consume }], { maxSleep: "1 minute" }, clock)
        yield* scheduler.submitAll([yield* task("soon", "s", 10 * 60_000), yield* task("far", "s", 60 * 60_000)])
        yield* settle
        yield* TestClock.adjust("1 minute") // a wake-up without a jump
        yield* settle
        assert.strictEqual((yield* scheduler.stats).clockJumps, 0)
        // the wall clock steps 20 minutes forward: "soon" was skipped, it starts at the next wake-up
        yield* jump(20 * 60_000)
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.deepStrictEqual(starts, [`soon@${22 * 60_000}`])
        assert.strictEqual((yield* scheduler.stats).clockJumps, 1)
        const warnings = logs.filter((l) => l.message.includes("the wall clock jumped"))
        assert.strictEqual(warnings.length, 1, "logged once")
        assert.match(warnings[0]!.message, /jumped forward by 20m/)
        // and back by 10 minutes: counted; "far" (due at 60 min) is not started early
        yield* jump(-10 * 60_000)
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.strictEqual((yield* scheduler.stats).clockJumps, 2)
        assert.match(logs.filter((l) => l.message.includes("the wall clock jumped"))[1]!.message, /jumped back by 10m/)
        assert.deepStrictEqual(starts, [`soon@${22 * 60_000}`])
      })
    ))
})

describe("TaskConsumer retry", () => {
  class Boom extends Data.TaggedError("Boom")<{ readonly retryable: boolean }> {}

  /** Runs as `events` "<name> <attempt>@<ms>"; `args.fail` runs fail (with `args.retryable`), `args.die` die, `args.ms` sleep. */
  const flaky = (
    name: string,
    events: Array<string>,
    retry: Schedule.Schedule<unknown, Boom | TaskConsumer.TaskTimeoutError>,
    extra: Partial<TaskConsumer.TaskConsumerOptions<Boom, never>> = {}
  ): TaskConsumer.TaskConsumerOptions<Boom, never> => ({
    name,
    retry,
    ...extra,
    consume: (t) =>
      Effect.gen(function*() {
        const run = yield* Effect.orDie(TaskRun.current)
        events.push(`${nameOf(t.id)} ${run.attempt}@${yield* Clock.currentTimeMillis}`)
        const failUntil = Number(t.args.failUntil ?? Infinity)
        if (t.args.die === true) return yield* Effect.die(new Error("bug"))
        if (t.args.ms !== undefined && run.attempt < failUntil) yield* Effect.sleep(Duration.millis(Number(t.args.ms)))
        if (t.args.fail === true && run.attempt < failUntil) {
          return yield* new Boom({ retryable: t.args.retryable !== false })
        }
      })
  })

  const exponential3 = Schedule.exponential("1 second").pipe(Schedule.compose(Schedule.recurs(3)))

  it.scoped("exponential(1 s) composed with recurs(3): runs at 0, 1, 3 and 7 s, then a dead letter with 4 attempts; a waiting retry holds no permit; replay starts again at attempt 1", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const { scheduler } = yield* setup([flaky("s", events, exponential3)])
      yield* scheduler.submitAll([yield* task("bad", "s", 0, { fail: true }), yield* task("ok", "s", 500)])
      yield* settle
      const waiting = yield* scheduler.stats
      assert.deepStrictEqual(
        [waiting.pending, waiting.inFlight, waiting.failed, waiting.retried, waiting.deadLetters],
        [2, 0, 1, 1, 0],
        "after the first failure the task is pending again, holding nothing"
      )
      for (const at of [500, 1000, 3000, 7000, 60_000]) {
        yield* TestClock.setTime(at)
        yield* settle
      }
      assert.deepStrictEqual(events, ["bad 1@0", "ok 1@500", "bad 2@1000", "bad 3@3000", "bad 4@7000"])
      const letters = yield* scheduler.deadLetters
      assert.deepStrictEqual(
        letters.map((l) => [nameOf(l.task.id), l.reason, l.attempts, l.error]),
        [["bad", "Failed", 4, "Boom"]]
      )
      const stats = yield* scheduler.stats
      assert.deepStrictEqual(
        [stats.started, stats.failed, stats.retried, stats.succeeded, stats.pending, stats.submitted],
        [5, 4, 3, 1, 0, 2]
      )
      // replay: a fresh attempt count, and the schedule starts over
      assert.isTrue(yield* scheduler.replay((yield* task("bad", "s", 0)).id))
      yield* settle
      yield* TestClock.setTime(61_000)
      yield* settle
      assert.deepStrictEqual(events.slice(5), ["bad 1@60000", "bad 2@61000"])
    }))

  it.scoped("a timeout is retried (the schedule sees TaskTimeoutError); the schedule's input decides; a defect is not retried", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const inputs: Array<string> = []
      const onlyRetryable = Schedule.spaced("5 seconds").pipe(
        Schedule.whileInput((e: Boom | TaskConsumer.TaskTimeoutError) => {
          inputs.push(e._tag)
          return e._tag === "TaskTimeoutError" || e.retryable
        })
      )
      const { scheduler } = yield* setup([
        flaky("s", events, onlyRetryable, { timeout: "1 second", concurrency: 3 })
      ])
      yield* scheduler.submitAll([
        yield* task("slow", "s", 0, { ms: 5000, failUntil: 2 }),
        yield* task("final", "s", 0, { fail: true, retryable: false }),
        yield* task("bug", "s", 0, { die: true })
      ])
      for (const at of [0, 1000, 6000, 60_000]) {
        yield* TestClock.setTime(at)
        yield* settle
      }
      assert.deepStrictEqual(events, ["slow 1@0", "final 1@0", "bug 1@0", "slow 2@6000"])
      assert.deepStrictEqual(inputs.sort(), ["Boom", "TaskTimeoutError"])
      const letters = yield* scheduler.deadLetters
      assert.deepStrictEqual(
        letters.map((l) => [nameOf(l.task.id), l.reason, l.attempts]).sort(),
        [["bug", "Died", 1], ["final", "Failed", 1]]
      )
      const stats = yield* scheduler.stats
      assert.deepStrictEqual([stats.succeeded, stats.retried, stats.failed], [1, 1, 3])
    }))

  it.scoped("a task waiting for its retry can be cancelled (no dead letter) or rescheduled", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const { scheduler } = yield* setup([flaky("s", events, Schedule.spaced("1 hour"))])
      yield* scheduler.submitAll([yield* task("a", "s", 0, { fail: true }), yield* task("b", "s", 0, { fail: true })])
      yield* settle
      assert.isTrue(yield* scheduler.cancel((yield* task("a", "s", 0)).id))
      assert.isTrue(yield* scheduler.reschedule((yield* task("b", "s", 0)).id, DateTime.unsafeMake(10_000)))
      yield* TestClock.setTime(10_000)
      yield* settle
      assert.deepStrictEqual(events, ["a 1@0", "b 1@0", "b 2@10000"])
      assert.deepStrictEqual(yield* scheduler.deadLetters, [])
      assert.strictEqual((yield* scheduler.stats).cancelled, 1)
    }))

  it.scoped("each failure steps the schedule once (its state is kept between a task's failures): 49 failures, 49 steps", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      let steps = 0
      const counted = Schedule.spaced("1 second").pipe(Schedule.tapInput(() => Effect.sync(() => void steps++)))
      const { scheduler } = yield* setup([flaky("s", events, counted)])
      yield* scheduler.submit(yield* task("t", "s", 0, { fail: true, failUntil: 50 }))
      for (let at = 0; at <= 49_000; at += 1000) {
        yield* TestClock.setTime(at)
        yield* settle
      }
      assert.strictEqual(events.length, 50)
      assert.strictEqual(events[49], "t 50@49000")
      assert.strictEqual(steps, 49, "a replay from the start at every failure would take 1 + 2 + ... + 49 = 1225")
      assert.strictEqual((yield* scheduler.stats).succeeded, 1)
    }))

  it.effect("retry must be a Schedule: anything else is an InvalidConsumerError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        TaskConsumer.make({ name: "x", consume: () => Effect.void, retry: 3 as unknown as Schedule.Schedule<unknown> })
      )
      assert.strictEqual(error.message, `Invalid consumer "x": retry must be a Schedule (from effect/Schedule), got 3`)
    }))
})
