/**
 * The scheduler at its edges (issue 8): interrupted and failing submissions,
 * consumers that leave or are invalid, long sleeps on the real clock, the
 * order of a past-due task submitted from a consumer, fairness between
 * sources, bounded and re-entrant `stop`, `start` after the scope closed,
 * invalid options, and per-source state that comes and goes.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Clock,
  Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  Layer,
  Logger,
  LogLevel,
  Option,
  Scope,
  TestClock
} from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { vi } from "vitest"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import { recordingConsumer, type Run, settle, setup, taskAt } from "./support.js"

const labels = (runs: ReadonlyArray<Run>) => runs.map((r) => r.label)

/** A scheduler whose one consumer, source `s`, can use the scheduler itself (`self()`). */
const selfReferencing = (
  consume: (self: () => Scheduler.SchedulerService) => (task: Task) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const registry = yield* ConsumerRegistry.make
    const holder: { scheduler?: Scheduler.SchedulerService } = {}
    yield* Effect.orDie(
      Effect.flatMap(TaskConsumer.make({ name: "s", consume: consume(() => holder.scheduler!) }), registry.register)
    )
    holder.scheduler = yield* Scheduler.make().pipe(Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry))
    return holder.scheduler
  })

/** A full garbage collection (V8's `gc`, exposed for this test). */
const collectGarbage = (): void => {
  setFlagsFromString("--expose-gc")
  ;(runInNewContext("gc") as () => void)()
}

describe("Scheduler: submissions", () => {
  it.scoped("a submit interrupted right after its task was accepted still wakes the dispatcher (no lost wake-up)", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)])
      yield* settle // the dispatcher is idle, waiting for a wake-up
      const task = yield* taskAt("a", 0, { label: "x" })
      // the submitting fiber is interrupted while the scheduler reads the task's due time,
      // i.e. in the middle of accepting it: the interruption lands right after that step
      const trap: { victim?: Fiber.RuntimeFiber<void> } = {}
      const trapped: Task = Object.create(task, {
        dueMillis: {
          get: () => {
            trap.victim?.unsafeInterruptAsFork(FiberId.none)
            return task.dueMillis
          }
        }
      })
      trap.victim = yield* Effect.fork(scheduler.submit(trapped))
      yield* Fiber.await(trap.victim)
      yield* settle
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.submitted, 1, "the task was accepted")
      assert.deepStrictEqual(labels(runs), ["x"], "and it ran")
    }))

  it.scoped("submitAll whose iterable throws halfway accepts nothing; a non-Task element is a defect and accepts nothing", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)])
      const a = yield* taskAt("a", 1000, { label: "a" })
      function* throwing() {
        yield a
        throw new Error("the producer failed")
      }
      const exit = yield* Effect.exit(scheduler.submitAll(throwing()))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      assert.match(
        String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : ""),
        /nothing was submitted.*producer failed/
      )
      const bad = yield* Effect.exit(scheduler.submitAll([a, { source: "a" } as unknown as Task]))
      assert.match(String(Exit.isFailure(bad) ? Cause.squash(bad.cause) : ""), /element 1 is not a Task/)
      assert.strictEqual((yield* scheduler.stats).submitted, 0)
      // the sequence is intact: equal instants still run in submission order
      const later = [yield* taskAt("a", 1000, { label: "b" }), yield* taskAt("a", 1000, { label: "c" })]
      yield* scheduler.submitAll(later)
      yield* scheduler.submit(yield* taskAt("a", 1000, { label: "d" }))
      yield* TestClock.setTime(1000)
      assert.deepStrictEqual(labels(runs), ["b", "c", "d"])
    }))
})

