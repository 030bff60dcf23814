/**
 * The `SqlJobStateStore` on a real database, run by SqlJobStateStore.test.ts
 * (SQLite) and SqlJobStateStore.pg.test.ts (PostgreSQL): upserts of run
 * records, meta values, persistence across a reopen.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Exit, Option } from "effect"
import { type JobState, JobStateStore } from "../../src/app/storage/JobStateStore.js"
import type { Json } from "../../src/scheduler/Task.js"
import type { Backend } from "./tempDb.js"

const at = (iso: string): DateTime.Utc => DateTime.unsafeMake(iso)

const store = JobStateStore

const state = (fields: Partial<JobState> & { readonly instance: string }): JobState => ({
  lastRunAt: Option.none(),
  runCount: 0,
  errorCount: 0,
  lastError: Option.none(),
  lastErrorAt: Option.none(),
  ...fields
})

/** Registers the suite on `backend`. */
export const jobStateStoreSuite = (backend: Backend): void => {
  describe(`SqlJobStateStore (${backend.name})`, () => {
    it.scoped("records successes and failures (upserts)", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.gen(function*() {
          const s = yield* store
          assert.deepStrictEqual(yield* s.get("rss:a"), Option.none())
          assert.deepStrictEqual(yield* s.list, [])

          yield* s.recordSuccess("rss:a", at("2024-05-01T10:00:00Z"))
          assert.deepStrictEqual(
            yield* s.get("rss:a"),
            Option.some(state({ instance: "rss:a", lastRunAt: Option.some(at("2024-05-01T10:00:00Z")), runCount: 1 }))
          )

          yield* s.recordFailure("rss:a", at("2024-05-01T11:00:00Z"), "HTTP 503")
          yield* s.recordSuccess("rss:a", at("2024-05-01T12:00:00+02:00"))
          yield* s.recordFailure("rss:a", at("2024-05-01T13:00:00Z"), "timeout")
          assert.deepStrictEqual(
            yield* s.get("rss:a"),
            Option.some(state({
              instance: "rss:a",
              lastRunAt: Option.some(at("2024-05-01T10:00:00Z")), // 12:00+02:00
              runCount: 2,
              errorCount: 2,
              lastError: Option.some("timeout"),
              lastErrorAt: Option.some(at("2024-05-01T13:00:00Z"))
            }))
          )

          // A first failure creates the row without a lastRunAt.
          yield* s.recordFailure("search", at("2024-05-02T00:00:00Z"), "quota")
          const listed = yield* s.list
          assert.deepStrictEqual(listed.map((j) => j.instance), ["rss:a", "search"])
          assert.deepStrictEqual(
            listed[1],
            state({
              instance: "search",
              errorCount: 1,
              lastError: Option.some("quota"),
              lastErrorAt: Option.some(at("2024-05-02T00:00:00Z"))
            })
          )

          // Stored as ISO-8601 UTC text.
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql`SELECT last_run_at, last_error_at FROM job_state WHERE instance = 'rss:a'`
          assert.deepStrictEqual(rows, [{
            last_run_at: "2024-05-01T10:00:00.000Z",
            last_error_at: "2024-05-01T13:00:00.000Z"
          }])
        }).pipe(Effect.provide(db.services()))

        // Persisted across a reopen.
        const reopened = yield* Effect.flatMap(store, (s) => s.list).pipe(Effect.provide(db.services()))
        assert.deepStrictEqual(reopened.map((j) => [j.instance, j.runCount, j.errorCount]), [
          ["rss:a", 2, 2],
          ["search", 0, 1]
        ])
      }))

    it.scoped("round-trips meta values per (instance, key)", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        const etag: Json = { etag: "\"abc\"", lastModified: "Wed, 01 May 2024 10:00:00 GMT", n: [1, 2.5, null, true] }
        yield* Effect.gen(function*() {
          const s = yield* store
          assert.deepStrictEqual(yield* s.getMeta("rss:a", "http"), Option.none())
          yield* s.setMeta("rss:a", "http", etag)
          yield* s.setMeta("rss:b", "http", "other")
          yield* s.setMeta("rss:a", "cursor", 0)
          yield* s.setMeta("rss:a", "nothing", null)
          assert.deepStrictEqual(yield* s.getMeta("rss:a", "http"), Option.some(etag))
          assert.deepStrictEqual(yield* s.getMeta("rss:b", "http"), Option.some("other"))
          assert.deepStrictEqual(yield* s.getMeta("rss:a", "cursor"), Option.some(0))
          assert.deepStrictEqual(yield* s.getMeta("rss:a", "nothing"), Option.some(null))
          yield* s.setMeta("rss:a", "cursor", 42)
          assert.deepStrictEqual(yield* s.getMeta("rss:a", "cursor"), Option.some(42))
          // Meta does not create job state.
          assert.deepStrictEqual(yield* s.list, [])
        }).pipe(Effect.provide(db.services()))

        const reopened = yield* Effect.flatMap(store, (s) =>
          Effect.all([s.getMeta("rss:a", "http"), s.getMeta("rss:a", "cursor")]))
          .pipe(Effect.provide(db.services()))
        assert.deepStrictEqual(reopened, [Option.some(etag), Option.some(42)])
      }))

    it.scoped("a value that is not JSON at run time is a defect", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        const exit = yield* Effect.flatMap(store, (s) => s.setMeta("i", "k", { n: 1n } as unknown as Json)).pipe(
          Effect.provide(db.services()),
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.exists((c) => c._tag === "Die")))
      }))
  })
}
