/**
 * The durable RayScheduler adapter (what the service runs) across restarts,
 * under the TestClock: successive "incarnations" of the service's
 * scheduling (a runner and the adapter) on one SQLite database, the app's,
 * where the store keeps its `ray_scheduler_*` tables next to the app's
 * (docs/architecture.md, "Durable scheduling").
 *
 * - a job is a stored library schedule: after a restart it keeps its next
 *   run; runs missed while down follow the collector's misfire rule;
 * - a changed timing starts afresh (the resume rule seeds an interval);
 *   the next run of the old one, or a run stored by the previous version,
 *   is not run;
 * - a Retry outcome re-runs the same occurrence (stored, survives a
 *   restart); a run the shutdown interrupted runs at the next start;
 * - a job removed from the configuration: its schedule and stored runs are
 *   dropped;
 * - manual triggers are stored: one the shutdown cancelled runs after the
 *   restart; one made before the adapter starts runs once it starts;
 * - the store's lease, and planning while the database stays locked.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import type { Schedule } from "effect"
import { Context, DateTime, Duration, Effect, Either, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import type { Collector } from "../../src/app/collectors/Collector.js"
import * as Pipeline from "../../src/app/pipeline/Pipeline.js"
import * as CollectorConsumer from "../../src/app/scheduling/CollectorConsumer.js"
import * as CollectorRunner from "../../src/app/scheduling/CollectorRunner.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import * as RunTasks from "../../src/app/scheduling/RunTasks.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as Database from "../../src/app/storage/Database.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import * as Leases from "../../src/app/storage/Leases.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"
import type { StorageError } from "../../src/app/storage/StorageError.js"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import { TaskTimeoutError } from "../../src/scheduler/internal/consumer.js"
import { nextRetry, type RetryMemo } from "../../src/scheduler/internal/retry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { Task } from "../../src/scheduler/Task.js"
import { lockingConnection, tempDbFile } from "../storage/tempDb.js"
import { captureLogs, settle } from "../support.js"
import { memoryDatabase, type RunRecord, scriptedCollector, type Step } from "./support.js"

const MIN = 60_000
const minutes = (records: ReadonlyArray<RunRecord>, instance?: string) =>
  records.filter((r) => instance === undefined || r.instance === instance).map((r) => r.start / MIN)
const iso = (millis: number) => DateTime.formatIso(DateTime.unsafeMake(millis))

/** A database built once for the test, shared by the incarnations. */
const sharedDatabase = (database: Layer.Layer<Database.Database> = memoryDatabase) =>
  Effect.map(Layer.build(database), (context) => Layer.succeedContext(context))

interface IncarnationOptions {
  /** Build the adapter without starting it. Default: started. */
  readonly notStarted?: boolean
  readonly runner?: CollectorRunner.CollectorRunnerOptions
  /** The job state store. Default: the SQL one, on the shared database (the service's). */
  readonly store?: Layer.Layer<JobStateStore.JobStateStore>
  /** Every collector's misfire rule. Default: the service's (coalesce, no grace). */
  readonly misfire?: CollectorRunner.JobMisfire
}

/**
 * One incarnation of the service's scheduling on `database`: the runner
 * over `collectors` and the durable adapter. `stop` closes it (as the
 * service's shutdown does); it is closed with the test's scope anyway.
 */
const incarnation = (
  database: Layer.Layer<Database.Database>,
  collectors: ReadonlyArray<Collector>,
  options: IncarnationOptions = {}
): Effect.Effect<
  {
    readonly adapter: Context.Tag.Service<SchedulerAdapter>
    readonly runner: CollectorRunner.CollectorRunnerService
    readonly sql: SqlClient.SqlClient
    readonly stop: Effect.Effect<void>
  },
  StorageError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const adapter = options.notStarted === true
      ? RaySchedulerAdapter.layerSqlNotStarted({ maxSleep: "1 hour" })
      : RaySchedulerAdapter.layerSql({ maxSleep: "1 hour" })
    const layer = adapter.pipe(
      Layer.provideMerge(CollectorRunner.layer(options.runner)),
      Layer.provideMerge(
        Layer.succeed(
          CollectorRunner.Collectors,
          collectors.map((collector) => ({ collector, concurrency: 1, misfire: options.misfire }))
        )
      ),
      Layer.provideMerge(options.store ?? SqlJobStateStore.layer),
      Layer.provideMerge(Pipeline.layerMemory()),
      Layer.provideMerge(Leases.layerMemory()),
      Layer.provideMerge(database)
    )
    const context = yield* Layer.buildWithScope(layer, scope)
    return {
      adapter: Context.get(context, SchedulerAdapter),
      runner: Context.get(context, CollectorRunner.CollectorRunner),
      sql: Context.get(context, SqlClient.SqlClient),
      stop: Scope.close(scope, Exit.void)
    }
  })

