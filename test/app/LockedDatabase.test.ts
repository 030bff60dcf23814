/**
 * A database locked by another process (a `BEGIN IMMEDIATE` held on a raw
 * connection) while a job runs: the run waits up to `busyTimeout` without
 * blocking, then ends as a retry; the job is not lost, the failure is
 * counted and shown, and once the lock is gone the job runs and stores its
 * items. Real SQLite files, every adapter (the durable RayScheduler keeps
 * its store in the same locked file), under the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option, TestClock } from "effect"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as CollectorRunner from "../../src/app/scheduling/CollectorRunner.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Items from "../../src/app/storage/Items.js"
import { JobStateStore } from "../../src/app/storage/JobStateStore.js"
import * as Leases from "../../src/app/storage/Leases.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"
import { lockingConnection, tempDbFile } from "../storage/tempDb.js"
import { adapters, type RunRecord, scriptedCollector } from "./support.js"

for (const [name, adapter] of adapters) {
  describe(`A locked database: ${name}`, () => {
    it.scoped("a run that meets a lock held longer than busyTimeout is retried; the job keeps running", () =>
      Effect.gen(function*() {
        const filename = yield* tempDbFile
        const runs: Array<RunRecord> = []
        const collector = scriptedCollector({
          name: "job",
          intervalMinutes: 60,
          runs,
          script: (_, n) => ({ ms: n === 0 ? 1_000 : 0, events: 2 })
        })
        const storage = Layer.mergeAll(SqlJobStateStore.layer, SqlPipeline.layer(), Items.layer).pipe(
          Layer.provideMerge(Layer.orDie(Database.layer({ filename, busyTimeout: "10 seconds" })))
        )
        const context = yield* Layer.build(
          (adapter.startedOnDatabase ?? adapter.started).pipe(
            Layer.provideMerge(CollectorRunner.layer()),
            Layer.provideMerge(Layer.succeed(CollectorRunner.Collectors, [{ collector, concurrency: 1 }])),
            Layer.provideMerge(Leases.layerMemory()),
            Layer.provideMerge(storage)
          )
        )
        const scheduler = Context.get(context, SchedulerAdapter)
        const runner = Context.get(context, CollectorRunner.CollectorRunner)
        const items = Context.get(context, Items.Items)
        const store = Context.get(context, JobStateStore)

        yield* TestClock.adjust("500 millis")
        const other = lockingConnection(filename)
        other.exec("BEGIN IMMEDIATE")
        // the fetch ends; storing the items waits for the lock, then gives up; so does recording the failure
        yield* TestClock.adjust("1 second")
        for (let i = 0; i < 25; i++) yield* TestClock.adjust("1 second")
        const [info] = yield* runner.listInstances
        const outcome = Option.getOrThrow(info!.lastOutcome)
        assert.strictEqual(outcome._tag, "Retry")
        assert.match(
          outcome._tag === "Retry" ? outcome.error : "",
          /storing items failed: database is locked.*after 10s/
        )
        assert.isTrue(
          Duration.equals(outcome._tag === "Retry" ? outcome.retryAfter : Duration.zero, Duration.seconds(30))
        )
        const counters = yield* runner.counters
        assert.deepStrictEqual([counters.succeeded, counters.retried], [0, 1])
        assert.isTrue(Option.isSome((yield* scheduler.status).nextRunAt), "the next run is planned")
        other.exec("ROLLBACK")
        other.close()

        yield* TestClock.adjust("30 seconds")
        assert.strictEqual(runs.length, 2, "retried once the floor passed")
        assert.strictEqual(yield* items.count, 2)
        const state = Option.getOrThrow(yield* store.get("job"))
        assert.strictEqual(state.runCount, 1)
        assert.strictEqual(Option.getOrThrow(info!.lastOutcome)._tag, "Retry")
        const [after] = yield* runner.listInstances
        assert.strictEqual(Option.getOrThrow(after!.lastOutcome)._tag, "Succeeded")
      }))
  })
}
