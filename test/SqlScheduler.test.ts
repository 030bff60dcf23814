/**
 * The SQL layer's own promises (issue 9), on a real SQLite file under
 * `TestClock`: tasks survive a restart, a run's start is committed before
 * its consumer runs (so the next process knows the attempt), idempotent
 * submit in the store, the README composition across a restart (recovered
 * tasks wait for their consumer), the memory window, one scheduler per
 * store, table prefixes, dead letters in the store. The SPEC's semantics run
 * against this layer too: the "sql" project of vitest.config.ts.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import type { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { tempDir } from "./storage/tempDb.js"
import { captureLogs, namedTask, nameOf, settle, uid } from "./support.js"

const task = namedTask

interface Seen {
  readonly name: string
  readonly attempt: number
  readonly at: number
}

/** A consumer recording (task name, attempt, start); `args.hang` makes a run never end. */
const recording = (
  source: string,
  seen: Array<Seen>,
  concurrency = 1
): TaskConsumer.TaskConsumerOptions<unknown, never> => ({
  name: source,
  concurrency,
  consume: (t) =>
    Effect.gen(function*() {
      const run = yield* Effect.orDie(TaskRun.current)
      seen.push({ name: nameOf(t.id), attempt: run.attempt, at: DateTime.toEpochMillis(run.startedAt) })
      if (t.args.hang === true) yield* Effect.never
    })
})

/** A scheduler on the SQLite file `filename`, in its own scope (closed by the returned `close`). */
const open = (
  filename: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a consumer's error type is its own (a retry schedule's input)
  consumers: ReadonlyArray<TaskConsumer.TaskConsumerOptions<any, never>>,
  options: Scheduler.SqlSchedulerOptions = {}
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      consumers.reduce(
        (layer: Layer.Layer<never, unknown, ConsumerRegistry.ConsumerRegistry>, c) =>
          Layer.merge(layer, TaskConsumer.layer(c)),
        Layer.empty
      ).pipe(
        Layer.provideMerge(Scheduler.Scheduler.layerSql(options)),
        Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
        Layer.provideMerge(SqliteClient.layer({ filename }))
      ),
      scope
    )
    const close = Scope.close(scope, Exit.void)
    return { scheduler: Context.get(context, Scheduler.Scheduler), close }
  })

const rows = (filename: string, query: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.unsafe<Record<string, unknown>>(query)
  }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.orDie)

/** Closes a scope whose stop waits for a shutdown timeout: moves the TestClock on until it is closed. */
const closeDriving = (close: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const closing = yield* Effect.fork(close)
    for (let i = 0; i < 100 && closing.unsafePoll() === null; i++) yield* TestClock.adjust("100 millis")
    assert.isNotNull(closing.unsafePoll(), "the scope closed")
  })

const dbFile = Effect.map(tempDir, (dir) => path.join(dir, "tasks.db"))