interface StoredTask {
  readonly id: string
  readonly source: string
  readonly due_ms: number
}

/** The store's pending and running tasks (not the rows of runs that succeeded, deleted in batches), by due instant and source. */
const storedTasks = (sql: SqlClient.SqlClient) =>
  Effect.orDie(
    sql<StoredTask>`SELECT id, source, due_ms FROM ray_scheduler_tasks WHERE done = 0 ORDER BY due_ms, source`
  ).pipe(
    Effect.map((rows) => rows.map((row) => ({ id: row.id, source: row.source, due_ms: Number(row.due_ms) })))
  )

interface StoredSchedule {
  readonly id: string
  readonly next_ms: number
}

/** The store's schedules: id and next occurrence, by id. */
const storedSchedules = (sql: SqlClient.SqlClient) =>
  Effect.orDie(sql<StoredSchedule>`SELECT id, next_ms FROM ray_scheduler_schedules ORDER BY id`).pipe(
    Effect.map((rows) => rows.map((row) => ({ id: row.id, next_ms: Number(row.next_ms) })))
  )

/** The stored schedule of `instance` with its next run at `millis`. */
const scheduleRow = (instance: string, millis: number): StoredSchedule => ({
  id: RunTasks.scheduleIdOf(instance),
  next_ms: millis
})

const schedulerStats = (adapter: Context.Tag.Service<SchedulerAdapter>) =>
  Effect.map(adapter.status, (status) => Option.getOrThrow(status.scheduler))

describe("RunTasks: task ids", () => {
  it("a scheduled run's id is an RFC 4122 version 5 UUID of (job, instant), the same in every process", () => {
    // the RFC's own example: the DNS namespace and www.example.com
    assert.strictEqual(
      RunTasks.nameBasedUuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"),
      "2ed6657d-e927-568b-95e1-2665a8aea6a2"
    )
    const id = RunTasks.scheduledRunId("feed:https://a.example/rss", 10 * MIN)
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.strictEqual(id, RunTasks.scheduledRunId("feed:https://a.example/rss", 10 * MIN))
    assert.notStrictEqual(id, RunTasks.scheduledRunId("feed:https://a.example/rss", 10 * MIN + 1))
    assert.notStrictEqual(id, RunTasks.scheduledRunId("feed:https://b.example/rss", 10 * MIN))
  })

  it("a job's schedule id is its instance id when the library accepts it, else a hash that no instance id can be", () => {
    assert.strictEqual(RunTasks.scheduleIdOf("feed:https://a.example/rss"), "feed:https://a.example/rss")
    const long = `feed:https://a.example/${"x".repeat(200)}`
    const tab = "search:a\tb"
    for (const id of [long, tab]) {
      assert.match(RunTasks.scheduleIdOf(id), /^:job:[0-9a-f]{40}$/)
      assert.strictEqual(RunTasks.scheduleIdOf(id), RunTasks.scheduleIdOf(id), "the same in every process")
      assert.isTrue(
        Option.isNone(Scheduler.validateSchedule({ id: RunTasks.scheduleIdOf(id), source: id, every: "1 hour" }))
      )
    }
    assert.notStrictEqual(RunTasks.scheduleIdOf(long), RunTasks.scheduleIdOf(`${long}y`))
    assert.isTrue(
      Option.isSome(Scheduler.validateSchedule({ id: long, source: long, every: "1 hour" })),
      "too long as is"
    )
    assert.isTrue(RunTasks.isOccurrenceOf("c", "c@2026-01-01T00:00:00.000Z"))
    assert.isTrue(RunTasks.isOccurrenceOf(long, `${RunTasks.scheduleIdOf(long)}@2026-01-01T00:00:00.000Z`))
    assert.isFalse(
      RunTasks.isOccurrenceOf("c", RunTasks.scheduledRunId("c", 0)),
      "a run stored by a version before 0.3"
    )
    assert.isFalse(RunTasks.isOccurrenceOf("c", "c:d@2026-01-01T00:00:00.000Z"))
  })

  it.effect("the consumers' retry schedule: RetryRun after its delay at every failure (stepped or replayed), RunCancelled at once, a timeout never", () =>
    Effect.gen(function*() {
      const retry = CollectorConsumer.retrySchedule as Schedule.Schedule<unknown, never>
      const retryRun = new CollectorConsumer.RetryRun({ instance: "c", error: "429", retryAfter: Duration.minutes(5) })
      let memo: RetryMemo | undefined
      for (let attempt = 1; attempt <= 50; attempt++) {
        const now = attempt * 7 * MIN
        const stepped = yield* nextRetry(retry, retryRun, attempt, now, 7 * MIN, memo)
        const replayed = yield* nextRetry(retry, retryRun, attempt, now, 7 * MIN)
        assert.deepStrictEqual([stepped.due, replayed.due], [now + 5 * MIN, now + 5 * MIN], `attempt ${attempt}`)
        memo = stepped.memo
      }
      const cancelled = new CollectorConsumer.RunCancelled({ instance: "c", reason: "shutting down" })
      assert.strictEqual((yield* nextRetry(retry, cancelled, 1, 1000, 1000)).due, 1000)
      const timeout = new TaskTimeoutError({ taskId: "c@x", source: "c", timeout: Duration.seconds(1) })
      assert.isUndefined((yield* nextRetry(retry, timeout, 1, 1000, 1000)).due, "done: a dead letter")
    }))

  it("a manual run's source is never an instance id (collector names are not empty)", () => {
    assert.strictEqual(RunTasks.manualSource("search:q"), ":manual:search:q")
    assert.deepStrictEqual(RunTasks.instanceOfSource(":manual:search:q"), { instance: "search:q", manual: true })
    assert.deepStrictEqual(RunTasks.instanceOfSource("search:q"), { instance: "search:q", manual: false })
  })
})

