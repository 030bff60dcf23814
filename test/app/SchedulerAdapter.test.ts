/**
 * One behaviour suite, run against the scheduler adapters (RayScheduler on
 * the durable store and in memory, and the legacy interval scheduler),
 * under the TestClock. The adapters decide
 * when runs happen; the runner runs them (scheduled or manual) and counts
 * them.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Deferred, Duration, Effect, Either, Fiber, Option, TestClock } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import * as Pipeline from "../../src/app/pipeline/Pipeline.js"
import { ForceShutdown } from "../../src/app/Shutdown.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import { captureLogs } from "../support.js"
import { adapters, build, harness, type RunRecord, scriptedCollector, type Stack, type Step } from "./support.js"

const MIN = 60_000
const minutes = (records: ReadonlyArray<RunRecord>, instance?: string) =>
  records.filter((r) => instance === undefined || r.instance === instance).map((r) => r.start / MIN)

/** Let fibers run without moving time. */
const settle = TestClock.adjust(Duration.zero)

/** A job state store over `states` (to pre-fill, and to look at). */
const storeOver = (states: Map<string, JobStateStore.JobState>): Stack => ({ store: JobStateStore.layerMemory(states) })

for (const [name, adapter] of adapters) {
  describe(`SchedulerAdapter: ${name}`, () => {
    const { started, startedJob } = harness(adapter)

    it.scoped("a job that never ran runs at start, then every interval", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const { adapter: scheduler, runner } = yield* started([
          scriptedCollector({ name: "c", intervalMinutes: 10, runs })
        ])
        yield* settle
        assert.deepStrictEqual(minutes(runs), [0])
        yield* TestClock.adjust("35 minutes")
        assert.deepStrictEqual(minutes(runs), [0, 10, 20, 30])
        const status = yield* scheduler.status
        assert.strictEqual(status.type, adapter.type)
        assert.isTrue(status.running)
        assert.strictEqual(status.registeredJobs, 1)
        // the legacy scheduler plans the next run as a pending run; the RayScheduler's schedule knows its next
        // occurrence and makes it a task when it is due: never more than one pending run per job
        assert.strictEqual(
          status.pendingTasks,
          adapter.plansWhileRunning ? 0 : 1,
          "one planned run per job, never more"
        )
        assert.deepStrictEqual(status.planned, new Map([["c", DateTime.unsafeMake(40 * MIN)]]))
        assert.deepStrictEqual(status.nextRunAt, Option.some(DateTime.unsafeMake(40 * MIN)))
        assert.strictEqual((yield* runner.counters).succeeded, 4)
      }))

    it.scoped("life cycle: not started plans nothing; start plans and triggers once; stop is final", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const { adapter: scheduler, runner } = yield* build(adapter.notStarted, [
          scriptedCollector({ name: "c", intervalMinutes: 10, params: ["a", "b"], runs, script: () => ({ ms: MIN }) })
        ])
        yield* TestClock.adjust("30 minutes")
        assert.deepStrictEqual(runs, [], "nothing runs before start")
        const idle = yield* scheduler.status
        assert.deepStrictEqual(
          [idle.running, idle.registeredJobs, idle.pendingTasks, idle.planned.size],
          [false, 2, 0, 0]
        )
        assert.isTrue(Option.isNone(idle.nextRunAt))

        yield* scheduler.start
        yield* scheduler.start
        yield* settle
        assert.deepStrictEqual(minutes(runs), [30, 30], "each job runs once at start, however often start is called")
        // while the jobs run: the RayScheduler's schedules have their next occurrence; the legacy scheduler
        // plans the next run when a run ends
        assert.deepStrictEqual(
          (yield* scheduler.status).planned,
          adapter.plansWhileRunning
            ? new Map([["c:a", DateTime.unsafeMake(40 * MIN)], ["c:b", DateTime.unsafeMake(40 * MIN)]])
            : new Map()
        )
        yield* TestClock.adjust("1 minute")
        const running = yield* scheduler.status
        assert.isTrue(running.running)
        assert.deepStrictEqual(
          running.planned,
          new Map([["c:a", DateTime.unsafeMake(40 * MIN)], ["c:b", DateTime.unsafeMake(40 * MIN)]])
        )
        assert.deepStrictEqual(running.nextRunAt, Option.some(DateTime.unsafeMake(40 * MIN)))

        yield* scheduler.stop
        const stopped = yield* scheduler.status
        assert.isFalse(stopped.running)
        assert.strictEqual(stopped.planned.size, 0, "nothing is planned once stopped")
        yield* scheduler.start
        yield* TestClock.adjust("60 minutes")
        assert.strictEqual(runs.length, 2, "start after stop does nothing")
        assert.isFalse((yield* scheduler.status).running)
        assert.strictEqual((yield* runner.counters).cancelled, 0, "not even runs that the runner turns away")
      }))

    it.scoped("parameterised jobs each get an instance `collector:param` with its own cadence", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const { runner } = yield* started([
          scriptedCollector({ name: "search", intervalMinutes: 15, params: ["effect", "rust lang"], runs }),
          scriptedCollector({ name: "solo", intervalMinutes: 20, runs })
        ])
        yield* TestClock.adjust("40 minutes")
        const ids = (yield* runner.listInstances).map((i) => i.id)
        assert.deepStrictEqual(ids, ["search:effect", "search:rust lang", "solo"])
        assert.deepStrictEqual(minutes(runs, "search:effect"), [0, 15, 30])
        assert.deepStrictEqual(minutes(runs, "search:rust lang"), [0, 15, 30])
        assert.deepStrictEqual(minutes(runs, "solo"), [0, 20, 40])
      }))

    it.scoped("resume after restart: a recent run waits for last + interval; an overdue one runs now", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(100 * MIN)
        const runs: Array<RunRecord> = []
        const states = new Map<string, JobStateStore.JobState>()
        const state = (instance: string, lastRunMinutes: number) => ({
          instance,
          lastRunAt: Option.some(DateTime.unsafeMake(lastRunMinutes * MIN)),
          runCount: 3,
          errorCount: 0,
          lastError: Option.none(),
          lastErrorAt: Option.none()
        })
        states.set("c:recent", state("c:recent", 97)) // ran 3 minutes ago
        states.set("c:overdue", state("c:overdue", 85)) // due at 95: overdue
        yield* started(
          [scriptedCollector({ name: "c", intervalMinutes: 10, params: ["recent", "overdue", "new"], runs })],
          storeOver(states)
        )
        yield* settle
        assert.deepStrictEqual(minutes(runs, "c:overdue"), [100])
        assert.deepStrictEqual(minutes(runs, "c:new"), [100])
        assert.deepStrictEqual(minutes(runs, "c:recent"), [])
        yield* TestClock.adjust("7 minutes")
        assert.deepStrictEqual(minutes(runs, "c:recent"), [107])
        assert.strictEqual(states.get("c:recent")?.runCount, 4)
      }))

    it.scoped("a run longer than the interval: missed runs are coalesced, runs never overlap or pile up", () =>
      Effect.gen(function*() {
        const { adapter: scheduler, runs } = yield* startedJob({
          name: "slow",
          intervalMinutes: 10,
          script: (_, n): Step => ({ ms: n === 0 ? 25 * MIN : 0 })
        })
        yield* TestClock.adjust("24 minutes")
        assert.strictEqual((yield* scheduler.status).pendingTasks, 0, "nothing piles up while a run is busy")
        yield* TestClock.adjust("1 minute")
        // the run ending at 25 missed the slots at 10 and 20: one run follows, not two
        const afterSlow = runs.filter((r) => r.start >= 25 * MIN && r.start < 35 * MIN)
        assert.isAtMost(afterSlow.length, 1)
        yield* TestClock.adjust("60 minutes")
        for (let i = 1; i < runs.length; i++) {
          assert.isAtLeast(runs[i]!.start, runs[i - 1]!.end!, "runs of one job never overlap")
          assert.isAtMost(runs[i]!.start - runs[i - 1]!.end!, 10 * MIN, "no gap longer than the interval")
        }
        // at most one run per interval once it is fast again
        const late = runs.filter((r) => r.start >= 40 * MIN)
        assert.isAtMost(late.length, 5)
        assert.isAtLeast(late.length, 4)
      }))

    it.scoped("a retryable failure retries after retryAfter and does not count as a run", () =>
      Effect.gen(function*() {
        const states = new Map<string, JobStateStore.JobState>()
        const { runner, runs } = yield* startedJob({
          name: "quota",
          intervalMinutes: 60,
          script: (_, n): Step => n === 0 ? { outcome: "retry", retryAfter: Duration.minutes(5) } : {}
        }, storeOver(states))
        yield* settle
        assert.deepStrictEqual(minutes(runs), [0])
        const failed = states.get("quota")
        assert.isTrue(Option.isNone(failed!.lastRunAt), "the last run time is not updated")
        assert.strictEqual(failed!.errorCount, 1)
        assert.deepStrictEqual(failed!.lastError, Option.some("quota exceeded"))
        yield* TestClock.adjust("5 minutes")
        assert.deepStrictEqual(minutes(runs), [0, 5])
        assert.deepStrictEqual(states.get("quota")!.lastRunAt, Option.some(DateTime.unsafeMake(5 * MIN)))
        assert.strictEqual((yield* runner.counters).retried, 1)
      }))

    it.scoped("a non-retryable failure is counted and the job keeps its cadence", () =>
      Effect.gen(function*() {
        const states = new Map<string, JobStateStore.JobState>()
        const { runner, runs } = yield* startedJob({
          name: "flaky",
          intervalMinutes: 10,
          script: (_, n): Step => n === 0 ? { outcome: "fail" } : {}
        }, storeOver(states))
        yield* TestClock.adjust("10 minutes")
        assert.deepStrictEqual(minutes(runs), [0, 10])
        assert.strictEqual(states.get("flaky")!.errorCount, 1)
        assert.strictEqual(states.get("flaky")!.runCount, 1)
        const counters = yield* runner.counters
        assert.deepStrictEqual([counters.failed, counters.succeeded], [1, 1])
      }))

    it.scoped("runInstance runs a job now and reports its result; an unknown id is an error", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const stored: Array<RawEvent> = []
        const { runner: scheduler } = yield* build(
          adapter.notStarted,
          [scriptedCollector({ name: "c", intervalMinutes: 60, params: ["x"], runs, script: () => ({ events: 3 }) })],
          { pipeline: Pipeline.layerMemory(stored) }
        )
        const outcome = yield* scheduler.runInstance("c:x")
        assert.strictEqual(outcome._tag, "Succeeded")
        assert.deepStrictEqual(outcome._tag === "Succeeded" ? outcome.result : undefined, {
          received: 3,
          duplicates: 0,
          stored: 3
        })
        assert.strictEqual(stored.length, 3)
        const missing = yield* Effect.either(scheduler.runInstance("nope"))
        assert.isTrue(Either.isLeft(missing))
        assert.strictEqual(Either.isLeft(missing) ? missing.left._tag : "", "UnknownInstanceError")
      }))

    it.scoped("shutdown stops triggering at once and waits for the run in flight (within the shutdown timeout)", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const states = new Map<string, JobStateStore.JobState>()
        const { adapter: scheduler } = yield* started(
          [
            scriptedCollector({ name: "long", intervalMinutes: 5, runs, script: () => ({ ms: 10 * MIN }) })
          ],
          { ...storeOver(states), runner: { shutdownTimeout: "1 hour" } }
        )
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(runs.length, 1)
        const stopping = yield* Effect.fork(scheduler.stop)
        yield* settle
        assert.isNull(stopping.unsafePoll(), "waits for the running collection")
        yield* TestClock.adjust("9 minutes")
        yield* Fiber.join(stopping)
        assert.strictEqual(runs[0]!.end, 10 * MIN)
        assert.strictEqual(states.get("long")!.runCount, 1, "the interrupted-by-shutdown run completed")
        yield* TestClock.adjust("60 minutes")
        assert.strictEqual(runs.length, 1, "nothing runs after shutdown")
        assert.isFalse((yield* scheduler.status).running)
      }))

    it.scoped("shutdown is bounded: a run still going at the shutdown timeout is interrupted, logged and counted", () =>
      captureLogs((logs) =>
        Effect.gen(function*() {
          const runs: Array<RunRecord> = []
          const states = new Map<string, JobStateStore.JobState>()
          const { adapter: scheduler, runner } = yield* started(
            [scriptedCollector({ name: "long", intervalMinutes: 5, runs, script: () => ({ ms: 10 * MIN }) })],
            { ...storeOver(states), runner: { shutdownTimeout: "30 seconds" } }
          )
          yield* TestClock.adjust("1 minute")
          const stopping = yield* Effect.fork(scheduler.stop)
          yield* settle
          assert.isNull(stopping.unsafePoll(), "waits for the running collection")
          assert.isTrue(
            logs.some((log) =>
              /waiting up to 30s for 1 running collection\(s\): long \(running for 1m\)/.test(log.message)
            ),
            "says what it waits for"
          )
          yield* TestClock.adjust("29 seconds")
          assert.isNull(stopping.unsafePoll())
          yield* TestClock.adjust("1 second")
          yield* Fiber.join(stopping)
          assert.isTrue(logs.some((log) => /interrupting 1 running collection\(s\) after 30s: long/.test(log.message)))
          assert.isUndefined(runs[0]!.end, "the run was interrupted")
          assert.isUndefined(states.get("long"), "an interrupted run records nothing")
          const counters = yield* runner.counters
          assert.strictEqual(counters.cancelled, 1)
          assert.strictEqual(counters.inFlight, 0)
          yield* TestClock.adjust("60 minutes")
          assert.strictEqual(runs.length, 1, "nothing runs after shutdown")
        })
      ))

    it.scoped("ForceShutdown (a second signal) interrupts the running collections at once", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const force = yield* Deferred.make<void>()
        const { adapter: scheduler, runner } = yield* started(
          [scriptedCollector({ name: "long", intervalMinutes: 5, runs, script: () => ({ ms: 10 * MIN }) })]
        ).pipe(Effect.provideService(ForceShutdown, Deferred.await(force)))
        yield* TestClock.adjust("1 minute")
        const stopping = yield* Effect.fork(scheduler.stop)
        yield* settle
        assert.isNull(stopping.unsafePoll())
        yield* Deferred.succeed(force, undefined)
        yield* Fiber.join(stopping)
        assert.isUndefined(runs[0]!.end)
        assert.strictEqual((yield* runner.counters).cancelled, 1)
      }))

    it.scoped("manual runs do not pile up: 200 triggers of a busy job queue one run, which they all share", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        // through the adapter, as `POST /instances/:id/run` (the durable adapter stores each trigger first)
        const { adapter: scheduler } = yield* started([
          scriptedCollector({ name: "busy", intervalMinutes: 60, runs, script: () => ({ ms: 10 * MIN }) })
        ])
        yield* settle
        assert.strictEqual(runs.length, 1, "the scheduled run is going")
        const triggers = yield* Effect.forEach(
          Array.from({ length: 200 }),
          () => Effect.fork(scheduler.trigger("busy")),
          { concurrency: "unbounded" }
        )
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual(runs.length, 2, "one manual run after the scheduled one")
        yield* TestClock.adjust("10 minutes")
        const outcomes = yield* Effect.forEach(triggers, Fiber.join)
        assert.strictEqual(runs.length, 2, "and no more")
        assert.isTrue(outcomes.every((o) => o._tag === "Succeeded"))
        assert.strictEqual(
          new Set(outcomes.map((o) => o._tag === "Succeeded" ? DateTime.toEpochMillis(o.startedAt) : -1)).size,
          1
        )
        // a trigger while a manual run is going queues a new one
        const again = yield* Effect.fork(scheduler.trigger("busy"))
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual((yield* Fiber.join(again))._tag, "Succeeded")
        assert.strictEqual(runs.length, 3)
      }))

    it.scoped("at shutdown, runs waiting for their turn are dropped (Cancelled) and the running one finishes", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        const { adapter: scheduler, runner } = yield* started(
          [scriptedCollector({ name: "busy", intervalMinutes: 60, runs, script: () => ({ ms: 10 * MIN }) })],
          { runner: { shutdownTimeout: "1 hour" } }
        )
        yield* settle
        const waiting = yield* Effect.fork(scheduler.trigger("busy"))
        yield* settle
        const stopping = yield* Effect.fork(scheduler.stop)
        yield* settle
        const dropped = yield* Fiber.join(waiting)
        assert.strictEqual(dropped._tag, "Cancelled", "dropped at once, not run")
        yield* TestClock.adjust("10 minutes")
        yield* Fiber.join(stopping)
        assert.strictEqual(runs.length, 1)
        assert.strictEqual(runs[0]!.end, 10 * MIN)
        const late = yield* runner.runInstance("busy")
        assert.strictEqual(late._tag, "Cancelled", "no run after shutdown")
        const triggered = yield* scheduler.trigger("busy")
        assert.strictEqual(triggered._tag, "Cancelled", "no manual run after shutdown")
        assert.strictEqual(runs.length, 1)
      }))
  })
}

