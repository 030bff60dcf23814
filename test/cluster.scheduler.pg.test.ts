/**
 * LIVE (real time, the local PostgreSQL): `ClusterScheduler` on one runner
 * in this process (and a client-only instance): tasks are delivered not
 * before their instant and at it (the due timer, not the 10 s poll), a task
 * id submitted twice runs once, a source never runs more tasks at once than
 * its consumer's concurrency, retries, dead letters and replay, cancel,
 * reschedule, pause and resume. Skipped with a reason when PostgreSQL is
 * absent; a failure under `CI=true` (test/services/postgres.ts).
 */
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Deferred, type Duration, Effect, Exit, Layer, Option, Schedule } from "effect"
import * as ClusterScheduler from "../src/scheduler/ClusterScheduler.js"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import type * as Source from "../src/scheduler/internal/cluster/source.js"
import { Scheduler, type TaskInfo } from "../src/scheduler/Scheduler.js"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { dropTablesAtEnd, freshPrefix, runnerLayer } from "./clusterSupport.js"
import { freePort } from "./e2e/support.js"
import { checkPostgres, pgLayer } from "./services/postgres.js"

const available = await checkPostgres()

/** The most intervals [start, end) that overlap at one instant. */
const maxOverlap = (runs: ReadonlyArray<Source.RunReport>): number => {
  const edges = runs.flatMap((r) => [[r.startedMillis, 1], [r.endedMillis, -1]] as const)
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]) // an end before a start at the same instant
  let open = 0
  let most = 0
  for (const [, d] of edges) most = Math.max(most, open += d)
  return most
}

/**
 * A runner in this process on the local PostgreSQL (tables dropped when the
 * scope closes) with `consumers`, reporting each run to `reports`; the
 * cluster's default poll (10 s) unless `pollMillis`.
 */
const runner = (
  consumers: Layer.Layer<never, unknown, ConsumerRegistry.ConsumerRegistry>,
  reports: Array<Source.RunReport>,
  options: { readonly noConsumerGrace?: Duration.DurationInput; readonly prefix?: string } = {}
) =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? freshPrefix("t")
    if (options.prefix === undefined) yield* dropTablesAtEnd(prefix)
    return runnerLayer({
      prefix,
      port: yield* Effect.promise(freePort),
      noConsumerGrace: options.noConsumerGrace,
      runnerName: "r1",
      onRun: (report) => Effect.sync(() => void reports.push(report))
    }).pipe(
      Layer.provideMerge(consumers),
      Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
    )
  })

/** Waits (real time, at most 30 s) until `reports` has `count` runs. */
const waitForRuns = (reports: ReadonlyArray<Source.RunReport>, count: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 30_000
    while (reports.length < count && Date.now() < deadline) yield* Effect.sleep("20 millis")
  })

const lateOf = (r: Source.RunReport) => r.startedMillis - DateTime.toEpochMillis(r.task.scheduleAt)

