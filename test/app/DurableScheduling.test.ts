/**
 * The durable RayScheduler adapter (what the service runs) across restarts,
 * under the TestClock: successive "incarnations" of the service's
 * scheduling (a runner and the adapter) on one SQLite database, the app's,
 * where the store keeps its `ray_scheduler_*` tables next to the app's
 * (docs/architecture.md, "Durable scheduling").
 *
 * - a job's next run is a stored task whose id is derived from (job,
 *   instant): after a restart the resume rule plans it again, which is a
 *   duplicate, and it runs once at its instant;
 * - a stored run that the resume rule replaces (overdue, a changed
 *   interval) is skipped, never run beside the new one;
 * - a job removed from the configuration: its stored run is dropped;
 * - manual triggers are stored: one the shutdown cancelled runs after the
 *   restart; one made before the adapter starts runs once it starts;
 * - the store's lease, and planning while the database stays locked.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Effect, Either, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import type { Collector } from "../../src/app/collectors/Collector.js"
import * as Pipeline from "../../src/app/pipeline/Pipeline.js"
import * as CollectorRunner from "../../src/app/scheduling/CollectorRunner.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import * as RunTasks from "../../src/app/scheduling/RunTasks.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as Database from "../../src/app/storage/Database.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import * as Leases from "../../src/app/storage/Leases.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"
import type { StorageError } from "../../src/app/storage/StorageError.js"
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
        Layer.succeed(CollectorRunner.Collectors, collectors.map((collector) => ({ collector, concurrency: 1 })))
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

/** The stored run of `instance` planned at `millis`, as the adapter writes it. */
const scheduledRow = (instance: string, millis: number): StoredTask => ({
  id: RunTasks.scheduledRunId(instance, millis),
  source: instance,
  due_ms: millis
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

  it("a manual run's source is never an instance id (collector names are not empty)", () => {
    assert.strictEqual(RunTasks.manualSource("search:q"), ":manual:search:q")
    assert.deepStrictEqual(RunTasks.instanceOfSource(":manual:search:q"), { instance: "search:q", manual: true })
    assert.deepStrictEqual(RunTasks.instanceOfSource("search:q"), { instance: "search:q", manual: false })
  })
})

