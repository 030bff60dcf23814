/**
 * The in-memory layers shipped next to the SQL ones (`JobStateStore.layerMemory`,
 * `Pipeline.layerMemory`), which the app tests use: the job state store
 * runs one suite against both implementations; the memory pipeline is
 * idempotent on (source, key) like the SQL one.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Layer, Option, Stream } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import * as Pipeline from "../../src/app/pipeline/Pipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"

const at = (iso: string): DateTime.Utc => DateTime.unsafeMake(iso)

const stores: ReadonlyArray<readonly [string, Layer.Layer<JobStateStore.JobStateStore>]> = [
  ["SqlJobStateStore", SqlJobStateStore.layer.pipe(Layer.provide(Layer.orDie(Database.layerMemory)))],
  ["JobStateStore.layerMemory", JobStateStore.layerMemory()]
]

for (const [name, layer] of stores) {
  describe(`JobStateStore: ${name}`, () => {
    it.effect("records successes and failures; lists by instance; meta values round-trip, null included", () =>
      Effect.gen(function*() {
        const store = yield* JobStateStore.JobStateStore
        assert.deepStrictEqual(yield* store.get("b"), Option.none())
        yield* store.recordFailure("b", at("2024-05-01T09:00:00Z"), "quota")
        yield* store.recordSuccess("a", at("2024-05-01T10:00:00Z"))
        yield* store.recordSuccess("a", at("2024-05-01T11:00:00Z"))
        yield* store.recordFailure("a", at("2024-05-01T12:00:00Z"), "timeout")
        assert.deepStrictEqual(yield* store.list, [
          {
            instance: "a",
            lastRunAt: Option.some(at("2024-05-01T11:00:00Z")),
            runCount: 2,
            errorCount: 1,
            lastError: Option.some("timeout"),
            lastErrorAt: Option.some(at("2024-05-01T12:00:00Z"))
          },
          {
            ...JobStateStore.emptyState("b"),
            errorCount: 1,
            lastError: Option.some("quota"),
            lastErrorAt: Option.some(at("2024-05-01T09:00:00Z"))
          }
        ])
        yield* store.setMeta("a", "http", { etag: "x" })
        yield* store.setMeta("a", "none", null)
        assert.deepStrictEqual(yield* store.getMeta("a", "http"), Option.some({ etag: "x" }))
        assert.deepStrictEqual(yield* store.getMeta("a", "none"), Option.some(null))
        assert.deepStrictEqual(yield* store.getMeta("b", "http"), Option.none())
      }).pipe(Effect.provide(layer)))
  })
}

const event = (source: string, key: string): RawEvent => ({
  source,
  key,
  raw: { key },
  fetchedAt: at("2024-05-01T00:00:00Z"),
  debug: false
})

describe("Pipeline.layerMemory", () => {
  it.effect("stores each (source, key) once and counts the others as duplicates", () =>
    Effect.gen(function*() {
      const stored: Array<RawEvent> = []
      const pipeline = yield* Effect.provide(Pipeline.Pipeline, Pipeline.layerMemory(stored))
      const first = yield* pipeline.run(Stream.make(event("s", "1"), event("s", "2"), event("s", "1")))
      assert.deepStrictEqual(first, { received: 3, duplicates: 1, stored: 2 })
      const again = yield* pipeline.run(Stream.make(event("s", "2"), event("t", "2")))
      assert.deepStrictEqual(again, { received: 2, duplicates: 1, stored: 1 })
      assert.deepStrictEqual(stored.map((e) => `${e.source}/${e.key}`), ["s/1", "s/2", "t/2"])
    }))

  it.effect("a failing stream fails the run; the events read before it stay stored", () =>
    Effect.gen(function*() {
      const stored: Array<RawEvent> = []
      const pipeline = yield* Effect.provide(Pipeline.Pipeline, Pipeline.layerMemory(stored))
      const result = yield* Effect.either(
        pipeline.run(Stream.concat(Stream.make(event("s", "1")), Stream.fail("boom" as const)))
      )
      assert.deepStrictEqual(result._tag === "Left" ? result.left : undefined, "boom")
      assert.strictEqual(stored.length, 1)
    }))
})
