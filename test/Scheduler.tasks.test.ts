/**
 * Listing tasks: `tasks(query)` (keyset pages in (dueAt, submission) order,
 * with filters) and `task(id)`, under the `TestClock`. A conformance suite:
 * it runs against the memory layer and the SQL layer (vitest.config.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Deferred, Effect, Option, Schedule, TestClock } from "effect"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import { Task } from "../src/scheduler/Task.js"
import type * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { layerUnderTest, namedTask, nameOf, recordingConsumer, type Run, settle, setup, uid } from "./support.js"

const idle = (name: string) => ({ name, consume: () => Effect.void })

/**
 * The tasks in the order `tasks` lists them, `submitted` in submission
 * order: due instant, then submission order (a stable sort by due instant).
 */
const inOrder = (submitted: ReadonlyArray<Task>): Array<Task> =>
  [...submitted].sort((a, b) => a.dueMillis - b.dueMillis)

/** Every page of `query`, following `nextCursor` (at most 100 pages). */
const allPages = (scheduler: Scheduler.SchedulerService, query: Scheduler.TaskQuery = {}) =>
  Effect.gen(function*() {
    const pages: Array<ReadonlyArray<Scheduler.TaskInfo>> = []
    let cursor: string | undefined
    do {
      const page = yield* scheduler.tasks({ ...query, cursor })
      pages.push(page.tasks)
      cursor = Option.getOrUndefined(page.nextCursor)
    } while (cursor !== undefined && pages.length < 100)
    return pages
  })

/** A task's info as [name, state, due ms, attempt]. */
const brief = (info: Scheduler.TaskInfo): Array<string | number> => [
  nameOf(info.task.id),
  info.state,
  DateTime.toEpochMillis(info.dueAt),
  info.attempt
]

const base64url = (text: string) => Buffer.from(text).toString("base64url")