describe("Scheduler.layerSql (SQLite file)", () => {
  it.scoped("pending tasks survive a restart: a new scheduler on the store runs them, in order", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const first: Array<Seen> = []
        const a = yield* open(file, [recording("s", first)])
        yield* a.scheduler.submitAll([yield* task("t2", "s", 6000), yield* task("t1", "s", 5000)])
        yield* a.scheduler.submit(yield* task("t3", "s", 6000))
        assert.strictEqual((yield* rows(file, "SELECT id FROM ray_scheduler_tasks")).length, 3, "committed")
        yield* TestClock.setTime(1000)
        yield* a.close
        assert.deepStrictEqual(first, [])

        const second: Array<Seen> = []
        const b = yield* open(file, [recording("s", second)])
        assert.strictEqual(yield* b.scheduler.pending, 3)
        yield* TestClock.setTime(7000)
        yield* settle
        assert.deepStrictEqual(second.map((s) => [s.name, s.at]), [["t1", 5000], ["t2", 6000], ["t3", 6000]])
        yield* b.close
        assert.strictEqual((yield* rows(file, "SELECT id FROM ray_scheduler_tasks")).length, 0, "ended runs removed")
      })
    ))

  it.scoped("a run's start is committed before its consumer runs; a task running at a stop runs again with the next attempt", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const first: Array<Seen> = []
        const a = yield* open(file, [recording("s", first)], { shutdownTimeout: "1 second" })
        yield* a.scheduler.submit(yield* task("h", "s", 100, { hang: true }))
        yield* TestClock.setTime(100)
        yield* settle
        assert.deepStrictEqual(first.map((s) => [s.name, s.attempt]), [["h", 1]])
        assert.deepStrictEqual(
          yield* rows(file, "SELECT attempts FROM ray_scheduler_tasks"),
          [{ attempts: 1 }],
          "the start is in the store while the consumer runs"
        )
        // the stop waits 1 s for the hanging run, then interrupts it: it stays in the store
        yield* closeDriving(a.close)

        const second: Array<Seen> = []
        const b = yield* open(file, [recording("s", second)], { shutdownTimeout: "1 second" })
        yield* settle
        assert.deepStrictEqual(second.map((s) => [s.name, s.attempt]), [["h", 2]])
        assert.deepStrictEqual(yield* rows(file, "SELECT attempts FROM ray_scheduler_tasks"), [{ attempts: 2 }])
        yield* closeDriving(b.close)
      })
    ))

  it.scoped("a retry is a persisted re-submit: the waiting retry (due instant, runs, first failure) is in the store and continues its schedule after a restart", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seen: Array<Seen> = []
        const failing: TaskConsumer.TaskConsumerOptions<string, never> = {
          name: "s",
          retry: Schedule.exponential("1 second").pipe(Schedule.compose(Schedule.recurs(3))),
          consume: (t) =>
            Effect.gen(function*() {
              const run = yield* Effect.orDie(TaskRun.current)
              seen.push({ name: nameOf(t.id), attempt: run.attempt, at: DateTime.toEpochMillis(run.startedAt) })
              if (run.attempt < 3) return yield* Effect.fail("not yet")
            })
        }
        const a = yield* open(file, [failing])
        yield* a.scheduler.submit(yield* task("r", "s", 0))
        yield* settle
        yield* TestClock.setTime(500)
        yield* a.close
        assert.deepStrictEqual(
          yield* rows(file, "SELECT due_ms, attempts, retry_ms, done FROM ray_scheduler_tasks"),
          [{ due_ms: 1000, attempts: 1, retry_ms: 0, done: 0 }],
          "the retry is in the store"
        )
        const b = yield* open(file, [failing])
        for (const at of [1000, 3000]) {
          yield* TestClock.setTime(at)
          yield* settle
        }
        assert.deepStrictEqual(seen.map((s) => [s.name, s.attempt, s.at]), [["r", 1, 0], ["r", 2, 1000], [
          "r",
          3,
          3000
        ]])
        assert.deepStrictEqual(yield* b.scheduler.deadLetters, [])
        yield* b.close
        assert.deepStrictEqual(yield* rows(file, "SELECT id FROM ray_scheduler_tasks"), [])
      })
    ))

  it.scoped("schedules are in the store: after a restart they continue without being declared again, their missed occurrences follow the misfire policy; unschedule removes them", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seen: Array<Seen> = []
        const a = yield* open(file, [recording("s", seen)])
        yield* a.scheduler.schedule({ id: "d", source: "s", every: "10 seconds", args: { k: 1 } })
        for (const at of [10_000, 15_000]) {
          yield* TestClock.setTime(at)
          yield* settle
        }
        yield* a.close
        assert.deepStrictEqual(
          yield* rows(file, "SELECT id, next_ms, current_id FROM ray_scheduler_schedules"),
          [{ id: "d", next_ms: 20_000, current_id: "d@1970-01-01T00:00:10.000Z" }]
        )

        yield* TestClock.setTime(45_000) // down while 20, 30 and 40 s were due
        const b = yield* open(file, [recording("s", seen)])
        yield* settle
        const [info] = yield* b.scheduler.schedules
        assert.deepStrictEqual([info!.id, info!.args, DateTime.toEpochMillis(info!.nextRun)], ["d", { k: 1 }, 50_000])
        // the same declaration at every start keeps its state
        yield* b.scheduler.schedule({ id: "d", source: "s", every: "10 seconds", args: { k: 1 } })
        yield* TestClock.setTime(50_000)
        yield* settle
        assert.deepStrictEqual(seen.map((s) => [s.name, s.at]), [
          ["d@1970-01-01T00:00:10.000Z", 10_000],
          ["d@1970-01-01T00:00:40.000Z", 45_000],
          ["d@1970-01-01T00:00:50.000Z", 50_000]
        ])
        assert.isTrue(yield* b.scheduler.unschedule("d"))
        yield* b.close
        assert.deepStrictEqual(yield* rows(file, "SELECT id FROM ray_scheduler_schedules"), [])
      })
    ))

  it.scoped("submit is idempotent in the store: a task id pending or running is counted as a duplicate, not stored twice", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const a = yield* open(file, [recording("s", [])])
        yield* a.scheduler.submit(yield* task("x", "s", 5000))
        yield* a.scheduler.submitAll([
          yield* task("x", "s", 5000),
          yield* task("y", "s", 5000),
          yield* task("y", "s", 5000)
        ])
        assert.strictEqual((yield* rows(file, "SELECT id FROM ray_scheduler_tasks")).length, 2)
        assert.strictEqual((yield* a.scheduler.stats).duplicates, 2)
        yield* a.close
        // after a restart the store still knows them
        const b = yield* open(file, [recording("s", [])])
        yield* b.scheduler.submit(yield* task("x", "s", 5000))
        assert.strictEqual((yield* b.scheduler.stats).duplicates, 1)
        assert.strictEqual((yield* rows(file, "SELECT id FROM ray_scheduler_tasks")).length, 2)
        yield* b.close
      })
    ))

  it.scoped("README composition across a restart: recovered due tasks wait for their consumer (grace), then run", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const a = yield* open(file, [])
        yield* a.scheduler.submitAll([yield* task("r1", "s", 1000), yield* task("r2", "s", 2000)])
        yield* a.close
        yield* TestClock.setTime(10_000) // both overdue at the next start
        const seen: Array<Seen> = []
        // consumer layers above the scheduler layer: the scheduler starts (and recovers) before the consumer registers
        const b = yield* open(file, [recording("s", seen)])
        yield* settle
        assert.deepStrictEqual(seen.map((s) => [s.name, s.at]), [["r1", 10_000], ["r2", 10_000]])
        assert.deepStrictEqual(yield* b.scheduler.deadLetters, [])
        assert.strictEqual((yield* b.scheduler.stats).dropped, 0)
        yield* b.close
        // without a consumer for 30 s (the default grace) they become dead letters
        const c = yield* open(file, [])
        yield* c.scheduler.submit(yield* task("r3", "nobody", 10_000))
        yield* TestClock.adjust("29 seconds")
        assert.strictEqual((yield* c.scheduler.stats).waiting, 1)
        yield* TestClock.adjust("1 second")
        yield* settle
        const letters = yield* c.scheduler.deadLetters
        assert.deepStrictEqual(letters.map((l) => [nameOf(l.task.id), l.reason]), [["r3", "NoConsumer"]])
        assert.isTrue(logs.some((l) => l.message.includes("no consumer; they wait up to 30s")))
        yield* c.close
      })
    ))

  it.scoped("the memory window: with memoryWindow 4, 60 tasks over 3 sources all run in due order per source", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seen: Array<Seen> = []
        const consumers = ["a", "b", "c"].map((s) => recording(s, seen))
        const s = yield* open(file, consumers, { memoryWindow: 4 })
        // submitted out of order, in several batches, some beyond the window
        const all: Array<Task> = []
        for (let i = 59; i >= 0; i--) all.push(yield* task(`w${i}`, ["a", "b", "c"][i % 3]!, 1000 + i * 10))
        for (let i = 0; i < 60; i += 7) yield* s.scheduler.submitAll(all.slice(i, i + 7))
        assert.strictEqual(yield* s.scheduler.pending, 60)
        // an earlier task submitted while the window is full still runs first
        yield* s.scheduler.submit(yield* task("early", "a", 500))
        yield* TestClock.setTime(500)
        yield* settle
        assert.deepStrictEqual(seen.map((x) => x.name), ["early"])
        yield* TestClock.setTime(2000)
        yield* settle
        assert.strictEqual(seen.length, 61)
        for (const source of ["a", "b", "c"]) {
          const times = seen.filter((x) =>
            x.name !== "early" && ["a", "b", "c"][Number(x.name.slice(1)) % 3] === source
          )
            .map((x) => Number(x.name.slice(1)))
          assert.deepStrictEqual(times, [...times].sort((p, q) => p - q), `source ${source} in due order`)
          assert.strictEqual(times.length, 20)
        }
        assert.strictEqual(yield* s.scheduler.pending, 0)
        yield* s.close
      })
    ))

  it.scoped("one scheduler per store: a second one fails, naming the holder; after the first closed one starts", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const a = yield* open(file, [])
        const second = yield* Effect.exit(open(file, []))
        assert.isTrue(Exit.isFailure(second))
        if (Exit.isFailure(second)) {
          const text = String(second.cause)
          assert.include(text, "is in use by process")
          assert.include(text, "one scheduler per store")
        }
        yield* a.close
        const b = yield* open(file, [])
        yield* b.close
      })
    ))

  it.scoped("a lost lease: when another process takes the store over, the scheduler stops (its running task finishes, nothing starts) and refuses to start again", () =>
    captureLogs((logs) =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seen: Array<Seen> = []
        let release: (() => void) | undefined
        const a = yield* open(file, [{
          name: "s",
          concurrency: 2,
          consume: (t) =>
            Effect.gen(function*() {
              seen.push({ name: nameOf(t.id), attempt: 1, at: 0 })
              // "long" runs until the test lets it end
              if (t.args.long === true) {
                yield* Effect.async<void>((resume) => void (release = () => resume(Effect.void)))
              }
            })
        }], { leaseTtl: "3 seconds", shutdownTimeout: "1 minute" })
        yield* a.scheduler.submit(yield* task("long", "s", 0, { long: true }))
        yield* settle
        assert.deepStrictEqual(seen.map((s) => s.name), ["long"])
        // another process takes the store over (as it may once our lease expired, e.g. after a long pause)
        yield* rows(file, "UPDATE ray_scheduler_lease SET owner = 'other', pid = 1, host = 'elsewhere'")
        yield* a.scheduler.submit(yield* task("later", "s", 2500))
        yield* TestClock.adjust("1 second") // the lease is renewed every leaseTtl / 3: the renewal finds it taken
        yield* settle
        assert.isTrue(
          logs.some((l) => l.message.includes("another process took over the store lease of ray_scheduler_tasks")),
          "the loss is logged"
        )
        // the running task finishes; the stop waits for it
        assert.isDefined(release)
        release!()
        yield* settle
        yield* TestClock.adjust("5 seconds")
        yield* settle
        assert.deepStrictEqual(seen.map((s) => s.name), ["long"], "nothing starts after the loss")
        assert.isFalse(
          logs.some((l) => l.message === "Task was interrupted"),
          "the scheduler stopped: the later task was not taken and interrupted"
        )
        // a start is refused
        yield* a.scheduler.start
        yield* TestClock.adjust("5 seconds")
        yield* settle
        assert.deepStrictEqual(seen.map((s) => s.name), ["long"], "nothing starts after a refused start")
        assert.isTrue(logs.some((l) => l.message.includes("start refused")), "the refusal is logged")
        // the store keeps the task that did not run, for the process that holds it now (the run that
        // succeeded is marked done: its row goes with the next batch of done rows)
        assert.deepStrictEqual(
          (yield* rows(file, "SELECT id FROM ray_scheduler_tasks WHERE done = 0")).map((r) => nameOf(String(r.id))),
          ["later"]
        )
        yield* a.close
      })
    ))

  it.scoped("table prefixes: two stores in one database are independent; an invalid prefix is a defect", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seenA: Array<Seen> = []
        const seenB: Array<Seen> = []
        const a = yield* open(file, [recording("s", seenA)], { tablePrefix: "app_a_" })
        const b = yield* open(file, [recording("s", seenB)], { tablePrefix: "app_b_" })
        yield* a.scheduler.submit(yield* task("pa", "s", 100))
        yield* b.scheduler.submit(yield* task("pb", "s", 200))
        yield* TestClock.setTime(300)
        yield* settle
        assert.deepStrictEqual([seenA.map((x) => x.name), seenB.map((x) => x.name)], [["pa"], ["pb"]])
        yield* a.close
        yield* b.close
        const bad = yield* Effect.exit(open(file, [], { tablePrefix: "x; DROP TABLE y" }))
        assert.isTrue(Exit.isFailure(bad) && String(bad.cause).includes("option tablePrefix"))
      })
    ))

  it.scoped("dead letters are in the store: they survive a restart, replay runs one again, purge removes them", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seen: Array<Seen> = []
        const failing: TaskConsumer.TaskConsumerOptions<Error, never> = {
          name: "f",
          consume: (t) =>
            t.args.ok === true
              ? Effect.sync(() => void seen.push({ name: nameOf(t.id), attempt: 1, at: 0 }))
              : Effect.fail(new Error("nope"))
        }
        const a = yield* open(file, [failing as never])
        yield* a.scheduler.submitAll([yield* task("d1", "f", 100), yield* task("d2", "nobody", 100)])
        yield* TestClock.setTime(31_000)
        yield* settle
        yield* a.close
        const b = yield* open(file, [failing as never])
        const letters = yield* b.scheduler.deadLetters
        assert.deepStrictEqual(
          letters.map((l) => [nameOf(l.task.id), l.reason, l.error, l.attempts]).sort(),
          [["d1", "Failed", "Error: nope", 1], [
            "d2",
            "NoConsumer",
            "no consumer is registered for source \"nobody\"",
            0
          ]]
        )
        assert.strictEqual((yield* b.scheduler.stats).deadLetters, 2)
        // replay: d1 runs again now (and fails again: its dead letter is back, newer)
        yield* TestClock.setTime(40_000)
        assert.isTrue(yield* b.scheduler.replay(uid("d1")))
        yield* settle
        const again = yield* b.scheduler.deadLetters
        assert.deepStrictEqual(
          again.map((l) => [nameOf(l.task.id), DateTime.toEpochMillis(l.at)]),
          [["d2", 100 + 30_000], ["d1", 40_000]]
        )
        assert.strictEqual(yield* b.scheduler.purgeDeadLetters("5 seconds"), 1)
        assert.strictEqual(yield* b.scheduler.purgeDeadLetters(), 1)
        assert.deepStrictEqual(yield* rows(file, "SELECT id FROM ray_scheduler_dead_letters"), [])
        yield* b.close
      })
    ))

  it.scoped("a success marks its row done: the id can be submitted again at once; done rows go in a batch of 10,000, at a clean stop and at recovery", () =>
    Effect.gen(function*() {
      const file = yield* dbFile
      const seen: Array<Seen> = []
      const a = yield* open(file, [recording("s", seen, 64)])
      yield* a.scheduler.submit(yield* task("x", "s", 1000))
      yield* TestClock.setTime(1000)
      yield* settle
      assert.deepStrictEqual(seen.map((s) => s.name), ["x"])
      assert.deepStrictEqual(
        yield* rows(file, "SELECT done FROM ray_scheduler_tasks"),
        [{ done: 1 }],
        "the row stays, marked done"
      )
      // a done row is not pending: the same id is a new task
      yield* a.scheduler.submit(yield* task("x", "s", 2000))
      assert.strictEqual((yield* a.scheduler.stats).duplicates, 0)
      yield* TestClock.setTime(2000)
      yield* settle
      assert.deepStrictEqual(seen.map((s) => s.name), ["x", "x"])
      // 10,000 done rows are deleted together
      const many = yield* Effect.forEach(Array.from({ length: 10_050 }, (_, i) => i), (i) => task(`m${i}`, "s", 3000))
      yield* a.scheduler.submitAll(many)
      yield* TestClock.setTime(3000)
      for (let i = 0; i < 200 && (yield* a.scheduler.stats).succeeded < 10_052; i++) yield* settle
      assert.strictEqual((yield* a.scheduler.stats).succeeded, 10_052)
      yield* settle
      const left = Number((yield* rows(file, "SELECT COUNT(*) AS n FROM ray_scheduler_tasks"))[0]!.n)
      assert.isBelow(left, 10_000, "a batch of done rows was deleted")
      assert.isAbove(left, 0, "the rest waits for the next batch")
      assert.strictEqual(
        Number((yield* rows(file, "SELECT COUNT(*) AS n FROM ray_scheduler_tasks WHERE done = 0"))[0]!.n),
        0
      )
      yield* a.close
      assert.strictEqual(
        (yield* rows(file, "SELECT seq FROM ray_scheduler_tasks")).length,
        0,
        "a clean stop deletes the rest"
      )
      // what a crash leaves (a done row) is deleted at recovery, and does not run
      yield* rows(
        file,
        `INSERT INTO ray_scheduler_tasks (h, id, source, due_ms, args, done) VALUES (1, '${
          uid("crash")
        }', 's', 0, '{}', 1)`
      )
      const b = yield* open(file, [recording("s", seen)])
      assert.strictEqual((yield* rows(file, "SELECT seq FROM ray_scheduler_tasks")).length, 0)
      assert.strictEqual(yield* b.scheduler.pending, 0)
      yield* b.close
    }))

  it.scoped("a store of schema version 1 (unique text ids) is migrated: its tasks keep their seq and attempts, run, and stay idempotent", () =>
    Effect.gen(function*() {
      const file = yield* dbFile
      // the tables as version 1 created them, with two pending tasks (one ran once before a crash)
      for (
        const statement of [
          `CREATE TABLE ray_scheduler_schema (version INTEGER NOT NULL)`,
          `INSERT INTO ray_scheduler_schema (version) VALUES (1)`,
          `CREATE TABLE ray_scheduler_tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL, due_ms INTEGER NOT NULL, args TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)`,
          `CREATE INDEX ray_scheduler_tasks_due ON ray_scheduler_tasks (due_ms, seq)`,
          `CREATE TABLE ray_scheduler_dead_letters (id TEXT PRIMARY KEY, source TEXT NOT NULL, due_ms BIGINT NOT NULL,
            args TEXT NOT NULL, reason TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, dead_ms BIGINT NOT NULL)`,
          `CREATE INDEX ray_scheduler_dead_letters_dead ON ray_scheduler_dead_letters (dead_ms)`,
          `CREATE TABLE ray_scheduler_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL,
            pid INTEGER NOT NULL, expires_ms BIGINT NOT NULL)`,
          `INSERT INTO ray_scheduler_tasks (seq, id, source, due_ms, args, attempts)
            VALUES (7, '${uid("old-a")}', 's', 1000, '{"n":1}', 1), (9, '${uid("old-b")}', 's', 2000, '{}', 0)`
        ]
      ) yield* rows(file, statement)
      const seen: Array<Seen> = []
      const a = yield* open(file, [recording("s", seen)])
      assert.deepStrictEqual(yield* rows(file, "SELECT MAX(version) AS v FROM ray_scheduler_schema"), [{ v: 3 }])
      assert.deepStrictEqual(
        (yield* rows(file, "SELECT seq, id, h, attempts, done, retry_ms FROM ray_scheduler_tasks ORDER BY seq")).map((
          r
        ) => [
          r.seq,
          nameOf(String(r.id)),
          r.attempts,
          r.done,
          typeof r.h === "number" && r.h > 0,
          r.retry_ms
        ]),
        [[7, "old-a", 1, 0, true, null], [9, "old-b", 0, 0, true, null]]
      )
      assert.isFalse(
        (yield* rows(file, "PRAGMA index_list(ray_scheduler_tasks)")).some((r) => r.unique === 1 && r.origin !== "pk"),
        "no unique index on the id any more"
      )
      // still idempotent, and new rows come after the old ones
      yield* a.scheduler.submitAll([yield* task("old-a", "s", 1000), yield* task("new", "s", 3000)])
      assert.strictEqual((yield* a.scheduler.stats).duplicates, 1)
      assert.deepStrictEqual(
        (yield* rows(file, `SELECT seq FROM ray_scheduler_tasks WHERE id = '${uid("new")}'`)).map((r) => r.seq),
        [10]
      )
      yield* TestClock.setTime(3000)
      yield* settle
      assert.deepStrictEqual(seen.map((s) => [s.name, s.attempt]), [["old-a", 2], ["old-b", 1], ["new", 1]])
      yield* a.close
    }))

  it.scoped("a paused source's backlog leaves the memory window: with memoryWindow 4 the other source's tasks all run; after resume the paused ones do", () =>
    Effect.gen(function*() {
      const file = yield* dbFile
      const seen: Array<Seen> = []
      const a = yield* open(file, [recording("p", seen), recording("s", seen)], { memoryWindow: 4 })
      yield* a.scheduler.pause("p")
      const backlog = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => task(`p${i}`, "p", 1000 + i)
      )
      const others = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => task(`s${i}`, "s", 2000 + i))
      yield* a.scheduler.submitAll([...backlog, ...others])
      yield* TestClock.setTime(3000)
      for (let i = 0; i < 20; i++) yield* settle
      assert.deepStrictEqual(
        seen.map((s) => s.name),
        others.map((t) => nameOf(t.id)),
        "the paused backlog does not starve s"
      )
      assert.strictEqual(yield* a.scheduler.pending, 20)
      yield* a.scheduler.resume("p")
      for (let i = 0; i < 40; i++) yield* settle
      assert.deepStrictEqual(
        seen.slice(10).map((s) => s.name),
        backlog.map((t) => nameOf(t.id)),
        "after resume the backlog runs, in due order"
      )
      yield* a.close
    }))

  it.scoped("cancel and reschedule reach tasks beyond the memory window; a cancelled run is not run again after a restart", () =>
    Effect.gen(function*() {
      const file = yield* dbFile
      const seen: Array<Seen> = []
      const a = yield* open(file, [recording("s", seen)], { memoryWindow: 4 })
      const tasks = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => task(`t${i}`, "s", 1000 + i))
      yield* a.scheduler.submitAll(tasks)
      // t9 and t8 are in the store only (the window holds 4)
      assert.isTrue(yield* a.scheduler.cancel(tasks[9]!.id))
      assert.deepStrictEqual(
        yield* rows(file, `SELECT done FROM ray_scheduler_tasks WHERE id = '${tasks[9]!.id}'`),
        [{ done: 1 }],
        "committed when cancel returns"
      )
      assert.isTrue(yield* a.scheduler.reschedule(tasks[8]!.id, DateTime.unsafeMake(500)))
      assert.isFalse(yield* a.scheduler.cancel(tasks[9]!.id))
      assert.strictEqual(yield* a.scheduler.pending, 9)
      yield* TestClock.setTime(2000)
      for (let i = 0; i < 20; i++) yield* settle
      assert.deepStrictEqual(seen.map((s) => `${s.name}@${s.at}`), [
        "t8@500",
        ...tasks.slice(0, 8).map((t, i) => `${nameOf(t.id)}@${1000 + i}`)
      ])
      assert.strictEqual((yield* a.scheduler.stats).cancelled, 1)
      // a running task cancelled: its row is done, a restart does not run it
      const hang = yield* task("hang", "s", 2000, { hang: true })
      yield* a.scheduler.submit(hang)
      yield* settle
      assert.strictEqual(seen[seen.length - 1]?.name, "hang")
      assert.isTrue(yield* a.scheduler.cancel(hang.id))
      yield* a.close
      const b = yield* open(file, [recording("s", seen)])
      assert.strictEqual(yield* b.scheduler.pending, 0)
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.strictEqual(seen.filter((s) => s.name === "hang").length, 1)
      yield* b.close
    }))

  it.scoped("tasks and task read the store: tasks beyond the memory window, a recovered run's attempt; a page is one range of the (due_ms, seq) index", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const file = yield* dbFile
        const seen: Array<Seen> = []
        const a = yield* open(file, [recording("s", seen)], { memoryWindow: 4, shutdownTimeout: "1 second" })
        const tasks: Array<Task> = []
        // submitted in the reverse of their ids' order: the ids do not give the order within an instant
        for (let i = 29; i >= 0; i--) tasks.push(yield* task(`t${i}`, "s", 10_000 + 1000 * (i % 4)))
        yield* a.scheduler.submitAll(tasks)
        yield* a.scheduler.submit(yield* task("h", "s", 100, { hang: true }))
        yield* TestClock.setTime(100)
        yield* settle
        assert.deepStrictEqual(seen.map((s) => s.name), ["h"])
        // 30 pending, most of them in the store only (the window holds 4), and one running
        const listed: Array<Scheduler.TaskInfo> = []
        const sizes: Array<number> = []
        let cursor: string | undefined
        do {
          const page = yield* a.scheduler.tasks({ limit: 7, cursor })
          listed.push(...page.tasks)
          sizes.push(page.tasks.length)
          cursor = page.nextCursor._tag === "Some" ? page.nextCursor.value : undefined
        } while (cursor !== undefined && sizes.length < 10)
        assert.deepStrictEqual(sizes, [7, 7, 7, 7, 3])
        // (due, submission) order: a stable sort of the submitted tasks by due instant
        const expected = [...tasks].sort((x, y) => x.dueMillis - y.dueMillis)
        assert.deepStrictEqual(
          listed.map((i) => [nameOf(i.task.id), i.state, i.attempt]),
          [["h", "running", 1], ...expected.map((t) => [nameOf(t.id), "pending", 1])]
        )
        const stored = yield* a.scheduler.task(uid("t29"))
        assert.deepStrictEqual(
          stored._tag === "Some" ? [stored.value.state, DateTime.toEpochMillis(stored.value.dueAt)] : [],
          ["pending", 11_000],
          "a task in the store only"
        )
        const pending = yield* a.scheduler.tasks({ state: "pending", source: "s", limit: 1000 })
        assert.strictEqual(pending.tasks.length, 30)
        // the statements of a page: one range of the dispatch order's index each, no sort — the first page, and
        // after a cursor (d, s) the rest of its instant, then the later instants (a row value (due_ms, seq) > (d, s)
        // would be sought on due_ms only: seq is the rowid)
        const plan = (where: string) =>
          Effect.map(
            rows(
              file,
              `EXPLAIN QUERY PLAN SELECT seq, id, source, due_ms, args, attempts FROM ray_scheduler_tasks
                WHERE ${where} ORDER BY due_ms, seq LIMIT 8`
            ),
            (plan) => plan.map((r) => r.detail)
          )
        assert.deepStrictEqual(yield* plan("done = 0"), [
          "SCAN ray_scheduler_tasks USING INDEX ray_scheduler_tasks_due"
        ])
        assert.deepStrictEqual(yield* plan("done = 0 AND source = 's' AND due_ms = 100 AND seq > 5"), [
          "SEARCH ray_scheduler_tasks USING INDEX ray_scheduler_tasks_due (due_ms=? AND seq>?)"
        ])
        assert.deepStrictEqual(yield* plan("done = 0 AND source = 's' AND due_ms < 900 AND due_ms > 100"), [
          "SEARCH ray_scheduler_tasks USING INDEX ray_scheduler_tasks_due (due_ms>? AND due_ms<?)"
        ])
        // listing added no index: the tasks table has the three of schema version 2
        assert.deepStrictEqual(
          (yield* rows(
            file,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ray_scheduler_tasks' AND sql IS NOT NULL ORDER BY name"
          )).map((r) => r.name),
          ["ray_scheduler_tasks_done", "ray_scheduler_tasks_due", "ray_scheduler_tasks_h"]
        )
        // the stop interrupts the hanging run: it stays in the store, and its next run is attempt 2
        yield* closeDriving(a.close)
        const b = yield* open(file, [], { memoryWindow: 4 }) // no consumer: the recovered task waits for one
        const recovered = yield* b.scheduler.task(uid("h"))
        assert.deepStrictEqual(
          recovered._tag === "Some" ? [recovered.value.state, recovered.value.attempt] : [],
          ["pending", 2]
        )
        const first = yield* b.scheduler.tasks({ limit: 1 })
        assert.deepStrictEqual(first.tasks.map((i) => [nameOf(i.task.id), i.state, i.attempt]), [["h", "pending", 2]])
        yield* b.close
      })
    ))
})