describe("Scheduler: consumers that leave or are invalid", () => {
  it.effect("releasing a consumer's layer waits for its running task and starts none of its queued tasks", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const started = yield* Deferred.make<void>()
      const Slow = TaskConsumer.layer({
        name: "slow",
        consume: (task) =>
          Effect.gen(function*() {
            events.push(`start ${task.args.label}`)
            yield* Deferred.succeed(started, undefined)
            yield* Effect.sleep("1 second")
            events.push(`end ${task.args.label}`)
          })
      })
      const root = yield* Scope.make()
      const base = yield* Layer.buildWithScope(
        Scheduler.Scheduler.layer.pipe(Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)),
        root
      )
      const consumerScope = yield* Scope.make()
      yield* Layer.buildWithScope(Slow, consumerScope).pipe(Effect.provide(base))
      const scheduler = Context.get(base, Scheduler.Scheduler)
      yield* scheduler.submitAll([
        yield* taskAt("slow", 0, { label: "one" }),
        yield* taskAt("slow", 0, { label: "two" })
      ])
      yield* Deferred.await(started)
      const releasing = yield* Effect.fork(Scope.close(consumerScope, Exit.void))
      yield* settle
      assert.isNull(releasing.unsafePoll(), "the release waits for the running task")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(releasing)
      events.push("released")
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(
        events,
        ["start one", "end one", "released"],
        "the queued task did not start with the released consumer"
      )
      yield* Scope.close(root, Exit.void)
    }))

  it.scoped("register validates consumers built by hand: concurrency 0 or 1.5, an empty name, no consume", () =>
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry.make
      const consume = () => Effect.void
      const produce = () => Effect.die("unused")
      for (
        const [consumer, reason] of [
          [{ name: "zero", concurrency: 0, consume, produce }, /concurrency must be an integer >= 1, got 0/],
          [{ name: "half", concurrency: 1.5, consume, produce }, /concurrency must be an integer >= 1, got 1.5/],
          [{ name: "", concurrency: 1, consume, produce }, /name must be a non-empty string/],
          [{ name: "none", concurrency: 1, consume: undefined, produce }, /consume must be a function/]
        ] as const
      ) {
        const error = yield* Effect.flip(registry.register(consumer as unknown as TaskConsumer.TaskConsumer))
        assert.strictEqual(error._tag, "InvalidConsumerError")
        assert.match(error.message, reason)
      }
      assert.deepStrictEqual(yield* registry.list, [])
    }))

  it.effect(
    "registering 100,000 consumers is linear (was quadratic: 10k took 12 s, 40k 283 s)",
    () =>
      Effect.gen(function*() {
        const registry = yield* ConsumerRegistry.make
        const consume = () => Effect.void
        for (let i = 0; i < 100_000; i++) {
          yield* registry.register({ name: `c${i}`, concurrency: 1, consume, produce: () => Effect.die("unused") })
        }
        assert.strictEqual((yield* registry.list).length, 100_000)
        assert.isTrue(Option.isSome(yield* registry.find("c99999")))
        assert.isTrue(yield* registry.unregister("c5"))
        assert.strictEqual((yield* registry.list).length, 99_999)
      }),
    { timeout: 120_000 }
  )
})

describe("Scheduler: order and fairness", () => {
  it.scoped("a past-due task submitted by a consumer runs before its source's later-due queued tasks", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      const scheduler = yield* selfReferencing((self) => (task) =>
        Effect.gen(function*() {
          order.push(String(task.args.label))
          if (task.args.label === "first") {
            // due before "second", which is already queued
            yield* self().submit(yield* taskAt("s", 500, { label: "urgent" }))
          }
        })
      )
      yield* TestClock.setTime(2000)
      yield* scheduler.submitAll([
        yield* taskAt("s", 1000, { label: "first" }),
        yield* taskAt("s", 1500, { label: "second" })
      ])
      yield* settle
      assert.deepStrictEqual(order, ["first", "urgent", "second"])
    }))

  it.scoped(
    "a backlog of one source does not delay another source due at the same instant",
    () =>
      Effect.gen(function*() {
        let aRuns = 0
        let aRunsWhenBStarted = -1
        const { scheduler } = yield* setup([
          { name: "A", concurrency: 1, consume: () => Effect.sync(() => void aRuns++) },
          { name: "B", concurrency: 1, consume: () => Effect.sync(() => void (aRunsWhenBStarted = aRuns)) }
        ])
        const due = DateTime.unsafeMake(1000)
        const backlog: Array<Task> = []
        for (let i = 0; i < 200_000; i++) backlog.push(yield* Task.create({ source: "A", scheduleAt: due }))
        yield* scheduler.submitAll(backlog)
        yield* scheduler.submit(yield* Task.create({ source: "B", scheduleAt: due }))
        yield* TestClock.setTime(1000)
        assert.strictEqual(aRuns, 200_000)
        assert.isAtLeast(aRunsWhenBStarted, 0)
        assert.isBelow(aRunsWhenBStarted, 10_000, `B started after ${aRunsWhenBStarted} of A's 200,000 tasks`)
      }),
    { timeout: 120_000 }
  )
})