/**
 * A database where the job `c` (every 10 minutes) ran at 0, and the service
 * stopped `stopAfter` later; `job()` builds the job again for the next
 * incarnation (its runs are recorded in `runs`).
 */
const ranOnceAndStopped = (stopAfter: Duration.DurationInput) =>
  Effect.gen(function*() {
    const database = yield* sharedDatabase()
    const runs: Array<RunRecord> = []
    const job = () => scriptedCollector({ name: "c", intervalMinutes: 10, runs })
    const first = yield* incarnation(database, [job()])
    yield* settle
    yield* TestClock.adjust(stopAfter)
    yield* first.stop
    return { database, runs, job, sql: first.sql }
  })

describe("The durable RayScheduler adapter", () => {
  it.scoped("a job's schedule is stored; after a restart it keeps its next run and runs once at it", () =>
    Effect.gen(function*() {
      const { database, job, runs, sql } = yield* ranOnceAndStopped("3 minutes")
      assert.deepStrictEqual(minutes(runs), [0])
      assert.deepStrictEqual(yield* storedSchedules(sql), [scheduleRow("c", 10 * MIN)], "the next run, stored")
      assert.deepStrictEqual(yield* storedTasks(sql), [], "an occurrence becomes a task when it is due")

      const second = yield* incarnation(database, [job()])
      yield* settle
      const status = yield* second.adapter.status
      assert.strictEqual(Option.getOrThrow(status.scheduler).pending, 0)
      assert.deepStrictEqual(status.planned.get("c"), DateTime.unsafeMake(10 * MIN), "re-declared: the same next run")
      assert.deepStrictEqual(minutes(runs), [0], "nothing runs at the restart")
      yield* TestClock.adjust("7 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 10], "the stored next run, at its instant")
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 10], "once")
      assert.deepStrictEqual(yield* storedSchedules(second.sql), [scheduleRow("c", 20 * MIN)])
    }))

  it.scoped("restarted again and again before its next run: the schedule keeps it each time; it runs once", () =>
    Effect.gen(function*() {
      const { database, job, runs } = yield* ranOnceAndStopped("1 minute")
      // restarts at 2, 4 and 6 minutes: the run at 10 stays the next one, nothing runs at a restart
      for (const _ of [1, 2, 3]) {
        yield* TestClock.adjust("2 minutes")
        const again = yield* incarnation(database, [job()])
        yield* settle
        assert.deepStrictEqual((yield* again.adapter.status).planned.get("c"), DateTime.unsafeMake(10 * MIN))
        assert.deepStrictEqual(yield* storedSchedules(again.sql), [scheduleRow("c", 10 * MIN)])
        yield* again.stop
      }
      assert.deepStrictEqual(minutes(runs), [0])
      const last = yield* incarnation(database, [job()])
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 10])
      assert.deepStrictEqual(yield* storedSchedules(last.sql), [scheduleRow("c", 20 * MIN)])
    }))

  it.scoped("down while runs were due: one catch-up run at the restart (coalesce), then the stored grid goes on", () =>
    Effect.gen(function*() {
      const { database, job, runs } = yield* ranOnceAndStopped("3 minutes")
      yield* TestClock.setTime(25 * MIN) // the runs at 10 and 20 were missed
      const second = yield* incarnation(database, [job()])
      yield* settle
      assert.deepStrictEqual(minutes(runs), [0, 25], "one run at the restart, not two")
      const [schedule] = (yield* second.adapter.status).schedules.values()
      assert.strictEqual(schedule!.skippedMissed, 1, "two missed, one catch-up")
      assert.strictEqual((yield* schedulerStats(second.adapter)).deadLetters, 0)
      yield* TestClock.adjust("10 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 25, 30], "on the grid of the stored schedule")
    }))

  it.scoped("misfire per collector after 35 minutes down (every 10): coalesce one, skip none, all each (oldest first), grace bounds all", () =>
    Effect.gen(function*() {
      for (
        const [misfire, expected] of [
          [{ policy: "coalesce" }, [0, 35, 40]],
          [{ policy: "skip" }, [0, 40]],
          [{ policy: "all" }, [0, 35, 36, 37, 40]],
          [{ policy: "all", grace: Duration.minutes(10) }, [0, 35, 40]]
        ] as const
      ) {
        const database = yield* sharedDatabase()
        const runs: Array<RunRecord> = []
        // each run takes a minute: `all` runs the missed ones one after the other
        const job = () => scriptedCollector({ name: "c", intervalMinutes: 10, runs, script: () => ({ ms: MIN }) })
        yield* TestClock.setTime(0)
        const first = yield* incarnation(database, [job()], { misfire })
        yield* settle
        yield* TestClock.adjust("2 minutes")
        yield* first.stop
        yield* TestClock.setTime(35 * MIN) // 10, 20 and 30 were missed
        const second = yield* incarnation(database, [job()], { misfire })
        yield* TestClock.adjust("6 minutes")
        assert.deepStrictEqual(minutes(runs), [...expected], JSON.stringify(misfire))
        yield* second.stop
      }
    }))

  it.scoped("a changed interval starts afresh from the last run (the resume rule); the old next run does not run", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const jobs = (shorter: number, longer: number) => [
        scriptedCollector({ name: "shorter", intervalMinutes: shorter, runs }),
        scriptedCollector({ name: "longer", intervalMinutes: longer, runs })
      ]
      const first = yield* incarnation(database, jobs(60, 10))
      yield* settle
      yield* TestClock.adjust("5 minutes")
      yield* first.stop
      assert.deepStrictEqual(yield* storedSchedules(first.sql), [
        scheduleRow("longer", 10 * MIN),
        scheduleRow("shorter", 60 * MIN)
      ])

      const second = yield* incarnation(database, jobs(10, 60))
      yield* settle
      assert.deepStrictEqual(
        (yield* second.adapter.status).planned,
        new Map([["shorter", DateTime.unsafeMake(10 * MIN)], ["longer", DateTime.unsafeMake(60 * MIN)]]),
        "last run + the new interval"
      )
      yield* TestClock.adjust("65 minutes") // to 70
      assert.deepStrictEqual(minutes(runs, "shorter"), [0, 10, 20, 30, 40, 50, 60, 70], "one run at 60, not two")
      assert.deepStrictEqual(minutes(runs, "longer"), [0, 60], "the old next run at 10 did not run")
    }))

  it.scoped("every → cron: the job starts afresh and runs at its cron times only", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const first = yield* incarnation(database, [scriptedCollector({ name: "c", intervalMinutes: 10, runs })])
      yield* settle
      yield* TestClock.adjust("3 minutes")
      yield* first.stop
      const second = yield* incarnation(database, [
        scriptedCollector({ name: "c", intervalMinutes: 10, cron: "45 * * * *", runs })
      ])
      yield* settle
      const info = (yield* second.adapter.status).schedules.get("c")!
      assert.deepStrictEqual([info.cron, info.every, info.nextRun], [
        "45 * * * *",
        undefined,
        DateTime.unsafeMake(45 * MIN)
      ])
      yield* TestClock.adjust("2 hours") // to 2:03
      assert.deepStrictEqual(minutes(runs), [0, 45, 105], "at :45 only; the old next run at 10 did not run")
    }))

  it.scoped("a database of the previous version: its stored run is skipped (logged), the schedule starts from the last run", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase()
        // what the previous version left: the job's last run at 0 and its next run at 10 as a task with a UUID id
        yield* Effect.gen(function*() {
          yield* Effect.orDie((yield* JobStateStore.JobStateStore).recordSuccess("c", DateTime.unsafeMake(0)))
          const registry = yield* ConsumerRegistry.make
          const scheduler = yield* Scheduler.makeSql({ autoStart: false, tablePrefix: "ray_scheduler_" }).pipe(
            Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry)
          )
          yield* scheduler.submit(
            yield* Task.create({
              id: RunTasks.scheduledRunId("c", 10 * MIN),
              source: "c",
              args: { anchor: 10 * MIN },
              scheduleAt: DateTime.unsafeMake(10 * MIN)
            })
          )
        }).pipe(Effect.scoped, Effect.provide(SqlJobStateStore.layer.pipe(Layer.provideMerge(database))))

        yield* TestClock.setTime(3 * MIN)
        const runs: Array<RunRecord> = []
        const service = yield* incarnation(database, [scriptedCollector({ name: "c", intervalMinutes: 10, runs })])
        yield* settle
        assert.deepStrictEqual(yield* storedSchedules(service.sql), [scheduleRow("c", 10 * MIN)], "last run + interval")
        yield* TestClock.adjust("12 minutes")
        assert.deepStrictEqual(minutes(runs), [10], "once at 10: the schedule's occurrence, not the old task")
        assert.isTrue(logs.some((log) =>
          log.message ===
            `c: skipping a run planned for ${iso(10 * MIN)} by an earlier version: the job now runs on its schedule`
        ))
        assert.strictEqual((yield* schedulerStats(service.adapter)).deadLetters, 0)
      })
    ))

  it.scoped("Retry-After: the same occurrence runs again after the clamped delay; a waiting retry survives a restart, once", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      // the first run of all asks to be retried in 5 minutes; every later run succeeds
      const job = () =>
        scriptedCollector({
          name: "c",
          intervalMinutes: 60,
          runs,
          script: () => runs.length === 0 ? { outcome: "retry", retryAfter: Duration.minutes(5) } : {}
        })
      const first = yield* incarnation(database, [job()])
      yield* settle
      const status = yield* first.adapter.status
      assert.deepStrictEqual(status.retries.get("c"), DateTime.unsafeMake(5 * MIN))
      assert.deepStrictEqual(status.planned.get("c"), DateTime.unsafeMake(5 * MIN), "the next run is the retry")
      const [waiting] = yield* storedTasks(first.sql)
      assert.deepStrictEqual(waiting, { id: `c@${iso(0)}`, source: "c", due_ms: 5 * MIN }, "the same occurrence")
      yield* TestClock.adjust("2 minutes")
      yield* first.stop

      const second = yield* incarnation(database, [job()])
      yield* TestClock.adjust("4 minutes") // to 6
      assert.deepStrictEqual(minutes(runs), [0, 5], "the retry at 5, once, in the next process")
      assert.deepStrictEqual(yield* storedTasks(second.sql), [])
      assert.strictEqual((yield* schedulerStats(second.adapter)).deadLetters, 0)
      yield* TestClock.adjust("55 minutes") // to 61
      assert.deepStrictEqual(minutes(runs), [0, 5, 60], "the grid is kept (the retry did not start a new one)")
    }))

  it.scoped("a scheduled run interrupted by the shutdown is kept: it runs once at the next start", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const job = () =>
        scriptedCollector({ name: "c", intervalMinutes: 60, runs, script: (_, n) => ({ ms: n === 0 ? 10 * MIN : 0 }) })
      const first = yield* incarnation(database, [job()], { runner: { shutdownTimeout: "1 minute" } })
      yield* settle
      const stopping = yield* Effect.fork(first.stop)
      yield* TestClock.adjust("2 minutes") // the run is interrupted at the shutdown timeout
      yield* Fiber.join(stopping)
      assert.deepStrictEqual(
        yield* storedTasks(first.sql),
        [{ id: `c@${iso(0)}`, source: "c", due_ms: MIN }],
        "the occurrence, due again, in the store"
      )
      assert.strictEqual(runs[0]!.end, undefined, "it did not finish")

      yield* TestClock.setTime(5 * MIN)
      const second = yield* incarnation(database, [job()])
      yield* settle
      assert.deepStrictEqual(minutes(runs), [0, 5], "once at the start")
      yield* TestClock.adjust("56 minutes") // to 61
      assert.deepStrictEqual(minutes(runs), [0, 5, 60])
      assert.strictEqual((yield* schedulerStats(second.adapter)).deadLetters, 0)
    }))

  it.scoped("a job removed from the configuration: its schedule is removed and its stored runs dropped (logged), not run, not dead letters", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase()
        const runs: Array<RunRecord> = []
        const first = yield* incarnation(database, [
          scriptedCollector({
            name: "c",
            intervalMinutes: 10,
            params: ["kept", "removed"],
            runs,
            script: (param, n) => ({ ms: param === "removed" && n === 0 ? 5 * MIN : 0 })
          })
        ], { runner: { shutdownTimeout: "1 hour" } })
        yield* settle
        const trigger = yield* Effect.fork(first.adapter.trigger("c:removed")) // waits for the running one
        yield* settle
        const stopping = yield* Effect.fork(first.stop)
        yield* TestClock.adjust("5 minutes")
        yield* Fiber.join(stopping)
        assert.strictEqual((yield* Fiber.join(trigger))._tag, "Cancelled", "kept in the store")

        const second = yield* incarnation(database, [
          scriptedCollector({ name: "c", intervalMinutes: 10, params: ["kept"], runs })
        ])
        yield* TestClock.adjust("26 minutes") // to 31
        assert.deepStrictEqual(minutes(runs, "c:removed"), [0])
        assert.deepStrictEqual(minutes(runs, "c:kept"), [0, 10, 20, 30])
        const messages = logs.map((log) => log.message)
        assert.include(messages, "c:removed is no longer configured: its schedule \"c:removed\" is removed")
        assert.include(messages, `c:removed is no longer configured: its stored manual run (due ${iso(0)}) is dropped`)
        assert.strictEqual((yield* schedulerStats(second.adapter)).deadLetters, 0)
        assert.strictEqual((yield* second.adapter.status).registeredJobs, 1)
        assert.deepStrictEqual(yield* storedSchedules(second.sql), [scheduleRow("c:kept", 40 * MIN)])
        assert.deepStrictEqual(yield* storedTasks(second.sql), [])
      })
    ))

  it.scoped("a manual trigger is stored: one the shutdown cancelled is kept, and runs after the restart, once", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const busy = () =>
        scriptedCollector({
          name: "busy",
          intervalMinutes: 60,
          runs,
          script: (): Step => ({ ms: runs.length === 0 ? 10 * MIN : 0 }) // the first run of all is long
        })
      const first = yield* incarnation(database, [busy()], { runner: { shutdownTimeout: "1 hour" } })
      yield* settle
      assert.strictEqual(runs.length, 1, "the scheduled run is going")
      const trigger = yield* Effect.fork(first.adapter.trigger("busy"))
      yield* settle
      const [info] = yield* first.runner.listInstances
      assert.isTrue(info!.manualRunQueued, "the manual run waits for the scheduled one")
      assert.deepStrictEqual(
        (yield* storedTasks(first.sql)).map((t) => t.source),
        [":manual:busy", "busy"],
        "the trigger, and the scheduled run (running: it stays until it ends)"
      )

      const stopping = yield* Effect.fork(first.stop)
      yield* TestClock.adjust("10 minutes") // the scheduled run ends; the waiting manual run is dropped
      yield* Fiber.join(stopping)
      const outcome = yield* Fiber.join(trigger)
      assert.strictEqual(outcome._tag, "Cancelled")
      assert.match(
        outcome._tag === "Cancelled" ? outcome.reason : "",
        /the trigger is kept and runs when the service starts again/
      )
      assert.strictEqual(runs.length, 1, "the manual run did not run")
      assert.deepStrictEqual((yield* storedTasks(first.sql)).map((t) => t.source), [":manual:busy"])

      yield* TestClock.setTime(20 * MIN)
      const second = yield* incarnation(database, [busy()])
      yield* settle
      assert.deepStrictEqual(minutes(runs), [0, 20], "the kept manual run, at once")
      assert.deepStrictEqual(yield* storedTasks(second.sql), [])
      assert.deepStrictEqual(yield* storedSchedules(second.sql), [scheduleRow("busy", 60 * MIN)])
      yield* TestClock.adjust("40 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 20, 60])
    }))

  it.scoped("a trigger before the adapter starts is stored and runs once it starts; an unknown id stores nothing", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const service = yield* incarnation(
        database,
        [scriptedCollector({ name: "c", intervalMinutes: 10, runs, script: () => ({ events: 2 }) })],
        { notStarted: true }
      )
      const trigger = yield* Effect.fork(service.adapter.trigger("c"))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(runs, [], "not started: nothing runs")
      assert.deepStrictEqual((yield* storedTasks(service.sql)).map((t) => t.source), [":manual:c"])
      const unknown = yield* Effect.either(service.adapter.trigger("nope"))
      assert.strictEqual(Either.isLeft(unknown) ? unknown.left._tag : "", "UnknownInstanceError")
      assert.strictEqual((yield* storedTasks(service.sql)).length, 1)

      yield* service.adapter.start
      const outcome = yield* Fiber.join(trigger)
      assert.strictEqual(outcome._tag, "Succeeded")
      assert.deepStrictEqual(outcome._tag === "Succeeded" ? outcome.result.stored : -1, 2)
      yield* settle
      assert.strictEqual(runs.length, 2, "the manual run and the scheduled first run")
      assert.deepStrictEqual(yield* storedSchedules(service.sql), [scheduleRow("c", 11 * MIN)])
    }))

  it.scoped("the store lives in the service's database next to the app's tables; one scheduler per store", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const first = yield* incarnation(database, [scriptedCollector({ name: "c", intervalMinutes: 10, runs: [] })])
      const tables = yield* Effect.orDie(
        first.sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
      )
      const names = tables.map((t) => t.name)
      for (
        const table of [
          "ray_scheduler_tasks",
          "ray_scheduler_dead_letters",
          "ray_scheduler_lease",
          "ray_scheduler_schema",
          "ray_scheduler_schedules"
        ]
      ) {
        assert.include(names, table)
      }
      assert.includeMembers(names, ["items", "job_state", Database.migrationsTable])
      const migrations = yield* Effect.orDie(
        first.sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${first.sql(Database.migrationsTable)}`
      )
      assert.strictEqual(Number(migrations[0]!.n), 5, "the app's own migrations, unchanged")

      const second = yield* Effect.either(
        incarnation(database, [scriptedCollector({ name: "c", intervalMinutes: 10, runs: [] })])
      )
      assert.isTrue(Either.isLeft(second))
      assert.match(Either.isLeft(second) ? second.left.message : "", /ray_scheduler_tasks is in use by process/)
    }))

  it.scoped("opening the store waits for a locked database up to busyTimeout, then fails with a StorageError", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
      const database = yield* sharedDatabase(Layer.orDie(Database.layer({ filename, busyTimeout: "1 second" })))
      const runs: Array<RunRecord> = []
      const job = () => scriptedCollector({ name: "c", intervalMinutes: 10, runs })
      const other = lockingConnection(filename)
      other.exec("BEGIN IMMEDIATE")
      const failing = yield* Effect.fork(Effect.either(incarnation(database, [job()])))
      yield* TestClock.adjust("2 seconds")
      const failed = yield* Fiber.join(failing)
      assert.match(
        Either.isLeft(failed) ? failed.left.message : "",
        /^opening the scheduler's store failed: database is locked.*; still locked after 1s$/
      )

      const opening = yield* Effect.fork(incarnation(database, [job()]))
      yield* TestClock.adjust("500 millis")
      assert.isNull(opening.unsafePoll(), "it waits")
      other.exec("ROLLBACK")
      other.close()
      yield* TestClock.adjust("500 millis")
      const service = yield* Fiber.join(opening)
      yield* settle
      assert.strictEqual(runs.length, 1, "opened and started once the lock is gone")
      const start = runs[0]!.start
      assert.isTrue(start >= 2_500 && start <= 3_000, `at the next attempt after 2.5 s (${start} ms)`)
      assert.deepStrictEqual(yield* storedSchedules(service.sql), [scheduleRow("c", start + 10 * MIN)])
    }))

  it.scoped("the store locked beyond busyTimeout at start: declaring fails, is logged, and is made again after the retry floor", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const filename = yield* tempDbFile
        const database = yield* sharedDatabase(Layer.orDie(Database.layer({ filename, busyTimeout: "1 second" })))
        const runs: Array<RunRecord> = []
        const job = () => scriptedCollector({ name: "job", intervalMinutes: 60, runs })
        const options = { store: JobStateStore.layerMemory() }
        const first = yield* incarnation(database, [job()], options)
        yield* settle
        yield* TestClock.adjust("1 minute")
        yield* first.stop

        const second = yield* incarnation(database, [job()], { ...options, notStarted: true })
        const other = lockingConnection(filename)
        other.exec("BEGIN IMMEDIATE")
        // the stored schedule is declared again before the scheduler starts (then it waits for the lock)
        // (`start` runs in this fiber: the busy timeout is the default, 10 seconds)
        const starting = yield* Effect.fork(second.adapter.start)
        for (let i = 0; i < 12; i++) yield* TestClock.adjust("1 second")
        assert.isTrue(
          logs.some((log) => log.message === "job: declaring its schedule failed; trying again in 30s"),
          "the failure is logged"
        )
        other.exec("ROLLBACK")
        other.close()
        yield* TestClock.adjust("30 seconds")
        yield* Fiber.join(starting)
        assert.strictEqual(
          logs.filter((log) => log.message.startsWith("Scheduler: schedule \"job\" re-declared")).length,
          1,
          "declared again once free"
        )
        yield* TestClock.setTime(61 * MIN)
        assert.deepStrictEqual(minutes(runs), [0, 60])
        assert.deepStrictEqual(yield* storedSchedules(second.sql), [scheduleRow("job", 120 * MIN)])
      })
    ))

  it.scoped("the store locked when a run is due: firing is retried every second; the run happens once, when it is free", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const filename = yield* tempDbFile
        const database = yield* sharedDatabase(Layer.orDie(Database.layer({ filename, busyTimeout: "1 second" })))
        const runs: Array<RunRecord> = []
        const service = yield* incarnation(
          database,
          [scriptedCollector({ name: "job", intervalMinutes: 60, runs })],
          { store: JobStateStore.layerMemory() }
        )
        yield* settle
        yield* TestClock.adjust("59 minutes")
        const other = lockingConnection(filename)
        other.exec("BEGIN IMMEDIATE")
        for (let i = 0; i < 65; i++) yield* TestClock.adjust("1 second") // to 60:05
        assert.isTrue(
          logs.some((log) => log.message === "Scheduler: submitting schedule occurrences failed (retrying in 1 second)")
        )
        assert.deepStrictEqual(minutes(runs), [0], "not while the store is locked")
        other.exec("ROLLBACK")
        other.close()
        for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
        assert.strictEqual(runs.length, 2, "once free: the run at 60, once")
        assert.isTrue(runs[1]!.start > 60 * MIN && runs[1]!.start <= 60 * MIN + 10_000, `${runs[1]!.start}`)
        yield* TestClock.adjust("60 minutes")
        assert.deepStrictEqual(minutes(runs).slice(2), [120], "the grid goes on")
        assert.deepStrictEqual(yield* storedSchedules(service.sql), [scheduleRow("job", 180 * MIN)])
      })
    ))
})