for (const [name, adapter] of adapters.filter(([, a]) => a.type === "RayScheduler")) {
  describe(`SchedulerAdapter: ${name} — library schedules (issue 10)`, () => {
    const { started, startedJob } = harness(adapter)
    const at = (iso: string) => DateTime.toEpochMillis(DateTime.unsafeMake(iso))

    it.scoped("a cron job in Europe/Berlin (`30 2 * * *`) does not run at start; it first runs at the end of the DST gap", () =>
      Effect.gen(function*() {
        // (10 minutes before: the durable store renews its lease every 10 s of virtual time, each a statement)
        yield* TestClock.setTime(at("2026-03-29T00:50:00Z"))
        const runs: Array<RunRecord> = []
        const { adapter: scheduler } = yield* started([
          scriptedCollector({ name: "c", intervalMinutes: 10, cron: "30 2 * * *", timeZone: "Europe/Berlin", runs })
        ])
        yield* settle
        assert.deepStrictEqual(runs, [], "a cron job runs at its times only")
        const status = yield* scheduler.status
        assert.deepStrictEqual(status.planned.get("c"), DateTime.unsafeMake("2026-03-29T01:00:00Z"))
        const info = status.schedules.get("c")!
        assert.deepStrictEqual([info.cron, info.timeZone, info.every], ["30 2 * * *", "Europe/Berlin", undefined])
        yield* TestClock.adjust("15 minutes")
        assert.deepStrictEqual(
          runs.map((r) => DateTime.formatIso(DateTime.unsafeMake(r.start))),
          ["2026-03-29T01:00:00.000Z"], // 02:30 does not exist that night: the first instant after the gap
          "at 03:00 CEST"
        )
        assert.deepStrictEqual(
          (yield* scheduler.status).planned.get("c"),
          DateTime.unsafeMake("2026-03-30T00:30:00Z"),
          "then 02:30 CEST"
        )
      }))

    it.scoped("a retry due at (or after) the next run is not made: that run is the retry, once", () =>
      captureLogs((logs) =>
        Effect.gen(function*() {
          const { adapter: scheduler, runs } = yield* startedJob({
            name: "quota",
            intervalMinutes: 10,
            // asks for an hour: capped at the interval (the retry policy's default cap), so due with the next run
            script: (_, n): Step => n === 0 ? { outcome: "retry", retryAfter: Duration.hours(1) } : {}
          })
          yield* settle
          assert.include(
            logs.map((log) => log.message),
            `quota: retrying at its next scheduled run (${DateTime.formatIso(DateTime.unsafeMake(10 * MIN))})`
          )
          yield* TestClock.adjust("15 minutes")
          assert.deepStrictEqual(minutes(runs), [0, 10], "one run at 10")
          const stats = Option.getOrThrow((yield* scheduler.status).scheduler)
          assert.deepStrictEqual([stats.retried, stats.failed], [0, 0], "the task succeeded: no retry of it")
        })
      ))

    it.scoped("a retry before the next run re-runs the same occurrence; the grid is kept", () =>
      Effect.gen(function*() {
        const { adapter: scheduler, runs } = yield* startedJob({
          name: "quota",
          intervalMinutes: 60,
          script: (_, n): Step => n < 2 ? { outcome: "retry", retryAfter: Duration.minutes(5) } : {}
        })
        yield* settle
        const waiting = yield* scheduler.status
        assert.deepStrictEqual(waiting.retries.get("quota"), DateTime.unsafeMake(5 * MIN))
        assert.deepStrictEqual(waiting.planned.get("quota"), DateTime.unsafeMake(5 * MIN), "the retry comes first")
        assert.strictEqual(waiting.pendingTasks, 1, "the occurrence, pending again")
        yield* TestClock.adjust("61 minutes")
        assert.deepStrictEqual(minutes(runs), [0, 5, 10, 60], "retries at 5 and 10, then the grid (not 70)")
        const stats = Option.getOrThrow((yield* scheduler.status).scheduler)
        assert.deepStrictEqual([stats.retried, stats.deadLetters], [2, 0])
        assert.strictEqual((yield* scheduler.status).schedules.get("quota")!.runs, 2, "occurrences at 0 and 60")
      }))
  })
}