describe("Scheduler: lifecycle", () => {
  it.scoped("the documented layer composition: closing its scope is bounded by shutdownTimeout (a task that never ends)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        TaskConsumer.layer({ name: "s", consume: () => Effect.never }).pipe(
          Layer.provideMerge(Scheduler.Scheduler.layerWith({ shutdownTimeout: "1 second" })),
          Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
        ),
        scope
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* scheduler.submit(yield* taskAt("s", 100))
      yield* TestClock.setTime(100)
      assert.strictEqual((yield* scheduler.stats).inFlight, 1)
      // the consumer layer's release (then the scheduler's stop) run as finalizers, uninterruptibly
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      for (let i = 0; i < 30 && closing.unsafePoll() === null; i++) yield* TestClock.adjust("100 millis")
      assert.isNotNull(closing.unsafePoll(), "the scope closed after the shutdown timeout")
      const stats = yield* scheduler.stats
      assert.deepStrictEqual([stats.inFlight, stats.failed], [0, 1])
    }))

  it.scoped("stop can be bounded by the caller: Effect.timeout(stop) returns and interrupts the task that never ends", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const { scheduler } = yield* setup([{
        name: "forever",
        concurrency: 1,
        consume: () =>
          Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
      }])
      yield* scheduler.submit(yield* taskAt("forever", 0))
      yield* Deferred.await(started)
      const stopping = yield* Effect.fork(Effect.timeout(scheduler.stop, "5 seconds"))
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.await(stopping)
      assert.isTrue(Exit.isFailure(exit), "the timeout fired")
      yield* Deferred.await(interrupted)
      yield* settle
      assert.isFalse(yield* scheduler.isRunning)
      assert.strictEqual((yield* scheduler.stats).inFlight, 0)
    }))

  it.scoped("shutdownTimeout: stop interrupts the tasks still running after it", () =>
    Effect.gen(function*() {
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("a", runs)], { shutdownTimeout: "2 seconds" })
      yield* scheduler.submit(yield* taskAt("a", 0, { label: "long", ms: 60_000 }))
      yield* settle
      const stopping = yield* Effect.fork(scheduler.stop)
      yield* TestClock.adjust("1999 millis")
      assert.isNull(stopping.unsafePoll())
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(stopping)
      assert.isUndefined(runs[0]!.end, "interrupted")
      assert.strictEqual((yield* scheduler.stats).failed, 1)
    }))

  it.scoped("a task that calls stop does not deadlock: stop returns, the task finishes, nothing new starts", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const scheduler = yield* selfReferencing((self) => (task) =>
        Effect.gen(function*() {
          events.push(`start ${task.args.label}`)
          if (task.args.label === "stopper") {
            yield* self().stop
            events.push("stop returned")
          }
        })
      )
      yield* scheduler.submitAll([
        yield* taskAt("s", 0, { label: "stopper" }),
        yield* taskAt("s", 0, { label: "next" })
      ])
      yield* settle
      assert.deepStrictEqual(events, ["start stopper", "stop returned"])
      assert.isFalse(yield* scheduler.isRunning)
      assert.strictEqual((yield* scheduler.stats).pending, 1, "the next task waits for a start")
    }))

  it.effect("start (or submit) after the scheduler's scope closed is a defect, not a dispatcher nobody stops", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const registry = yield* ConsumerRegistry.make
      const scheduler = yield* Scheduler.make().pipe(
        Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry),
        Scope.extend(scope)
      )
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* scheduler.isRunning)
      const started = yield* Effect.exit(scheduler.start)
      assert.match(
        String(Exit.isFailure(started) ? Cause.squash(started.cause) : ""),
        /start: the scheduler's scope is closed/
      )
      const submitted = yield* Effect.exit(scheduler.submit(yield* taskAt("a", 0)))
      assert.match(
        String(Exit.isFailure(submitted) ? Cause.squash(submitted.cause) : ""),
        /submit: the scheduler's scope is closed/
      )
      assert.isFalse(yield* scheduler.isRunning)
    }))

  it.scoped("invalid options are a defect naming the option", () =>
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry.make
      for (
        const [options, message] of [
          [{ batchSize: Number.NaN }, /option batchSize must be an integer >= 1, got NaN/],
          [{ batchSize: 0 }, /option batchSize must be an integer >= 1, got 0/],
          [{ maxSleep: "0 millis" }, /option maxSleep must be a positive duration/],
          [{ maxSleep: "soon" }, /option maxSleep must be a positive duration, got "soon"/]
        ] as const
      ) {
        const exit = yield* Effect.exit(
          Scheduler.make(options as Scheduler.SchedulerOptions).pipe(
            Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry)
          )
        )
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
        assert.match(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : ""), message)
      }
    }))
})

