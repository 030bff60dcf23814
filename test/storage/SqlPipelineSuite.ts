/**
 * The `SqlPipeline` on a real database, run by SqlPipeline.test.ts (SQLite)
 * and SqlPipeline.pg.test.ts (PostgreSQL): dedup, idempotent storage,
 * failures of the stream, bad events, batches.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Data, DateTime, Effect, LogLevel, Stream } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import { Items } from "../../src/app/storage/Items.js"
import type { Json } from "../../src/scheduler/Task.js"
import { captureLogs } from "../support.js"
import type { Backend } from "./tempDb.js"

class Boom extends Data.TaggedError("Boom")<{ readonly at: number }> {}

export const event = (key: string, source = "feed", raw: Json = { title: key }): RawEvent => ({
  source,
  key,
  raw,
  fetchedAt: DateTime.unsafeMake(Date.UTC(2024, 0, 1)),
  debug: false
})

export const events = (n: number, prefix = "k"): Array<RawEvent> =>
  Array.from({ length: n }, (_, i) => event(`${prefix}${i}`))

export const run = <E>(stream: Stream.Stream<RawEvent, E>) =>
  Effect.flatMap(Pipeline, (pipeline) => pipeline.run(stream))

export const storedKeys = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rowid = sql.onDialectOrElse({ pg: () => sql.literal("id"), orElse: () => sql.literal("rowid") })
  const rows = yield* sql<{ source: string; key: string }>`SELECT source, key FROM items ORDER BY ${rowid}`
  return rows.map((row) => `${row.source}/${row.key}`)
})

/** Registers the suite on `backend`. */
export const pipelineSuite = (backend: Backend): void => {
  /** Runs `effect` against the storage services on a fresh database of `backend`. */
  const withDb = <A, E>(
    options: SqlPipeline.SqlPipelineOptions,
    effect: Effect.Effect<A, E, Pipeline | Items | SqlClient.SqlClient>
  ) => Effect.flatMap(backend.fresh, (db) => Effect.provide(effect, db.services(options)))

  describe(`SqlPipeline (${backend.name})`, () => {
    it.scoped("stores new events and counts duplicates within a run", () =>
      withDb(
        {},
        Effect.gen(function*() {
          const result = yield* run(
            Stream.make(event("a"), event("b"), event("a"), event("a", "other"), event("b"), event("c"))
          )
          assert.deepStrictEqual(result, { received: 6, duplicates: 2, stored: 4 })
          assert.deepStrictEqual(yield* storedKeys, ["feed/a", "feed/b", "other/a", "feed/c"])
        })
      ))

    it.scoped("dedups across runs of the same layer", () =>
      withDb(
        { batchSize: 3 },
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* run(Stream.fromIterable(events(10))), {
            received: 10,
            duplicates: 0,
            stored: 10
          })
          assert.deepStrictEqual(yield* run(Stream.fromIterable(events(12))), {
            received: 12,
            duplicates: 10,
            stored: 2
          })
          assert.strictEqual(yield* Effect.flatMap(Items, (items) => items.count), 12)
        })
      ))

    it.scoped("storage is idempotent: a fresh dedup stores nothing twice", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        const once = run(Stream.fromIterable(events(250))).pipe(Effect.provide(db.services()))
        assert.deepStrictEqual(yield* once, { received: 250, duplicates: 0, stored: 250 })
        assert.deepStrictEqual(yield* once, { received: 250, duplicates: 0, stored: 0 })
        // Two pipelines (two dedups) on one database, concurrently.
        const runX = SqlPipeline.make().pipe(Effect.flatMap((p) => p.run(Stream.fromIterable(events(300, "x")))))
        const results = yield* Effect.provide(
          Effect.all([runX, runX], { concurrency: 2 }),
          db.database()
        )
        assert.strictEqual(results[0].stored + results[1].stored, 300)
        assert.deepStrictEqual(results.map((r) => r.received), [300, 300])
      }))

    it.scoped("the dedup capacity bounds memory: evicted pairs are not duplicates, storage still dedups", () =>
      withDb(
        { dedupCapacity: 2, batchSize: 1 },
        Effect.gen(function*() {
          const result = yield* run(Stream.make(event("a"), event("b"), event("c"), event("a"), event("c")))
          // "a" was evicted by "c": not a duplicate for the dedup, but not stored again.
          assert.deepStrictEqual(result, { received: 5, duplicates: 1, stored: 3 })
          assert.deepStrictEqual(yield* storedKeys, ["feed/a", "feed/b", "feed/c"])
        })
      ))

    it.scoped("a stream failure propagates its error and keeps what was read before", () =>
      withDb(
        { batchSize: 2 },
        Effect.gen(function*() {
          const failing = Stream.fromIterable(events(5)).pipe(Stream.concat(Stream.fail(new Boom({ at: 5 }))))
          const error = yield* Effect.flip(run(failing))
          assert.deepStrictEqual(error, new Boom({ at: 5 }))
          // Two full batches plus the partial one read before the failure.
          assert.deepStrictEqual(yield* storedKeys, ["feed/k0", "feed/k1", "feed/k2", "feed/k3", "feed/k4"])
          // The failure mid-batch of an effectful stream: earlier batches stay.
          const midway = Stream.fromIterable(events(7, "m")).pipe(
            Stream.mapEffect((e) => e.key === "m5" ? Effect.fail(new Boom({ at: 5 })) : Effect.succeed(e))
          )
          assert.deepStrictEqual(yield* Effect.flip(run(midway)), new Boom({ at: 5 }))
          assert.strictEqual(yield* Effect.flatMap(Items, (items) => items.count), 10)
          // The events stored before a failure are duplicates for the next run.
          assert.deepStrictEqual(yield* run(Stream.fromIterable(events(7, "m"))), {
            received: 7,
            duplicates: 5,
            stored: 2
          })
        })
      ))

    it.scoped("skips bad events with a warning and stores the rest", () =>
      withDb(
        {},
        captureLogs((logs) =>
          Effect.gen(function*() {
            const circular: Record<string, unknown> = {}
            circular.self = circular
            const bad: Array<unknown> = [
              event("big", "feed", { n: 1n } as unknown as Json),
              event("circular", "feed", circular as unknown as Json),
              { ...event("undef"), raw: undefined },
              event("nan", "feed", Number.NaN),
              { ...event("no-date"), fetchedAt: "2024-01-01" },
              { ...event("x"), key: 42 },
              null
            ]
            const stream = Stream.fromIterable([event("ok1"), ...bad, event("ok2")] as Array<RawEvent>)
            const result = yield* run(stream)
            assert.deepStrictEqual(result, { received: 9, duplicates: 0, stored: 2 })
            assert.deepStrictEqual(yield* storedKeys, ["feed/ok1", "feed/ok2"])
            const warnings = logs.filter((log) => log.level === LogLevel.Warning)
            assert.strictEqual(warnings.length, 7)
            assert.deepStrictEqual(warnings.map((w) => w.annotations["key"]), [
              "big",
              "circular",
              "undef",
              "nan",
              "no-date",
              "<number>",
              "<null>"
            ])
            assert.match(String(warnings[0]?.annotations["reason"]), /bigint/)
          })
        )
      ))

    it.scoped("writes raw JSON, timestamps and the debug flag", () =>
      withDb(
        {},
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* run(Stream.make({ ...event("a", "feed", { t: "é", n: [1, null] }), debug: true }))
          const rows = yield* sql<Record<string, unknown>>`SELECT * FROM items`
          if (backend.name === "PostgreSQL") {
            // items.id is BIGINT, which the client leaves as text (no global int8 parser)
            assert.deepStrictEqual(rows.map(({ id }) => typeof id), ["string"])
            for (const row of rows) delete row.id
          }
          assert.deepStrictEqual(rows, [{
            source: "feed",
            key: "a",
            raw: "{\"t\":\"é\",\"n\":[1,null]}",
            fetched_at: "2024-01-01T00:00:00.000Z",
            debug: 1,
            stored_at: "1970-01-01T00:00:00.000Z" // TestClock
          }])
        })
      ))

    it.scoped("an empty stream stores nothing", () =>
      withDb(
        {},
        Effect.map(
          run(Stream.empty),
          (result) => assert.deepStrictEqual(result, { received: 0, duplicates: 0, stored: 0 })
        )
      ))

    it.scoped("large batches are split into several statements in one transaction", () =>
      withDb(
        { batchSize: 1_000 },
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* run(Stream.fromIterable(events(2_500))), {
            received: 2_500,
            duplicates: 0,
            stored: 2_500
          })
        })
      ))
  })
}
