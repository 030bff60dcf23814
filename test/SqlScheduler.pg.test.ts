/**
 * The SQL layer on PostgreSQL (one node): the same store on `@effect/sql-pg`.
 * Each test uses its own table prefix and drops its tables. Skipped with a
 * reason when PostgreSQL is absent; a failure under `CI=true`
 * (test/services/postgres.ts).
 */
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
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { checkPostgres, pgLayer } from "./services/postgres.js"
import { captureLogs, settle } from "./support.js"

const available = await checkPostgres()

const at = (millis: number) => DateTime.unsafeMake(millis)

/** A PostgreSQL client for a test, and its scheduler tables (`prefix`) dropped when the test ends. */
const pgStore = (prefix: string) =>
  Effect.gen(function*() {
    const client = yield* Layer.build(pgLayer())
    const sql = Context.get(client, SqlClient.SqlClient)
    yield* Effect.addFinalizer(() =>
      Effect.ignore(Effect.forEach(
        ["tasks", "dead_letters", "schedules", "lease", "schema"],
        (t) => sql.unsafe(`DROP TABLE IF EXISTS ${prefix}${t}`)
      ))
    )
    /** A scheduler on the store with `consumer`, in a scope of its own (`close`). */
    const open = (consumer: Layer.Layer<never, unknown, ConsumerRegistry.ConsumerRegistry>) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(
          consumer.pipe(
            Layer.provideMerge(Scheduler.Scheduler.layerSql({ tablePrefix: prefix })),
            Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
            Layer.provideMerge(Layer.succeedContext(client))
          ),
          scope
        )
        return { scheduler: Context.get(context, Scheduler.Scheduler), close: Scope.close(scope, Exit.void) }
      })
    return { sql, open }
  })

