/**
 * LIVE (real time, the local PostgreSQL): the cluster layer's source entity
 * (src/scheduler/internal/cluster/source.ts, issue 11, work in progress) on
 * one runner: tasks are persisted messages delivered not before their
 * instant, a task id submitted twice runs once, and a source never runs
 * more tasks at once than its consumer's concurrency. Skipped with a reason
 * when PostgreSQL is absent; a failure under `CI=true`
 * (test/services/postgres.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Layer, Option, Schedule } from "effect"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Source from "../src/scheduler/internal/cluster/source.js"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import * as TaskRun from "../src/scheduler/TaskRun.js"
import { dropTablesAtEnd, freshPrefix, runnerLayer } from "./clusterSupport.js"
import { freePort } from "./e2e/support.js"
import { checkPostgres } from "./services/postgres.js"

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
 * scope closes) with `consumers`, reporting each run to `reports`: with the
 * due timer (the default poll, 10 s), or without it and a poll every
 * `pollMillis`.
 */
const runner = (
  consumers: Layer.Layer<never, unknown, ConsumerRegistry.ConsumerRegistry>,
  reports: Array<Source.RunReport>,
  options: { readonly pollMillis?: number } = {}
) =>
  Effect.gen(function*() {
    const prefix = freshPrefix("t")
    yield* dropTablesAtEnd(prefix)
    return runnerLayer({
      prefix,
      port: yield* Effect.promise(freePort),
      pollMillis: options.pollMillis,
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

describe.skipIf(!available)("LIVE: the cluster source entity on PostgreSQL (one runner)", () => {
  it.live("tasks run once each, not before their instant, within their source's limit", () =>
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
      const Runner = yield* runner(Layer.mergeAll(consumer("one", 1), consumer("two", 2)), reports, { pollMillis: 200 })
      yield* Effect.gen(function*() {
        const client = yield* Source.SourceEntity.client
        const now = yield* DateTime.now
        const tasks: Array<Task> = []
        for (let i = 0; i < 12; i++) {
          tasks.push(
            yield* Task.create({
              source: i % 2 === 0 ? "one" : "two",
              args: { i },
              scheduleAt: DateTime.add(now, { millis: 500 + 50 * i })
            })
          )
        }
        for (const task of [...tasks, ...tasks.slice(0, 3)]) { // three submitted twice
          yield* client(task.source).Run(new Source.RunMessage({ task, attempt: 1 }), { discard: true })
        }
        yield* waitForRuns(reports, tasks.length)
        yield* Effect.sleep("500 millis") // a duplicate run would show now
        assert.strictEqual(reports.length, tasks.length, "each task ran, once")
        assert.deepStrictEqual(new Set(reports.map((r) => r.task.id)).size, tasks.length)
        for (const report of reports) {
          assert.strictEqual(report.result, "succeeded")
          assert.isAtLeast(report.startedMillis, DateTime.toEpochMillis(report.task.scheduleAt), "never early")
        }
        assert.deepStrictEqual(attempts, tasks.map(() => 1), "TaskRun: the first run of each")
        const one = reports.filter((r) => r.task.source === "one")
        const two = reports.filter((r) => r.task.source === "two")
        assert.strictEqual(maxOverlap(one), 1, "source one: one at a time")
        assert.strictEqual(maxOverlap(two), 2, "source two: two at a time, and it used them")
        const lateness = reports.map((r) => r.startedMillis - DateTime.toEpochMillis(r.task.scheduleAt))
        console.log(`cluster source entity, poll 200 ms: lateness max ${Math.max(...lateness)} ms`)
      }).pipe(Effect.provide(Runner), Effect.scoped)
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "with the due timer, a task is read at its instant, not at the next poll (10 s)",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const Runner = yield* runner(
          TaskConsumer.layer({ name: "s", concurrency: 10, consume: () => Effect.void }),
          reports
        )
        yield* Effect.gen(function*() {
          const client = yield* Source.SourceEntity.client
          yield* Effect.sleep("1 second") // the runner holds its shards
          const now = yield* DateTime.now
          const tasks = yield* Effect.forEach(
            [1000, 1500, 2000, 2500, 3000],
            (millis) => Task.create({ source: "s", scheduleAt: DateTime.add(now, { millis }) })
          )
          // sent in reverse order: each later send arms an earlier wake-up
          for (const task of [...tasks].reverse()) {
            yield* client("s").Run(new Source.RunMessage({ task, attempt: 1 }), { discard: true })
          }
          yield* waitForRuns(reports, tasks.length)
          assert.strictEqual(reports.length, tasks.length)
          const lateness = reports.map((r) => r.startedMillis - DateTime.toEpochMillis(r.task.scheduleAt)).sort((
            a,
            b
          ) => a - b)
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
    "a failed run is retried by its consumer's retry schedule as a new message, then ends for good; a defect is not retried",
    () =>
      Effect.gen(function*() {
        const reports: Array<Source.RunReport> = []
        const attempts = new Map<string, Array<number>>()
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
              return yield* Effect.fail("not yet")
            })
        })
        const Runner = yield* runner(flaky, reports)
        yield* Effect.gen(function*() {
          const client = yield* Source.SourceEntity.client
          const now = yield* DateTime.now
          const tasks = yield* Effect.forEach(["always", "recovers", "defect"], (kind) =>
            Task.create({ id: kind, source: "flaky", args: { kind }, scheduleAt: DateTime.add(now, { millis: 500 }) }))
          for (const task of tasks) {
            yield* client("flaky").Run(new Source.RunMessage({ task, attempt: 1 }), { discard: true })
          }
          yield* waitForRuns(reports, 6)
          yield* Effect.sleep("1 second") // nothing more runs
          const of = (id: string) =>
            reports.filter((r) =>
              r.task.id === id
            )
          assert.deepStrictEqual(of("always").map((r) => [r.attempt, r.result]), [[1, "retried"], [2, "retried"], [
            3,
            "failed"
          ]])
          assert.deepStrictEqual(of("recovers").map((r) => [r.attempt, r.result]), [[1, "retried"], [2, "succeeded"]])
          assert.deepStrictEqual(
            of("defect").map((r) => [r.attempt, r.result]),
            [[1, "failed"]],
            "a defect: not retried"
          )
          assert.deepStrictEqual(attempts.get("always"), [1, 2, 3], "TaskRun.attempt")
          const starts = of("always").map((r) => r.startedMillis)
          for (let i = 1; i < starts.length; i++) {
            const gap = starts[i]! - starts[i - 1]!
            assert.isAtLeast(gap, 300, "the schedule's delay after the failure (the run itself takes no time)")
            assert.isBelow(gap, 5000, "and at its instant (the due timer), not at the next poll")
          }
        }).pipe(Effect.provide(Runner), Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )
})