describe("The durable RayScheduler adapter", () => {
  it.scoped("a job's next run is stored; after a restart it runs at its instant, once (planning it again is a duplicate)", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const job = () => scriptedCollector({ name: "c", intervalMinutes: 10, runs })
      const first = yield* incarnation(database, [job()])
      yield* settle
      assert.deepStrictEqual(minutes(runs), [0])
      assert.deepStrictEqual(yield* storedTasks(first.sql), [scheduledRow("c", 10 * MIN)], "the next run, stored")
      yield* TestClock.adjust("3 minutes")
      yield* first.stop
      assert.deepStrictEqual(yield* storedTasks(first.sql), [scheduledRow("c", 10 * MIN)], "still there once stopped")

      const second = yield* incarnation(database, [job()])
      yield* settle
      const status = yield* second.adapter.status
      const stats = Option.getOrThrow(status.scheduler)
      assert.strictEqual(stats.duplicates, 1, "the resume rule planned the stored run again: a duplicate")
      assert.strictEqual(stats.pending, 1)
      assert.deepStrictEqual(status.planned.get("c"), DateTime.unsafeMake(10 * MIN))
      assert.deepStrictEqual(minutes(runs), [0], "nothing runs at the restart")
      yield* TestClock.adjust("7 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 10], "the stored run, at its instant")
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 10], "once")
      assert.deepStrictEqual(yield* storedTasks(second.sql), [scheduledRow("c", 20 * MIN)])
    }))

  it.scoped("restarted again and again before its next run: it is planned again each time (a duplicate), runs once", () =>
    Effect.gen(function*() {
      const database = yield* sharedDatabase()
      const runs: Array<RunRecord> = []
      const job = () => scriptedCollector({ name: "c", intervalMinutes: 10, runs })
      const first = yield* incarnation(database, [job()])
      yield* settle
      yield* TestClock.adjust("1 minute")
      yield* first.stop
      // restarts at 2, 4 and 6 minutes: the run at 10 is planned again each time, never added
      for (const _ of [1, 2, 3]) {
        yield* TestClock.adjust("2 minutes")
        const again = yield* incarnation(database, [job()])
        yield* settle
        assert.strictEqual((yield* schedulerStats(again.adapter)).duplicates, 1)
        assert.deepStrictEqual(yield* storedTasks(again.sql), [scheduledRow("c", 10 * MIN)])
        yield* again.stop
      }
      const last = yield* incarnation(database, [job()])
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(minutes(runs), [0, 10])
      assert.deepStrictEqual(yield* storedTasks(last.sql), [scheduledRow("c", 20 * MIN)])
    }))

  it.scoped("an overdue job runs once at the restart: the stored run the resume rule replaced is skipped, logged", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase()
        const runs: Array<RunRecord> = []
        const job = () => scriptedCollector({ name: "c", intervalMinutes: 10, runs })
        const first = yield* incarnation(database, [job()])
        yield* settle
        yield* TestClock.adjust("3 minutes")
        yield* first.stop

        yield* TestClock.setTime(25 * MIN) // the stored run (10) is overdue: the resume rule says now
        const second = yield* incarnation(database, [job()])
        yield* settle
        assert.deepStrictEqual(minutes(runs), [0, 25], "one run at the restart, not two")
        assert.isTrue(
          logs.some((log) =>
            log.message === `c: skipping a run planned for ${iso(10 * MIN)} by an earlier process: ` +
                "its next run was planned again at start"
          )
        )
        assert.deepStrictEqual(yield* storedTasks(second.sql), [scheduledRow("c", 35 * MIN)])
        assert.strictEqual((yield* schedulerStats(second.adapter)).deadLetters, 0)
        yield* TestClock.adjust("10 minutes")
        assert.deepStrictEqual(minutes(runs), [0, 25, 35])
      })
    ))

  it.scoped("a changed interval: the first run after the restart follows the resume rule; the stored one is skipped", () =>
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
      assert.deepStrictEqual(yield* storedTasks(first.sql), [
        scheduledRow("longer", 10 * MIN),
        scheduledRow("shorter", 60 * MIN)
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
      assert.deepStrictEqual(minutes(runs, "longer"), [0, 60], "the stored run at 10 did not run")
    }))

  it.scoped("a job removed from the configuration: its stored run is dropped (logged), not run, not a dead letter", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase()
        const runs: Array<RunRecord> = []
        const first = yield* incarnation(database, [
          scriptedCollector({ name: "c", intervalMinutes: 10, params: ["kept", "removed"], runs })
        ])
        yield* settle
        yield* TestClock.adjust("1 minute")
        yield* first.stop

        const second = yield* incarnation(database, [
          scriptedCollector({ name: "c", intervalMinutes: 10, params: ["kept"], runs })
        ])
        yield* TestClock.adjust("30 minutes")
        assert.deepStrictEqual(minutes(runs, "c:removed"), [0])
        assert.deepStrictEqual(minutes(runs, "c:kept"), [0, 10, 20, 30])
        assert.isTrue(
          logs.some((log) =>
            log.message ===
              `c:removed is no longer configured: its stored scheduled run (due ${iso(10 * MIN)}) is dropped`
          )
        )
        const stats = yield* schedulerStats(second.adapter)
        assert.strictEqual(stats.deadLetters, 0)
        assert.strictEqual((yield* second.adapter.status).registeredJobs, 1)
        assert.deepStrictEqual(yield* storedTasks(second.sql), [scheduledRow("c:kept", 40 * MIN)])
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
      assert.deepStrictEqual((yield* storedTasks(first.sql)).map((t) => t.source), [":manual:busy", "busy"])

      yield* TestClock.setTime(20 * MIN)
      const second = yield* incarnation(database, [busy()])
      yield* settle
      assert.deepStrictEqual(minutes(runs), [0, 20], "the kept manual run, at once")
      assert.deepStrictEqual(yield* storedTasks(second.sql), [scheduledRow("busy", 60 * MIN)])
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
      assert.deepStrictEqual(yield* storedTasks(service.sql), [scheduledRow("c", 11 * MIN)])
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
          "ray_scheduler_schema"
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
      assert.deepStrictEqual(yield* storedTasks(service.sql), [scheduledRow("c", start + 10 * MIN)])
    }))

  it.scoped("the store stays locked beyond busyTimeout: planning fails, is logged, and succeeds after the retry floor", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const filename = yield* tempDbFile
        const database = yield* sharedDatabase(Layer.orDie(Database.layer({ filename, busyTimeout: "1 second" })))
        const runs: Array<RunRecord> = []
        const service = yield* incarnation(
          database,
          [scriptedCollector({
            name: "job",
            intervalMinutes: 60,
            runs,
            script: (_, n) => ({ ms: n === 0 ? 1000 : 0 })
          })],
          { store: JobStateStore.layerMemory() }
        )
        yield* TestClock.adjust("500 millis")
        const other = lockingConnection(filename)
        other.exec("BEGIN IMMEDIATE")
        for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
        assert.isTrue(
          logs.some((log) => log.message === "job: planning its next run failed; trying again in 30s"),
          "the failure is logged"
        )
        const status = yield* service.adapter.status
        assert.deepStrictEqual(status.planned.get("job"), DateTime.unsafeMake(60 * MIN), "the run is still planned")
        other.exec("ROLLBACK")
        other.close()
        yield* TestClock.adjust("30 seconds")
        assert.deepStrictEqual(yield* storedTasks(service.sql), [scheduledRow("job", 60 * MIN)], "stored once free")
        yield* TestClock.adjust("60 minutes")
        assert.deepStrictEqual(minutes(runs), [0, 60])
      })
    ))
})
