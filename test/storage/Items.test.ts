import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Stream, TestClock } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import { Items } from "../../src/app/storage/Items.js"
import { services, tempDbFile } from "./tempDb.js"

const fetchedAt = DateTime.unsafeMake("2024-05-01T08:00:00Z")

const event = (source: string, key: string, debug = false): RawEvent => ({
  source,
  key,
  raw: { key, tags: ["x"], score: 1.5 },
  fetchedAt,
  debug
})

describe("Items", () => {
  it.scoped("counts, counts by source and lists the most recently stored first", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
      yield* Effect.gen(function*() {
        const items = yield* Items
        const pipeline = yield* Pipeline
        assert.strictEqual(yield* items.count, 0)
        assert.deepStrictEqual(yield* items.countBySource, [])
        assert.deepStrictEqual(yield* items.recent(10), [])

        yield* TestClock.setTime(Date.UTC(2024, 4, 1, 9))
        yield* pipeline.run(Stream.make(event("rss:b", "1"), event("rss:b", "2"), event("search", "1", true)))
        yield* TestClock.adjust(Duration.minutes(5))
        yield* pipeline.run(Stream.make(event("rss:a", "1")))

        assert.strictEqual(yield* items.count, 4)
        assert.deepStrictEqual(yield* items.countBySource, [
          { source: "rss:a", count: 1 },
          { source: "rss:b", count: 2 },
          { source: "search", count: 1 }
        ])

        const recent = yield* items.recent(3)
        assert.deepStrictEqual(recent.map((i) => `${i.source}/${i.key}`), ["rss:a/1", "search/1", "rss:b/2"])
        assert.deepStrictEqual(recent[1], {
          source: "search",
          key: "1",
          raw: { key: "1", tags: ["x"], score: 1.5 },
          fetchedAt,
          storedAt: DateTime.unsafeMake("2024-05-01T09:00:00Z"),
          debug: true
        })
        assert.deepStrictEqual(recent[0]?.storedAt, DateTime.unsafeMake("2024-05-01T09:05:00Z"))
        assert.isFalse(recent[0]?.debug)

        assert.strictEqual((yield* items.recent(Infinity)).length, 4)
        assert.strictEqual((yield* items.recent(2.7)).length, 2)
        assert.deepStrictEqual(yield* items.recent(0), [])
        assert.deepStrictEqual(yield* items.recent(-1), [])
      }).pipe(Effect.provide(services(filename)))

      const reopened = yield* Effect.flatMap(Items, (items) => items.count).pipe(Effect.provide(services(filename)))
      assert.strictEqual(reopened, 4)
    }))
})