describe.skipIf(!available)("Scheduler.layerSql on PostgreSQL", () => {
  it.scoped("tasks survive a restart, run in order with their attempt; duplicates and dead letters are in the store", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const prefix = `ray_test_${process.pid}_${Date.now() % 100000}_`
        const { open: openWith, sql } = yield* pgStore(prefix)
        const seen: Array<[string, number, number]> = []
        const consumer = TaskConsumer.layer({
          name: "s",
          concurrency: 2,
          consume: (t) =>
            Effect.gen(function*() {
              const run = yield* Effect.orDie(TaskRun.current)
              seen.push([String(t.args.label), run.attempt, DateTime.toEpochMillis(run.startedAt)])
              if (t.args.fail === true) return yield* Effect.fail(new Error("no"))
            })
        })
        const open = openWith(consumer)

        const a = yield* open
        const tasks = yield* Effect.forEach(
          [["b", 2000], ["a", 1000], ["c", 2000], ["bad", 1500]] as const,
          ([label, due]) => Task.create({ source: "s", args: { label, fail: label === "bad" }, scheduleAt: at(due) })
        )
        yield* a.scheduler.submitAll(tasks)
        yield* a.scheduler.submit(tasks[0]!) // a duplicate
        assert.strictEqual((yield* a.scheduler.stats).duplicates, 1)
        yield* a.close

        const b = yield* open
        assert.strictEqual(yield* b.scheduler.pending, 4)
        yield* TestClock.setTime(3000)
        // PostgreSQL answers asynchronously (real I/O): wait for the four runs, with a generous bound
        for (let i = 0; i < 1000 && seen.length < 4; i++) {
          yield* settle
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
        }
        assert.deepStrictEqual(seen.map(([label, attempt]) => [label, attempt]), [["a", 1], ["bad", 1], ["b", 1], [
          "c",
          1
        ]])
        // each started at or after its due instant (how much after depends on the database's answers)
        const due: Record<string, number> = { a: 1000, bad: 1500, b: 2000, c: 2000 }
        for (const [label, , startedAt] of seen) assert.isAtLeast(startedAt, due[label]!, label)
        const letters = yield* b.scheduler.deadLetters
        assert.deepStrictEqual(letters.map((l) => [l.task.args.label, l.reason, l.error]), [[
          "bad",
          "Failed",
          "Error: no"
        ]])
        yield* b.close
        const left = yield* sql<{ n: number }>`SELECT COUNT(*)::int AS n FROM ${sql(`${prefix}tasks`)}`
        assert.strictEqual(left[0]?.n, 0)
      })
    ))

  it.scoped("a waiting retry and a schedule are in the store: after a restart the retry runs with its attempt and the schedule catches up what it missed", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const prefix = `ray_test_${process.pid}_${Date.now() % 100000}_r_`
        const { open: openWith } = yield* pgStore(prefix)
        const seen: Array<string> = []
        const consumer = TaskConsumer.layer({
          name: "s",
          retry: Schedule.spaced("10 seconds"),
          consume: (t) =>
            Effect.gen(function*() {
              const run = yield* Effect.orDie(TaskRun.current)
              seen.push(`${t.id} ${run.attempt}@${DateTime.toEpochMillis(run.startedAt)}`)
              if (t.args.fail === true && run.attempt < 2) return yield* Effect.fail("not yet")
            })
        })
        const open = openWith(consumer)
        /** Waits (real time, generous bound) until `n` runs were seen. */
        const runs = (n: number) =>
          Effect.gen(function*() {
            for (let i = 0; i < 1000 && seen.length < n; i++) {
              yield* settle
              yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
            }
            assert.strictEqual(seen.length, n, seen.join(", "))
          })

        const a = yield* open
        yield* a.scheduler.submit(yield* Task.create({ id: "flaky", source: "s", args: { fail: true } }))
        yield* a.scheduler.schedule({ id: "d", source: "s", every: "10 seconds" })
        yield* runs(1)
        yield* TestClock.setTime(5000)
        yield* a.close

        yield* TestClock.setTime(35_000) // down while 10, 20 and 30 s were due
        const b = yield* open
        yield* runs(3)
        assert.deepStrictEqual(seen.slice().sort(), [
          "d@1970-01-01T00:00:30.000Z 1@35000",
          "flaky 1@0",
          "flaky 2@35000"
        ])
        const [info] = yield* b.scheduler.schedules
        assert.deepStrictEqual([info!.id, DateTime.toEpochMillis(info!.nextRun), info!.skippedMissed], ["d", 40_000, 2])
        yield* b.close
      })
    ))

  it.scoped("tasks and task: pages in (dueAt, submission) order (the (due_ms, seq) index; the ids do not order them), filters", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const prefix = `ray_test_${process.pid}_${Date.now() % 100000}_l_`
        const { open, sql } = yield* pgStore(prefix)
        const a = yield* open(TaskConsumer.layer({ name: "s", consume: () => Effect.void }))
        const ids = ["b", "B", "a", "C", "_", "a-1", "a1", "A"]
        yield* a.scheduler.submitAll(
          yield* Effect.forEach(ids, (id, i) => Task.create({ id, source: i < 6 ? "s" : "t", scheduleAt: at(5000) }))
        )
        yield* a.scheduler.submit(yield* Task.create({ id: "early", source: "s", scheduleAt: at(4000) }))
        const listed: Array<string> = []
        let cursor: string | undefined
        for (let i = 0; i < 10; i++) {
          const page = yield* a.scheduler.tasks({ limit: 2, cursor })
          listed.push(...page.tasks.map((info) => info.task.id))
          if (page.nextCursor._tag === "None") break
          cursor = page.nextCursor.value
        }
        assert.deepStrictEqual(listed, ["early", ...ids])
        const t = yield* a.scheduler.tasks({ source: "t", dueBefore: at(5001) })
        assert.deepStrictEqual(t.tasks.map((info) => [info.task.id, info.state, info.attempt]), [
          ["a1", "pending", 1],
          ["A", "pending", 1]
        ])
        const found = yield* a.scheduler.task("a-1")
        assert.deepStrictEqual(found._tag === "Some" ? found.value.task.source : undefined, "s")
        assert.strictEqual((yield* a.scheduler.task("nope"))._tag, "None")
        // listing added no index to the store (schema version 3: the indexes of version 2)
        const indexes = yield* sql<{ indexname: string }>`SELECT indexname FROM pg_indexes
          WHERE tablename = ${`${prefix}tasks`} ORDER BY indexname`
        assert.deepStrictEqual(indexes.map((r) => r.indexname.slice(prefix.length)), [
          "tasks_done",
          "tasks_due",
          "tasks_h",
          "tasks_v2_pkey"
        ])
        assert.deepStrictEqual(
          (yield* sql<{ v: number }>`SELECT MAX(version) AS v FROM ${sql(`${prefix}schema`)}`).map((r) => Number(r.v)),
          [3]
        )
        yield* a.close
      })
    ))
})
