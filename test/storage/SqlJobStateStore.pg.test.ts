/**
 * The `SqlJobStateStore` on PostgreSQL: the shared suite
 * (SqlJobStateStoreSuite.ts) on a fresh database per test, and upserts from
 * two clients at once (two processes recording runs of one job). Skipped
 * with a reason when PostgreSQL is absent; a failure under `CI=true`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import * as Database from "../../src/app/storage/Database.js"
import { JobStateStore } from "../../src/app/storage/JobStateStore.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"
import { checkPostgres, freshDatabase } from "../services/postgres.js"
import { jobStateStoreSuite } from "./SqlJobStateStoreSuite.js"
import { postgres } from "./tempDb.js"

const available = await checkPostgres()

describe.skipIf(!available)("on PostgreSQL", () => {
  jobStateStoreSuite(postgres("job_state"))

  it.scoped("concurrent upserts from two clients all count (ON CONFLICT is atomic)", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase("job_state_race")
      const open = Effect.map(
        Layer.build(SqlJobStateStore.layer.pipe(Layer.provide(Layer.orDie(Database.layerPg({ url }))))),
        Context.get(JobStateStore)
      )
      const a = yield* open
      const b = yield* open
      const at = DateTime.unsafeMake("2024-05-01T10:00:00Z")
      yield* Effect.all(
        Array.from({ length: 40 }, (_, i) =>
          i % 4 === 3
            ? (i % 2 === 0 ? a : b).recordFailure("rss:a", at, `failure ${i}`)
            : (i % 2 === 0 ? a : b).recordSuccess("rss:a", at)),
        { concurrency: "unbounded", discard: true }
      )
      const state = Option.getOrThrow(yield* a.get("rss:a"))
      assert.strictEqual(state.runCount, 30)
      assert.strictEqual(state.errorCount, 10)
      assert.deepStrictEqual(state.lastRunAt, Option.some(at))
    }))
})