describe("Scheduler.tasks and Scheduler.task", () => {
  it.scoped("250 tasks in pages of 100: each exactly once, in (dueAt, submission) order; the last page has no cursor", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([idle("a"), idle("b")])
      const tasks: Array<Task> = []
      for (let i = 0; i < 250; i++) {
        // 7 instants only: most tasks share their instant with others, the submission orders them
        tasks.push(
          yield* Task.create({
            source: i % 2 === 0 ? "a" : "b",
            args: { i },
            scheduleAt: DateTime.unsafeMake(10_000 + 1000 * ((i * 3) % 7))
          })
        )
      }
      yield* scheduler.submitAll(tasks.slice(120))
      yield* scheduler.submitAll(tasks.slice(0, 120))
      const expected = inOrder([...tasks.slice(120), ...tasks.slice(0, 120)])
      const byId = [...tasks].sort((a, b) => a.dueMillis - b.dueMillis || (a.id < b.id ? -1 : 1))
      assert.notDeepEqual(expected.map((t) => t.id), byId.map((t) => t.id), "the ids (random) do not give the order")

      const pages = yield* allPages(scheduler, { limit: 100 })
      assert.deepStrictEqual(pages.map((p) => p.length), [100, 100, 50])
      const listed = pages.flat()
      assert.deepStrictEqual(listed.map((info) => info.task.id), expected.map((t) => t.id), "each once, in order")
      for (const [i, info] of listed.entries()) {
        const task = expected[i]!
        assert.deepStrictEqual(
          [info.state, info.attempt, info.task.source, info.task.args],
          ["pending", 1, task.source, task.args]
        )
        assert.isTrue(DateTime.Equivalence(info.dueAt, task.scheduleAt))
        assert.isTrue(DateTime.Equivalence(info.task.scheduleAt, task.scheduleAt))
      }

      // the default page size is 100; a total that is a multiple of the page size ends without a cursor
      const first = yield* scheduler.tasks()
      assert.strictEqual(first.tasks.length, 100)
      assert.isTrue(Option.isSome(first.nextCursor))
      const fifties = yield* allPages(scheduler, { limit: 50 })
      assert.deepStrictEqual(fifties.map((p) => p.length), [50, 50, 50, 50, 50])
      const all = yield* scheduler.tasks({ limit: 1000 })
      assert.strictEqual(all.tasks.length, 250)
      assert.isTrue(Option.isNone(all.nextCursor))
      // nothing was started by reading
      assert.strictEqual(yield* scheduler.pending, 250)
    }))

  it.scoped("a cursor names a position (dueAt, submission): the next page starts after it, also for tasks added since", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([idle("s")])
      const at = (id: string, ms: number) => Task.create({ id, source: "s", scheduleAt: DateTime.unsafeMake(ms) })
      yield* scheduler.submitAll([
        yield* at("z", 5000),
        yield* at("a", 5000),
        yield* at("m", 5000),
        yield* at("b", 9000)
      ])
      const page = yield* scheduler.tasks({ limit: 2 })
      assert.deepStrictEqual(page.tasks.map((i) => i.task.id), ["z", "a"], "submission order, not the ids'")
      // a task added at an instant before the cursor's position is not on the next page; one after it is
      yield* scheduler.submitAll([yield* at("c", 5000), yield* at("y", 4000), yield* at("n", 9000)])
      const next = yield* scheduler.tasks({ limit: 2, cursor: Option.getOrThrow(page.nextCursor) })
      assert.deepStrictEqual(next.tasks.map((i) => i.task.id), ["m", "c"])
      const last = yield* scheduler.tasks({ limit: 2, cursor: Option.getOrThrow(next.nextCursor) })
      assert.deepStrictEqual(last.tasks.map((i) => i.task.id), ["b", "n"])
      assert.isTrue(Option.isNone(last.nextCursor))
      // the cursor is [due ms, sequence number]; a well-formed cursor made by hand is a position too
      const [due, seq] = JSON.parse(Buffer.from(Option.getOrThrow(page.nextCursor), "base64url").toString())
      assert.strictEqual(due, 5000)
      assert.isTrue(Number.isSafeInteger(seq) && seq >= 0)
      const handMade = yield* scheduler.tasks({ cursor: base64url(JSON.stringify([5000, Number.MAX_SAFE_INTEGER])) })
      assert.deepStrictEqual(handMade.tasks.map((i) => i.task.id), ["b", "n"])
      const before = yield* scheduler.tasks({ cursor: base64url(JSON.stringify([4000, 0])), limit: 3 })
      assert.deepStrictEqual(before.tasks.map((i) => i.task.id), ["y", "z", "a"])
      assert.isTrue(Option.isNone(handMade.nextCursor))
    }))

  it.scoped("a task waiting for its retry keeps its place in the submission order, at the retry's instant; a rescheduled one is placed as it is dispatched", () =>
    Effect.gen(function*() {
      const flaky: TaskConsumer.TaskConsumerOptions<string, never> = {
        name: "flaky",
        retry: Schedule.spaced("5 seconds"),
        consume: () =>
          Effect.gen(function*() {
            const run = yield* Effect.orDie(TaskRun.current)
            if (run.attempt === 1) return yield* Effect.fail("not yet")
          })
      }
      const runs: Array<Run> = []
      const { scheduler } = yield* setup([recordingConsumer("s", runs), flaky])
      yield* TestClock.setTime(1000)
      yield* scheduler.submitAll([
        yield* namedTask("w", "s", 6000),
        yield* namedTask("x", "s", 8000),
        yield* namedTask("r", "flaky", 1000),
        yield* namedTask("y", "s", 6000)
      ])
      yield* settle
      /** Every task, a page of one at a time (each page after the previous one's cursor). */
      const oneByOne = Effect.map(allPages(scheduler, { limit: 1 }), (pages) => pages.flat().map(brief))
      // r failed at 1000 and waits for 6000: between w and y (submitted before and after it), as it is dispatched
      const expected = [
        ["w", "pending", 6000, 1],
        ["r", "pending", 6000, 2],
        ["y", "pending", 6000, 1],
        ["x", "pending", 8000, 1]
      ]
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks.map(brief), expected)
      assert.deepStrictEqual(yield* oneByOne, expected)

      // x moved to 6000: after y in the memory layer (as if submitted now), after w in the SQL layer (its row keeps its seq)
      assert.isTrue(yield* scheduler.reschedule(uid("x"), DateTime.unsafeMake(6000)))
      const moved = layerUnderTest === "sql" ? ["w", "x", "r", "y"] : ["w", "r", "y", "x"]
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks.map((i) => nameOf(i.task.id)), moved)
      assert.deepStrictEqual((yield* oneByOne).map(([name]) => name), moved)
      // ... which is the order they start in (source s, one at a time)
      yield* TestClock.setTime(6000)
      yield* settle
      assert.deepStrictEqual(runs.map((run) => nameOf(run.id)), moved.filter((name) => name !== "r"))
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks, [])
    }))

  it.scoped("filters: source (exact), state and dueBefore (exclusive), also across pages", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([idle("a"), idle("ab")])
      const tasks: Array<Task> = []
      for (let i = 0; i < 30; i++) tasks.push(yield* namedTask(`a${i}`, "a", 1000 * (i + 1)))
      for (let i = 0; i < 10; i++) tasks.push(yield* namedTask(`ab${i}`, "ab", 1000 * (i + 1) + 500))
      yield* scheduler.submitAll(tasks)
      const ids = (pages: ReadonlyArray<ReadonlyArray<Scheduler.TaskInfo>>) => pages.flat().map((i) => i.task.id)

      const ofA = yield* allPages(scheduler, { source: "a", limit: 7 })
      assert.deepStrictEqual(ofA.map((p) => p.length), [7, 7, 7, 7, 2])
      assert.deepStrictEqual(ids(ofA), inOrder(tasks.filter((t) => t.source === "a")).map((t) => t.id))
      assert.deepStrictEqual(ids(yield* allPages(scheduler, { source: "nobody" })), [])

      const early = yield* allPages(scheduler, { dueBefore: DateTime.unsafeMake(5000), limit: 3 })
      assert.deepStrictEqual(ids(early).map(nameOf), ["a0", "ab0", "a1", "ab1", "a2", "ab2", "a3", "ab3"])
      const earlyAb = yield* scheduler.tasks({ source: "ab", dueBefore: DateTime.unsafeMake(3500) })
      assert.deepStrictEqual(earlyAb.tasks.map((i) => nameOf(i.task.id)), ["ab0", "ab1"], "3500 itself is excluded")

      assert.strictEqual(ids(yield* allPages(scheduler, { state: "pending", limit: 1000 })).length, 40)
      assert.deepStrictEqual(ids(yield* allPages(scheduler, { state: "running" })), [])
    }))

  it.scoped("a running task shows as running (at its run's attempt) until its run ends; task(id) for running, pending and unknown ids", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const { scheduler } = yield* setup([{ name: "slow", consume: () => Deferred.await(release) }])
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined)) // a failed assertion does not hang the stop
      yield* scheduler.submitAll([
        yield* namedTask("run", "slow", 0),
        yield* namedTask("wait", "slow", 0), // due, waiting for the source's one permit
        yield* namedTask("later", "slow", 5000)
      ])
      yield* settle
      const all = yield* scheduler.tasks()
      assert.deepStrictEqual(all.tasks.map(brief), [
        ["run", "running", 0, 1],
        ["wait", "pending", 0, 1],
        ["later", "pending", 5000, 1]
      ])
      assert.deepStrictEqual((yield* scheduler.tasks({ state: "running" })).tasks.map(brief), [[
        "run",
        "running",
        0,
        1
      ]])
      assert.deepStrictEqual(
        (yield* scheduler.tasks({ state: "pending" })).tasks.map(brief),
        [["wait", "pending", 0, 1], ["later", "pending", 5000, 1]]
      )
      assert.deepStrictEqual(
        (yield* scheduler.tasks({ state: "pending", limit: 1 })).tasks.map(brief),
        [["wait", "pending", 0, 1]],
        "a page of pending tasks skips the running one"
      )

      assert.deepStrictEqual(
        Option.map(yield* scheduler.task(uid("run")), brief),
        Option.some(["run", "running", 0, 1])
      )
      assert.deepStrictEqual(
        Option.map(yield* scheduler.task(uid("later")), brief),
        Option.some(["later", "pending", 5000, 1])
      )
      const later = Option.getOrThrow(yield* scheduler.task(uid("later")))
      assert.deepStrictEqual([later.task.source, later.task.args], ["slow", {}])
      assert.deepStrictEqual(yield* scheduler.task(uid("nope")), Option.none())
      assert.deepStrictEqual(yield* scheduler.task(""), Option.none())

      yield* Deferred.succeed(release, undefined)
      yield* settle
      assert.deepStrictEqual(yield* scheduler.task(uid("run")), Option.none(), "its run ended")
      assert.deepStrictEqual(yield* scheduler.task(uid("wait")), Option.none())
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks.map(brief), [["later", "pending", 5000, 1]])
    }))

  it.scoped("a failed task waiting for its retry is pending at attempt 2, due at the retry's instant; then running at attempt 2", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const flaky: TaskConsumer.TaskConsumerOptions<string, never> = {
        name: "flaky",
        retry: Schedule.spaced("5 seconds"),
        consume: () =>
          Effect.gen(function*() {
            const run = yield* Effect.orDie(TaskRun.current)
            if (run.attempt === 1) return yield* Effect.fail("not yet")
            yield* Deferred.await(release)
          })
      }
      const { scheduler } = yield* setup([flaky])
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      yield* TestClock.setTime(1000)
      yield* scheduler.submit(yield* namedTask("r", "flaky", 1000))
      yield* settle
      const waiting = Option.getOrThrow(yield* scheduler.task(uid("r")))
      assert.deepStrictEqual(brief(waiting), ["r", "pending", 6000, 2])
      assert.strictEqual(waiting.task.dueMillis, 6000, "the task's scheduleAt is the retry's instant")
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks.map(brief), [["r", "pending", 6000, 2]])
      assert.deepStrictEqual((yield* scheduler.tasks({ state: "pending" })).tasks.map(brief), [[
        "r",
        "pending",
        6000,
        2
      ]])
      assert.deepStrictEqual((yield* scheduler.tasks({ dueBefore: DateTime.unsafeMake(6000) })).tasks, [])
      assert.strictEqual((yield* scheduler.tasks({ dueBefore: DateTime.unsafeMake(6001) })).tasks.length, 1)

      yield* TestClock.setTime(6000)
      yield* settle
      assert.deepStrictEqual(Option.map(yield* scheduler.task(uid("r")), brief), Option.some(["r", "running", 6000, 2]))
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks.map(brief), [["r", "running", 6000, 2]])
      yield* Deferred.succeed(release, undefined)
      yield* settle
      assert.deepStrictEqual(yield* scheduler.task(uid("r")), Option.none())
      assert.deepStrictEqual((yield* scheduler.tasks()).tasks, [])
    }))

  it.scoped("an invalid query is an InvalidTaskQueryError naming the field: limit 0, 1001, 1.5; a malformed or forged cursor, or another layer's; state, source, dueBefore", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([idle("s")])
      yield* scheduler.submit(yield* namedTask("t", "s", 1000))
      const fails = (query: Scheduler.TaskQuery) => Effect.flip(scheduler.tasks(query))

      for (const limit of [0, 1001, 1.5, -1, NaN]) {
        const error = yield* fails({ limit })
        assert.instanceOf(error, Scheduler.InvalidTaskQueryError)
        assert.strictEqual(error._tag, "InvalidTaskQueryError")
        assert.strictEqual(error.field, "limit")
        assert.strictEqual(error.message, `Invalid task query: limit must be an integer from 1 to 1000, got ${limit}`)
      }
      assert.strictEqual((yield* scheduler.tasks({ limit: 1 })).tasks.length, 1, "1 is a valid limit")
      assert.strictEqual((yield* scheduler.tasks({ limit: 1000 })).tasks.length, 1, "and 1000")

      const cursors = [
        "not a cursor!",
        "",
        base64url("{\"due\":1000}"),
        base64url("[1.5,\"t\"]"),
        base64url("[\"t\",1000]"),
        base64url("[1000,\"\"]"),
        base64url("[1000,\"t\",3]"),
        base64url("[1000,\"t\"") // truncated
      ]
      // this layer's cursors are [due ms, sequence number]: malformed ones, and the cluster layer's [due ms, task id]
      cursors.push(
        base64url("[1000,\"t\"]"),
        base64url("[1000,\"3\"]"),
        base64url("[1000,-1]"),
        base64url("[1000,1.5]"),
        base64url("[1.5,3]"),
        base64url("[1000,3,4]"),
        base64url("[1000]"),
        base64url("[1000,3") // truncated
      )
      for (const cursor of cursors) {
        const error = yield* fails({ cursor })
        assert.strictEqual(error.field, "cursor", cursor)
        assert.match(error.message, /^Invalid task query: cursor is not a cursor returned as nextCursor/)
      }

      // for callers without the types
      const loose = (query: Record<string, unknown>) => fails(query as Scheduler.TaskQuery)
      assert.deepStrictEqual(
        [
          (yield* loose({ state: "done" })).field,
          (yield* loose({ source: "" })).field,
          (yield* loose({ dueBefore: "tomorrow" })).field,
          (yield* loose({ limit: "10" })).field
        ],
        ["state", "source", "dueBefore", "limit"]
      )
      assert.match((yield* loose({ state: "done" })).message, /state must be "pending" or "running", got "done"/)
    }))
})