describe("Scheduler: per-source state that comes and goes", () => {
  it.scoped(
    "1,000,000 distinct sources: lanes and counters are freed, memory stays flat",
    () =>
      Effect.gen(function*() {
        const { scheduler } = yield* setup([])
        const heapAfter = async () => {
          collectGarbage()
          return process.memoryUsage().heapUsed
        }
        const wave = (from: number, to: number) =>
          Effect.gen(function*() {
            const tasks: Array<Task> = []
            for (let i = from; i < to; i++) tasks.push(yield* Task.create({ source: `s${i}` }))
            yield* scheduler.submitAll(tasks)
            yield* settle
            for (let n = 0; n < 1000 && (yield* scheduler.pending) > 0; n++) yield* settle
          })
        yield* wave(0, 100_000)
        const early = yield* Effect.promise(heapAfter)
        for (let from = 100_000; from < 1_000_000; from += 100_000) yield* wave(from, from + 100_000)
        const late = yield* Effect.promise(heapAfter)
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.dropped, 1_000_000)
        assert.strictEqual(stats.pending, 0)
        assert.isAtMost(Object.keys(stats.bySource).length, 1024, "only recently freed sources keep their counters")
        assert.isBelow(late - early, 32 * 1024 * 1024, `heap grew by ${((late - early) / 1e6).toFixed(1)} MB`)
      }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.None))),
    { timeout: 300_000 }
  )
})

describe("Scheduler: long sleeps on the real clock", () => {
  it(
    "maxSleep beyond the JS timer limit is clamped: a task due in 25 days fires (fake timers, real Clock)",
    async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] })
      try {
        const fired: Array<number> = []
        const program = Effect.gen(function*() {
          const registry = yield* ConsumerRegistry.make
          yield* Effect.orDie(Effect.flatMap(
            TaskConsumer.make({
              name: "far",
              consume: () => Effect.map(Clock.currentTimeMillis, (now) => void fired.push(now))
            }),
            registry.register
          ))
          const scheduler = yield* Scheduler.make({ maxSleep: "30 days" }).pipe(
            Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry)
          )
          const now = yield* DateTime.now
          yield* scheduler.submit(yield* Task.create({ source: "far", scheduleAt: DateTime.add(now, { days: 25 }) }))
          const done = yield* Deferred.make<void>()
          const poll: Effect.Effect<void> = Effect.suspend(() =>
            fired.length > 0 ? Deferred.succeed(done, undefined) : Effect.zipRight(Effect.sleep("1 hour"), poll)
          )
          yield* Effect.fork(poll)
          yield* Deferred.await(done)
        }).pipe(Effect.scoped)
        const start = Date.now()
        const result = Effect.runPromiseExit(program)
        await vi.advanceTimersByTimeAsync(Duration.toMillis(Duration.days(26)))
        const exit = await result
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.strictEqual(fired.length, 1)
        assert.isAtLeast(fired[0]! - start, Duration.toMillis(Duration.days(25)))
      } finally {
        vi.useRealTimers()
      }
    },
    60_000
  )
})
