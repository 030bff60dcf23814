/**
 * The `Items` queries on a real database, run by Items.test.ts (SQLite) and
 * Items.pg.test.ts (PostgreSQL): counts, `recent`, keyset paging (also
 * while the pipeline writes), filters and page sizes.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Either, Option, Stream, TestClock } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import { decodeCursor, defaultLimit, type Item, Items, type ItemsQuery, maxLimit } from "../../src/app/storage/Items.js"
import type { Backend } from "./tempDb.js"

export const fetchedAt = DateTime.unsafeMake("2024-05-01T08:00:00Z")

export const event = (source: string, key: string, debug = false): RawEvent => ({
  source,
  key,
  raw: { key, tags: ["x"], score: 1.5 },
  fetchedAt,
  debug
})

/** A batch of events of `source` with keys `<prefix>0`, `<prefix>1`, ... */
export const batch = (source: string, prefix: string, n: number) =>
  Stream.fromIterable(Array.from({ length: n }, (_, i) => event(source, `${prefix}${i}`)))

export const ids = (items: ReadonlyArray<Item>) => items.map((i) => `${i.source}/${i.key}`)

/** Walks every page of `query` with page size `limit`; `between` runs after each page. */
export const walk = (
  query: ItemsQuery,
  limit: number,
  between: (pageIndex: number) => Effect.Effect<void, unknown> = () => Effect.void
) =>
  Effect.gen(function*() {
    const items = yield* Items
    const pages: Array<ReadonlyArray<Item>> = []
    let after: ItemsQuery["after"]
    for (;;) {
      const page = yield* items.page({ ...query, limit, after })
      pages.push(page.items)
      yield* between(pages.length - 1)
      if (Option.isNone(page.nextCursor)) return pages
      assert.isAtMost(pages.length, 1000, "paging does not end")
      after = Either.getOrThrow(decodeCursor(page.nextCursor.value))
    }
  })