describe.skipIf(!available)("LIVE: ClusterScheduler on PostgreSQL (one runner)", () => {
  it.live(
    "tasks run once each, not before their instant, within their source's limit; stats",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const attempts: Array<number> = []
        const consumer = (name: string, concurrency: number) =>
          TaskConsumer.layer({
            name,
            concurrency,
            consume: () =>
              Effect.zipRight(
                Effect.map(TaskRun.currentOption, (run) => void attempts.push(Option.getOrThrow(run).attempt)),
                Effect.sleep("150 millis")
              )
          })
        const Runner = yield* runner(Layer.mergeAll(consumer("one", 1), consumer("two", 2)), reports)
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const now = yield* DateTime.now
          const tasks: Array<Task> = []
          for (let i = 0; i < 12; i++) {
            tasks.push(
              yield* Task.create({
                source: i % 2 === 0 ? "one" : "two",
                args: { i },
                scheduleAt: DateTime.add(now, { millis: 1000 + 50 * i })
              })
            )
          }
          yield* scheduler.submitAll(tasks.slice(0, 6))
          yield* Effect.forEach(tasks.slice(6), (task) => scheduler.submit(task))
          yield* scheduler.submitAll(tasks.slice(0, 3)) // three submitted twice: pending, so not added
          const before = yield* scheduler.stats
          assert.strictEqual(before.submitted, 12)
          assert.strictEqual(before.duplicates, 3)
          assert.strictEqual(before.pending, 12, "pending across the cluster (its table)")
          assert.strictEqual(yield* scheduler.pending, 12)
          assert.deepStrictEqual(yield* scheduler.nextAt, Option.some(tasks[0]!.scheduleAt))
          yield* waitForRuns(reports, tasks.length)
          yield* Effect.sleep("500 millis") // a duplicate run would show now
          assert.strictEqual(reports.length, tasks.length, "each task ran, once")
          assert.deepStrictEqual(new Set(reports.map((r) => r.task.id)).size, tasks.length)
          for (const report of reports) {
            assert.strictEqual(report.result, "succeeded")
            assert.isAtLeast(lateOf(report), 0, "never early")
          }
          assert.deepStrictEqual(attempts, tasks.map(() => 1), "TaskRun: the first run of each")
          const one = reports.filter((r) => r.task.source === "one")
          const two = reports.filter((r) => r.task.source === "two")
          assert.strictEqual(maxOverlap(one), 1, "source one: one at a time")
          assert.strictEqual(maxOverlap(two), 2, "source two: two at a time, and it used them")
          const after = yield* scheduler.stats
          assert.strictEqual(after.pending, 0)
          assert.strictEqual(after.inFlight, 0)
          assert.strictEqual(after.started, 12)
          assert.strictEqual(after.succeeded, 12)
          assert.strictEqual(after.bySource["one"]?.succeeded, 6)
          assert.strictEqual(after.lateness.count, 12)
          assert.deepStrictEqual(yield* scheduler.nextAt, Option.none())
          // a task id that has run may be submitted again: it runs again
          yield* scheduler.submit(new Task({ ...tasks[0]!, scheduleAt: yield* DateTime.now }))
          yield* waitForRuns(reports, tasks.length + 1)
          assert.strictEqual(reports.at(-1)?.task.id, tasks[0]!.id)
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a task is read at its instant (the due timer), not at the next poll (10 s)",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const Runner = yield* runner(
          TaskConsumer.layer({ name: "s", concurrency: 10, consume: () => Effect.void }),
          reports
        )
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          yield* Effect.sleep("1 second") // the runner holds its shards
          const now = yield* DateTime.now
          const tasks = yield* Effect.forEach(
            [1000, 1500, 2000, 2500, 3000],
            (millis) => Task.create({ source: "s", scheduleAt: DateTime.add(now, { millis }) })
          )
          // submitted in reverse order: each later submit arms an earlier wake-up
          for (const task of [...tasks].reverse()) yield* scheduler.submit(task)
          yield* waitForRuns(reports, tasks.length)
          assert.strictEqual(reports.length, tasks.length)
          const lateness = reports.map(lateOf).sort((a, b) => a - b)
          console.log(`cluster due timer, poll 10 s: lateness ${lateness.join(", ")} ms`)
          for (const late of lateness) {
            assert.isAtLeast(late, 0, "never early")
            // without the timer every one of them waits for the poll 10 s after the runner started: 6 s late or more
            assert.isBelow(late, 5000, "read at its instant, not at the next poll")
          }
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "retries as new messages, then a dead letter; a defect is not retried; replay runs it again; purge",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const attempts = new Map<string, Array<number>>()
        let healed = false
        const flaky = TaskConsumer.layer({
          name: "flaky",
          concurrency: 4,
          retry: Schedule.spaced("300 millis").pipe(Schedule.compose(Schedule.recurs(2))),
          consume: (task) =>
            Effect.gen(function*() {
              const run = Option.getOrThrow(yield* TaskRun.currentOption)
              attempts.set(task.id, [...(attempts.get(task.id) ?? []), run.attempt])
              if (task.args.kind === "defect") return yield* Effect.dieMessage("boom")
              if (task.args.kind === "recovers" && run.attempt === 2) return
              if (healed) return
              return yield* Effect.fail(new Error("not yet"))
            })
        })
        const Runner = yield* runner(flaky, reports)
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const now = yield* DateTime.now
          const tasks = yield* Effect.forEach(["always", "recovers", "defect"], (kind) =>
            Task.create({ id: kind, source: "flaky", args: { kind }, scheduleAt: DateTime.add(now, { millis: 500 }) }))
          yield* scheduler.submitAll(tasks)
          yield* waitForRuns(reports, 6)
          yield* Effect.sleep("1 second") // nothing more runs
          const of = (id: string) =>
            reports.filter((r) =>
              r.task.id === id
            ).map((r) => [r.attempt, r.result])
          assert.deepStrictEqual(of("always"), [[1, "retried"], [2, "retried"], [3, "failed"]])
          assert.deepStrictEqual(of("recovers"), [[1, "retried"], [2, "succeeded"]])
          assert.deepStrictEqual(of("defect"), [[1, "failed"]], "a defect: not retried")
          assert.deepStrictEqual(attempts.get("always"), [1, 2, 3], "TaskRun.attempt")
          const starts = reports.filter((r) => r.task.id === "always").map((r) => r.startedMillis)
          for (let i = 1; i < starts.length; i++) {
            const gap = starts[i]! - starts[i - 1]!
            assert.isAtLeast(gap, 300, "the schedule's delay after the failure (the run itself takes no time)")
            assert.isBelow(gap, 5000, "and at its instant (the due timer), not at the next poll")
          }
          const dead = yield* scheduler.deadLetters
          assert.deepStrictEqual(
            dead.map((d) => [d.task.id, d.reason, d.error, d.attempts]).sort(),
            [["always", "Failed", "not yet", 3], ["defect", "Died", "boom", 1]]
          )
          const stats = yield* scheduler.stats
          assert.strictEqual(stats.deadLetters, 2)
          assert.strictEqual(stats.retried, 3)
          assert.strictEqual(stats.failed, 5, "each failed run (retried ones too)")
          assert.strictEqual(stats.succeeded, 1)
          healed = true
          assert.isTrue(yield* scheduler.replay("always"))
          assert.isFalse(yield* scheduler.replay("always"), "no longer a dead letter")
          assert.isFalse(yield* scheduler.replay("nothing"))
          yield* waitForRuns(reports, 7)
          assert.deepStrictEqual(
            reports.at(-1) && [reports.at(-1)!.task.id, reports.at(-1)!.attempt, reports.at(-1)!.result],
            [
              "always",
              1,
              "succeeded"
            ]
          )
          assert.strictEqual(yield* scheduler.purgeDeadLetters("1 hour"), 0, "none that old")
          assert.strictEqual(yield* scheduler.purgeDeadLetters(), 1)
          assert.deepStrictEqual(yield* scheduler.deadLetters, [])
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("cancel (pending and running), reschedule, pause and resume", () =>
    Effect.gen(function*() {
      const reports: Array<Source.RunReport> = []
      const started = yield* Deferred.make<void>()
      const slow = TaskConsumer.layer({
        name: "slow",
        concurrency: 2,
        consume: (task) =>
          task.args.block === true ? Effect.zipRight(Deferred.succeed(started, void 0), Effect.never) : Effect.void
      })
      const Runner = yield* runner(slow, reports)
      yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const now = yield* DateTime.now
        const at = (millis: number) => DateTime.add(now, { millis })
        yield* scheduler.submitAll([
          new Task({ id: "blocked", source: "slow", args: { block: true }, scheduleAt: at(300) }),
          new Task({ id: "far", source: "slow", args: {}, scheduleAt: at(60_000) }),
          new Task({ id: "moved", source: "slow", args: {}, scheduleAt: at(60_000) }),
          new Task({ id: "gone", source: "slow", args: {}, scheduleAt: at(60_000) })
        ])
        yield* Deferred.await(started)
        assert.isTrue(yield* scheduler.cancel("gone"), "a pending task")
        assert.isFalse(yield* scheduler.cancel("gone"))
        assert.isTrue(yield* scheduler.cancel("blocked"), "a running task: interrupted")
        assert.isFalse(yield* scheduler.reschedule("nothing", now))
        assert.isTrue(yield* scheduler.reschedule("moved", at(1500)))
        yield* waitForRuns(reports, 2)
        assert.deepStrictEqual(reports.map((r) => [r.task.id, r.result]), [["blocked", "cancelled"], [
          "moved",
          "succeeded"
        ]])
        assert.isAtLeast(lateOf(reports[1]!), 0)
        assert.isBelow(lateOf(reports[1]!), 5000, "at its new instant")
        // pause: due tasks wait; resume: they run
        yield* scheduler.pause("slow")
        assert.deepStrictEqual(yield* scheduler.paused, new Set(["slow"]))
        yield* scheduler.submit(
          new Task({ id: "while-paused", source: "slow", args: {}, scheduleAt: yield* DateTime.now })
        )
        yield* Effect.sleep("1500 millis")
        assert.strictEqual(reports.length, 2, "nothing runs while paused")
        assert.strictEqual(yield* scheduler.pending, 2, "far and while-paused")
        yield* scheduler.resume("slow")
        yield* waitForRuns(reports, 3)
        assert.deepStrictEqual(reports.at(-1)?.task.id, "while-paused")
        assert.deepStrictEqual(yield* scheduler.paused, new Set())
        const stats = yield* scheduler.stats
        assert.strictEqual(stats.cancelled, 2)
        assert.strictEqual(stats.pending, 1, "far")
      }).pipe(Effect.provide(Runner), Effect.scoped)
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "a task whose source has no consumer becomes a dead letter after the grace period; a client-only instance submits",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const prefix = freshPrefix("t")
        yield* dropTablesAtEnd(prefix)
        const Runner = yield* runner(
          TaskConsumer.layer({ name: "known", concurrency: 1, consume: () => Effect.void }),
          reports,
          {
            noConsumerGrace: "500 millis",
            prefix
          }
        )
        const Client = runnerLayer({ prefix }).pipe(Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer))
        yield* Effect.gen(function*() {
          yield* Effect.sleep("1 second") // the runner holds its shards
          yield* Effect.gen(function*() {
            const client = yield* Scheduler
            const now = yield* DateTime.now
            yield* client.submitAll([
              new Task({ id: "lost", source: "unknown", args: {}, scheduleAt: now }),
              new Task({ id: "found", source: "known", args: {}, scheduleAt: now })
            ])
          }).pipe(Effect.provide(Client), Effect.scoped)
          const scheduler = yield* Scheduler
          yield* waitForRuns(reports, 1)
          assert.deepStrictEqual(reports.map((r) => [r.task.id, r.result]), [["found", "succeeded"]])
          // the client closed right after its submit: its wake still reached the runner (not its 10 s poll)
          assert.isBelow(lateOf(reports[0]!), 5000)
          const deadline = Date.now() + 30_000
          while ((yield* scheduler.deadLetters).length === 0 && Date.now() < deadline) yield* Effect.sleep("50 millis")
          const dead = yield* scheduler.deadLetters
          assert.deepStrictEqual(dead.map((d) => [d.task.id, d.reason, d.attempts]), [["lost", "NoConsumer", 0]])
          assert.strictEqual((yield* scheduler.stats).dropped, 1)
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "schedules: occurrences become tasks once, at their instants; re-declare, list, unschedule, bad input",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const Runner = yield* runner(
          TaskConsumer.layer({ name: "tick", concurrency: 1, consume: () => Effect.void }),
          reports
        )
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const bad = yield* Effect.flip(
            scheduler.schedule({ id: "bad", source: "tick", every: "1 second", cron: "* * * * *" })
          )
          assert.strictEqual(bad._tag, "InvalidScheduleError")
          assert.include(bad.message, "exactly one of cron and every")
          const startAt = DateTime.add(yield* DateTime.now, { millis: 1000 })
          yield* scheduler.schedule({ id: "every", source: "tick", every: "500 millis", startAt, args: { n: 1 } })
          yield* waitForRuns(reports, 4)
          yield* scheduler.schedule({ id: "every", source: "tick", every: "500 millis" }) // the same timing: kept
          const [info] = yield* scheduler.schedules
          assert.strictEqual(info?.id, "every")
          assert.strictEqual(info?.source, "tick")
          assert.deepStrictEqual(info?.args, {}, "the re-declaration's args")
          assert.isAtLeast(info!.runs, 4)
          assert.isTrue(yield* scheduler.unschedule("every"))
          assert.isFalse(yield* scheduler.unschedule("every"))
          assert.deepStrictEqual(yield* scheduler.schedules, [])
          const ran = reports.length
          yield* Effect.sleep("1500 millis")
          assert.strictEqual(reports.length, ran, "nothing fires after unschedule")
          const start = DateTime.toEpochMillis(startAt)
          reports.forEach((r, i) => {
            assert.strictEqual(
              r.task.id,
              `every@${new Date(start + 500 * i).toISOString()}`,
              "each occurrence, in order"
            )
            assert.strictEqual(r.result, "succeeded")
            assert.isAtLeast(lateOf(r), 0)
            assert.isBelow(lateOf(r), 400, "at its instant (before the next one)")
          })
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "runners that start together create the tables once (PostgreSQL's IF NOT EXISTS is not safe against a concurrent creation)",
    () =>
      Effect.gen(function*() {
        for (let round = 0; round < 5; round++) {
          const prefix = freshPrefix("c")
          yield* dropTablesAtEnd(prefix)
          const storage = ClusterScheduler.layerStorage({ prefix }).pipe(
            Layer.provide(ShardingConfig.layer({ shardLockDisableAdvisory: true })),
            Layer.provide(pgLayer())
          )
          const exits = yield* Effect.all(
            Array.from({ length: 6 }, () => Effect.exit(Effect.scoped(Layer.build(storage)))),
            { concurrency: "unbounded" }
          )
          for (const exit of exits) assert.isTrue(Exit.isSuccess(exit), String(exit))
        }
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "processed task messages (and their replies) are pruned; pending ones are kept and still run",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const prefix = freshPrefix("p")
        yield* dropTablesAtEnd(prefix)
        const Runner = yield* runner(
          TaskConsumer.layer({ name: "s", concurrency: 2, consume: () => Effect.void }),
          reports,
          {
            prefix
          }
        )
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const { store } = yield* ClusterScheduler.ClusterStorage
          const sql = store.sql
          const now = yield* DateTime.now
          yield* scheduler.submitAll(
            Array.from({ length: 5 }, (_, i) => new Task({ id: `done-${i}`, source: "s", args: {}, scheduleAt: now }))
          )
          yield* scheduler.submit(
            new Task({ id: "later", source: "s", args: {}, scheduleAt: DateTime.add(now, { hours: 1 }) })
          )
          yield* waitForRuns(reports, 5)
          yield* Effect.sleep("300 millis") // the last replies are stored
          const rows = () =>
            sql<{ n: string; processed: boolean }>`SELECT COUNT(*) AS n, processed FROM ${sql(`${prefix}_messages`)}
            WHERE entity_type = 'RaySchedulerSource' GROUP BY processed`.pipe(
              Effect.map((rs) => Object.fromEntries(rs.map((r) => [String(r.processed), Number(r.n)])))
            )
          const replies = () =>
            Effect.map(
              sql<{ n: string }>`SELECT COUNT(*) AS n FROM ${sql(`${prefix}_replies`)}`,
              (rs) => Number(rs[0]!.n)
            )
          assert.deepStrictEqual(yield* rows(), { true: 5, false: 1 })
          const repliesBefore = yield* replies()
          assert.isAtLeast(repliesBefore, 5)
          assert.strictEqual(yield* store.pruneMessages(DateTime.toEpochMillis(now) - 60_000, 100), 0, "none that old")
          assert.strictEqual(yield* store.pruneMessages(Date.now() + 1000, 3), 3, "a batch")
          assert.strictEqual(yield* store.pruneMessages(Date.now() + 1000, 100), 2)
          assert.deepStrictEqual(yield* rows(), { false: 1 }, "the pending one is kept")
          assert.strictEqual(yield* replies(), repliesBefore - 5, "their replies went with them")
          assert.isTrue(yield* scheduler.reschedule("later", yield* DateTime.now))
          yield* waitForRuns(reports, 6)
          assert.strictEqual(reports.at(-1)?.task.id, "later")
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a run's statements are retried while the database fails them (the tasks table away for 1.5 s)",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const prefix = freshPrefix("o")
        yield* dropTablesAtEnd(prefix)
        const Runner = yield* runner(
          TaskConsumer.layer({ name: "s", concurrency: 3, consume: () => Effect.void }),
          reports,
          {
            prefix
          }
        )
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const { store } = yield* ClusterScheduler.ClusterStorage
          const sql = store.sql
          const now = yield* DateTime.now
          yield* scheduler.submitAll(
            [0, 1, 2].map((i) =>
              new Task({ id: `t${i}`, source: "s", args: {}, scheduleAt: DateTime.add(now, { millis: 800 }) })
            )
          )
          // the outage: every claim fails ("relation does not exist") while the tasks fall due
          yield* sql.unsafe(`ALTER TABLE ${prefix}_tasks RENAME TO ${prefix}_tasks_away`)
          yield* Effect.sleep("1500 millis")
          assert.strictEqual(reports.length, 0, "nothing ran during the outage")
          yield* sql.unsafe(`ALTER TABLE ${prefix}_tasks_away RENAME TO ${prefix}_tasks`)
          yield* waitForRuns(reports, 3)
          assert.deepStrictEqual(reports.map((r) => r.result), ["succeeded", "succeeded", "succeeded"])
          assert.strictEqual(yield* scheduler.pending, 0)
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "topology: this runner, the runners, each source's holder, the runs in flight and the waiting retries",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const release = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const consumers = Layer.mergeAll(
          TaskConsumer.layer({
            name: "slow",
            consume: () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))
          }),
          TaskConsumer.layer({
            name: "flaky",
            retry: Schedule.spaced("20 seconds"),
            consume: () => Effect.fail("not yet")
          })
        )
        const Runner = yield* runner(consumers, reports)
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const config = yield* ShardingConfig.ShardingConfig
          const self = Option.map(config.runnerAddress, (a) => `${a.host}:${a.port}`)
          const slow = yield* Task.create({ source: "slow", args: {} })
          const flaky = yield* Task.create({ source: "flaky", args: {} })
          yield* scheduler.submitAll([slow, flaky])
          yield* Deferred.await(started).pipe(Effect.timeout("20 seconds"))
          yield* waitForRuns(reports, 1) // the flaky task's first run failed
          const failedAt = Date.now()
          // the shard locks are written by the runner's lock refresh: wait for them
          let topology = yield* ClusterScheduler.topology(["slow", "flaky", "elsewhere"])
          for (let i = 0; i < 100 && [...topology.sources.values()].some((s) => Option.isNone(s.holder)); i++) {
            yield* Effect.sleep("100 millis")
            topology = yield* ClusterScheduler.topology(["slow", "flaky", "elsewhere"])
          }
          assert.isTrue(Option.isSome(self))
          assert.deepStrictEqual(topology.self, self)
          assert.isTrue(topology.holdersKnown)
          assert.deepStrictEqual(topology.runners.map((r) => [r.address, r.healthy]), [[Option.getOrThrow(self), true]])
          assert.isBelow(Math.abs(DateTime.toEpochMillis(topology.runners[0]!.lastHeartbeat) - Date.now()), 60_000)
          for (const name of ["slow", "flaky", "elsewhere"]) {
            assert.deepStrictEqual(topology.sources.get(name)?.holder, self, `${name}: held by the only runner`)
          }
          assert.deepStrictEqual(topology.schedulesHost, self)
          const running = topology.sources.get("slow")!.running
          assert.deepStrictEqual(running.map((r) => [r.taskId, r.runner, r.attempt]), [[slow.id, "r1", 1]])
          assert.deepStrictEqual(topology.sources.get("slow")!.retryAt, Option.none())
          const flakySource = topology.sources.get("flaky")!
          assert.deepStrictEqual(flakySource.running, [], "the failed run ended; its retry waits")
          const retryAt = DateTime.toEpochMillis(Option.getOrThrow(flakySource.retryAt))
          assert.isAtLeast(retryAt, failedAt + 15_000, "due about 20 s after the failure")
          assert.isAtMost(retryAt, failedAt + 20_000)
          assert.deepStrictEqual(topology.sources.get("elsewhere")!.running, [])
          yield* Deferred.succeed(release, undefined)
          yield* waitForRuns(reports, 2)
          const after = yield* ClusterScheduler.topology(["slow"])
          assert.deepStrictEqual(after.sources.get("slow")!.running, [], "the run ended")
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "tasks and task: pages in (dueAt, id) order across the cluster's table, filters, a running task, a waiting retry at attempt 2, invalid queries",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const release = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const consumers = Layer.mergeAll(
          TaskConsumer.layer({
            name: "slow",
            consume: () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))
          }),
          TaskConsumer.layer({ name: "flaky", retry: Schedule.spaced("20 seconds"), consume: () => Effect.fail("no") }),
          TaskConsumer.layer({ name: "later", consume: () => Effect.void })
        )
        const Runner = yield* runner(consumers, reports)
        yield* Effect.gen(function*() {
          const scheduler = yield* Scheduler
          const now = yield* DateTime.now
          const later = yield* Effect.forEach(Array.from({ length: 25 }, (_, i) => i), (i) =>
            Task.create({
              id: `later-${i}`,
              source: "later",
              scheduleAt: DateTime.add(now, { hours: 1, seconds: i % 5 }) // 5 instants: the id orders within one
            }))
          const slow = new Task({ id: "slow-1", source: "slow", args: {}, scheduleAt: now })
          const flaky = new Task({ id: "flaky-1", source: "flaky", args: {}, scheduleAt: now })
          yield* scheduler.submitAll([...later, slow, flaky])
          yield* Deferred.await(started).pipe(Effect.timeout("20 seconds"))
          yield* waitForRuns(reports, 1) // the flaky task's first run failed: its retry waits 20 s
          const failedAt = Date.now()
          assert.deepStrictEqual(reports.map((r) => [r.task.id, r.result]), [["flaky-1", "retried"]])

          // all of them, in pages of 10
          const pages: Array<ReadonlyArray<TaskInfo>> = []
          let cursor: string | undefined
          do {
            const page = yield* scheduler.tasks({ limit: 10, cursor })
            pages.push(page.tasks)
            cursor = Option.getOrUndefined(page.nextCursor)
          } while (cursor !== undefined && pages.length < 10)
          assert.deepStrictEqual(pages.map((p) => p.length), [10, 10, 7])
          const listed = pages.flat()
          const inOrder = [...later].sort((a, b) => a.dueMillis - b.dueMillis || (a.id < b.id ? -1 : 1))
          assert.deepStrictEqual(
            listed.map((i) => [i.task.id, i.state, i.attempt]),
            [
              ["slow-1", "running", 1],
              ["flaky-1", "pending", 2],
              ...inOrder.map((t) => [t.id, "pending", 1])
            ]
          )
          assert.strictEqual(DateTime.toEpochMillis(listed[0]!.dueAt), DateTime.toEpochMillis(now))
          const retryAt = DateTime.toEpochMillis(listed[1]!.dueAt)
          assert.isAtLeast(retryAt, failedAt + 15_000, "the retry's instant, about 20 s after the failure")
          assert.isAtMost(retryAt, failedAt + 20_000)
          assert.strictEqual(listed[1]!.task.dueMillis, retryAt)
          for (const [i, info] of listed.slice(2).entries()) {
            assert.isTrue(DateTime.Equivalence(info.dueAt, inOrder[i]!.scheduleAt))
          }

          // filters
          const ids = (page: { readonly tasks: ReadonlyArray<TaskInfo> }) => page.tasks.map((i) => i.task.id)
          assert.deepStrictEqual(ids(yield* scheduler.tasks({ state: "running" })), ["slow-1"])
          assert.deepStrictEqual(
            ids(yield* scheduler.tasks({ state: "pending", limit: 2 })),
            ["flaky-1", inOrder[0]!.id]
          )
          assert.deepStrictEqual(
            ids(yield* scheduler.tasks({ source: "later", limit: 1000 })),
            inOrder.map((t) => t.id)
          )
          assert.deepStrictEqual(
            ids(yield* scheduler.tasks({ dueBefore: DateTime.add(now, { hours: 1 }) })),
            ["slow-1", "flaky-1"]
          )
          const tail = yield* scheduler.tasks({
            source: "later",
            dueBefore: DateTime.add(now, { hours: 1, seconds: 1 })
          })
          assert.deepStrictEqual(ids(tail), inOrder.slice(0, 5).map((t) => t.id), "the first instant's five")

          // one task
          const info = (id: string) =>
            Effect.map(scheduler.task(id), Option.map((i) => [i.task.id, i.state, i.attempt] as const))
          assert.deepStrictEqual(yield* info("slow-1"), Option.some(["slow-1", "running", 1] as const))
          assert.deepStrictEqual(yield* info("flaky-1"), Option.some(["flaky-1", "pending", 2] as const))
          assert.deepStrictEqual(yield* info("later-3"), Option.some(["later-3", "pending", 1] as const))
          assert.deepStrictEqual(yield* info("nothing"), Option.none())

          // invalid queries
          const limit = yield* Effect.flip(scheduler.tasks({ limit: 0 }))
          assert.deepStrictEqual([limit._tag, limit.field], ["InvalidTaskQueryError", "limit"])
          const forged = yield* Effect.flip(scheduler.tasks({ cursor: "bm90IGEgY3Vyc29y" }))
          assert.deepStrictEqual([forged._tag, forged.field], ["InvalidTaskQueryError", "cursor"])
          // the cluster's cursor is [due ms, task id]: one of the local layers' ([due ms, seq]) is invalid here
          const local = yield* Effect.flip(
            scheduler.tasks({
              cursor: Buffer.from(JSON.stringify([DateTime.toEpochMillis(now), 5])).toString("base64url")
            })
          )
          assert.deepStrictEqual([local._tag, local.field], ["InvalidTaskQueryError", "cursor"])
          // and a hand-made one of its own shape is a position: after the first instant's first task
          const own = yield* scheduler.tasks({
            source: "later",
            limit: 2,
            cursor: Buffer.from(JSON.stringify([DateTime.toEpochMillis(inOrder[0]!.scheduleAt), inOrder[0]!.id]))
              .toString("base64url")
          })
          assert.deepStrictEqual(ids(own), inOrder.slice(1, 3).map((t) => t.id))

          // the running task ends: it leaves the table
          yield* Deferred.succeed(release, undefined)
          yield* waitForRuns(reports, 2)
          const deadline = Date.now() + 10_000
          while (Option.isSome(yield* scheduler.task("slow-1")) && Date.now() < deadline) {
            yield* Effect.sleep("50 millis")
          }
          assert.deepStrictEqual(yield* info("slow-1"), Option.none())
          assert.deepStrictEqual(ids(yield* scheduler.tasks({ state: "running" })), [])
        }).pipe(
          Effect.ensuring(Deferred.succeed(release, undefined)), // a failed assertion does not hang the runner's stop
          Effect.provide(Runner),
          Effect.scoped
        )
      }).pipe(Effect.scoped),
    60_000
  )
})