/** Registers the suites on `backend`. */
export const itemsSuite = (backend: Backend): void => {
  describe(`Items (${backend.name})`, () => {
    it.scoped("counts, counts by source and lists the most recently stored first", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
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
        }).pipe(Effect.provide(db.services()))

        const reopened = yield* Effect.flatMap(Items, (items) => items.count).pipe(Effect.provide(db.services()))
        assert.strictEqual(reopened, 4)
      }))
  })

  describe(`Items.page (${backend.name})`, () => {
    it.scoped("walks every item once, newest first by (stored_at, insertion), with no duplicates or gaps", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          assert.deepStrictEqual(yield* items.page({}), { items: [], nextCursor: Option.none() })
          // 3 batches of 10 at 3 instants: pages of 7 cut through batches of equal stored_at
          for (const [minute, source] of [[0, "rss:a"], [1, "rss:b"], [2, "search"]] as const) {
            yield* TestClock.setTime(Date.UTC(2024, 4, 1, 9, minute))
            yield* pipeline.run(batch(source, "k", 10))
          }
          const all = ids(yield* items.recent(Infinity))
          assert.strictEqual(all.length, 30)
          assert.strictEqual(all[0], "search/k9")
          assert.strictEqual(all[29], "rss:a/k0")

          const pages = yield* walk({}, 7)
          assert.deepStrictEqual(pages.map((p) => p.length), [7, 7, 7, 7, 2])
          assert.deepStrictEqual(pages.flatMap(ids), all)
          // a page size that divides the total: no empty last page
          assert.deepStrictEqual((yield* walk({}, 10)).map((p) => p.length), [10, 10, 10])
          assert.deepStrictEqual((yield* walk({}, 1000)).flatMap(ids), all)

          const first = yield* items.page({ limit: 2 })
          assert.deepStrictEqual(first.items[0], {
            source: "search",
            key: "k9",
            raw: { key: "k9", tags: ["x"], score: 1.5 },
            fetchedAt,
            storedAt: DateTime.unsafeMake("2024-05-01T09:02:00Z"),
            debug: false
          })
        }).pipe(Effect.provide(db.services()))
      }))

    it.scoped("is stable under concurrent inserts: new items (even at the same stored_at) never shift later pages", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          yield* TestClock.setTime(Date.UTC(2024, 4, 1, 9))
          yield* pipeline.run(batch("rss:a", "old", 10))
          yield* TestClock.adjust(Duration.minutes(1))
          yield* pipeline.run(batch("rss:b", "old", 10))
          const before = ids(yield* items.recent(Infinity))

          // after each page, the service stores more: at the same instant as the
          // cursor's row, and later
          const pages = yield* walk({}, 6, (pageIndex) =>
            Effect.gen(function*() {
              yield* pipeline.run(batch("rss:b", `same${pageIndex}-`, 3))
              yield* TestClock.adjust(Duration.seconds(1))
              yield* pipeline.run(batch("rss:c", `new${pageIndex}-`, 3))
            }))
          assert.deepStrictEqual(pages.flatMap(ids), before)
          assert.strictEqual(yield* items.count, 20 + pages.length * 6)
        }).pipe(Effect.provide(db.services()))
      }))

    it.scoped("filters by source, collector (name or name:param), since (inclusive) and until (exclusive)", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          const at = (hour: number) => DateTime.unsafeMake(Date.UTC(2024, 4, 1, hour))
          yield* TestClock.setTime(DateTime.toEpochMillis(at(8)))
          yield* pipeline.run(Stream.make(event("news", "n1"), event("news:x.xml", "x1"), event("newsletter:y", "y1")))
          yield* TestClock.setTime(DateTime.toEpochMillis(at(9)))
          yield* pipeline.run(Stream.make(event("news:x.xml", "x2"), event("news:z%_", "z1"), event("search:q", "q1")))
          yield* TestClock.setTime(DateTime.toEpochMillis(at(10)))
          yield* pipeline.run(Stream.make(event("news:x.xml", "x3")))

          const keys = (query: ItemsQuery) => Effect.map(items.page(query), (page) => page.items.map((i) => i.key))
          assert.deepStrictEqual(yield* keys({ source: "news:x.xml" }), ["x3", "x2", "x1"])
          assert.deepStrictEqual(yield* keys({ source: "news" }), ["n1"])
          assert.deepStrictEqual(yield* keys({ source: "nope" }), [])
          // `news` and `news:*`, not `newsletter:*`; LIKE wildcards in a param are plain characters
          assert.deepStrictEqual(yield* keys({ collector: "news" }), ["x3", "z1", "x2", "x1", "n1"])
          assert.deepStrictEqual(yield* keys({ collector: "news:z%" }), [])
          assert.deepStrictEqual(yield* keys({ collector: "search" }), ["q1"])
          assert.deepStrictEqual(yield* keys({ since: at(9) }), ["x3", "q1", "z1", "x2"])
          assert.deepStrictEqual(yield* keys({ until: at(9) }), ["y1", "x1", "n1"])
          assert.deepStrictEqual(yield* keys({ since: at(9), until: at(10) }), ["q1", "z1", "x2"])
          assert.deepStrictEqual(yield* keys({ since: DateTime.unsafeMake("2024-05-01T09:00:00.001Z") }), ["x3"])
          assert.deepStrictEqual(yield* keys({ collector: "news", since: at(9), until: at(10) }), ["z1", "x2"])
          assert.deepStrictEqual(yield* keys({ source: "news:x.xml", collector: "search" }), [])

          // filters and paging together
          const pages = yield* walk({ collector: "news" }, 2)
          assert.deepStrictEqual(pages.map((p) => p.map((i) => i.key)), [["x3", "z1"], ["x2", "x1"], ["n1"]])
        }).pipe(Effect.provide(db.services()))
      }))

    it.scoped("q: the key or the raw JSON contains the text, ignoring case; wildcards are plain characters", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          const titled = (key: string, title: string): RawEvent => ({ ...event("news", key), raw: { title } })
          yield* pipeline.run(Stream.make(
            titled("a", "Per-source CONCURRENCY limits"),
            titled("b", "Deferred as a wake-up signal"),
            titled("Concurrency-key", "no match in the title"),
            titled("d", "100% sure_thing"),
            titled("e", "Über-Scheduler")
          ))
          const keys = (q: string) => Effect.map(items.page({ q }), (page) => page.items.map((i) => i.key).sort())
          assert.deepStrictEqual(yield* keys("concurrency"), ["Concurrency-key", "a"])
          assert.deepStrictEqual(yield* keys("WAKE-UP"), ["b"])
          assert.deepStrictEqual(yield* keys("%"), ["d"], "% is a character, not a wildcard")
          assert.deepStrictEqual(yield* keys("_"), ["d"])
          assert.deepStrictEqual(yield* keys("scheduler"), ["e"])
          assert.deepStrictEqual(yield* keys("nothing like it"), [])
          const both = yield* items.page({ q: "concurrency", source: "news", limit: 1 })
          assert.strictEqual(both.items.length, 1)
          assert.isTrue(Option.isSome(both.nextCursor), "paged like any filter")
        }).pipe(Effect.provide(db.services()))
      }))

    it.scoped("limit: default 50, at most 1000, at least 1", () =>
      Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          yield* pipeline.run(batch("bulk", "k", 1005))
          const sizes = (query: ItemsQuery) => Effect.map(items.page(query), (page) => page.items.length)
          assert.strictEqual(yield* sizes({}), defaultLimit)
          assert.strictEqual(defaultLimit, 50)
          assert.strictEqual(yield* sizes({ limit: 5000 }), maxLimit)
          assert.strictEqual(maxLimit, 1000)
          assert.strictEqual(yield* sizes({ limit: 0 }), 1)
          assert.strictEqual(yield* sizes({ limit: 2.9 }), 2)
        }).pipe(Effect.provide(db.services()))
      }))
  })
}
