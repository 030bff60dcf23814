import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Either, Option, Stream, TestClock } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as Items_ from "../../src/app/storage/Items.js"
import {
  decodeCursor,
  defaultLimit,
  encodeCursor,
  type Item,
  Items,
  type ItemsQuery,
  maxLimit,
  parseQuery
} from "../../src/app/storage/Items.js"
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

/** A batch of events of `source` with keys `<prefix>0`, `<prefix>1`, ... */
const batch = (source: string, prefix: string, n: number) =>
  Stream.fromIterable(Array.from({ length: n }, (_, i) => event(source, `${prefix}${i}`)))

const ids = (items: ReadonlyArray<Item>) => items.map((i) => `${i.source}/${i.key}`)

/** Walks every page of `query` with page size `limit`; `between` runs after each page. */
const walk = (
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

describe("Items.page", () => {
  it.scoped("walks every item once, newest first by (stored_at, insertion), with no duplicates or gaps", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
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
      }).pipe(Effect.provide(services(filename)))
    }))

  it.scoped("is stable under concurrent inserts: new items (even at the same stored_at) never shift later pages", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
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
      }).pipe(Effect.provide(services(filename)))
    }))

  it.scoped("filters by source, collector (name or name:param), since (inclusive) and until (exclusive)", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
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
      }).pipe(Effect.provide(services(filename)))
    }))

  it.scoped("limit: default 50, at most 1000, at least 1", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
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
      }).pipe(Effect.provide(services(filename)))
    }))

  it.scoped("layerReadonly reads the file while the service's connection writes to it; a missing file is a SqlError", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
      yield* Effect.gen(function*() {
        const pipeline = yield* Pipeline
        yield* pipeline.run(batch("rss:a", "k", 3))
        const read = Effect.flatMap(Items, (items) => items.page({})).pipe(
          Effect.provide(Items_.layerReadonly(filename)),
          Effect.provide(NodeFileSystem.layer)
        )
        assert.deepStrictEqual(ids((yield* read).items), ["rss:a/k2", "rss:a/k1", "rss:a/k0"])
        // the writer goes on while readers come and go
        yield* pipeline.run(batch("rss:b", "k", 2))
        assert.strictEqual((yield* read).items.length, 5)
      }).pipe(Effect.provide(services(filename)))

      const missing = yield* Effect.flip(
        Effect.flatMap(Items, (items) => items.count).pipe(
          Effect.provide(Items_.layerReadonly(`${filename}.nope`)),
          Effect.provide(NodeFileSystem.layer)
        )
      )
      assert.strictEqual(missing._tag, "SqlError")
      assert.strictEqual(missing.message, `No database file at ${filename}.nope`)
    }))
})

describe("Items.parseQuery", () => {
  const invalid = (raw: Items_.RawItemsQuery) => {
    const result = parseQuery(raw)
    assert.isTrue(Either.isLeft(result), `expected a failure for ${JSON.stringify(raw)}`)
    const error = Either.flip(result).pipe(Either.getOrThrow)
    assert.strictEqual(error._tag, "InvalidItemsQuery")
    return `${error.parameter} | ${error.message}`
  }

  it("parses every parameter; absent ones stay unset", () => {
    assert.deepStrictEqual(
      parseQuery({}),
      Either.right({
        source: undefined,
        collector: undefined,
        since: undefined,
        until: undefined,
        limit: undefined,
        after: undefined
      })
    )
    const cursor = encodeCursor({ storedAt: "2024-05-01T09:00:00.000Z", rowid: 17 })
    assert.deepStrictEqual(
      parseQuery({
        source: "news:x.xml",
        collector: "news",
        since: "2024-05-01T10:00:00+02:00",
        until: ["2024-05-02"],
        limit: "1000",
        cursor,
        other: undefined
      }),
      Either.right({
        source: "news:x.xml",
        collector: "news",
        since: DateTime.unsafeMake("2024-05-01T08:00:00Z"),
        until: DateTime.unsafeMake("2024-05-02T00:00:00Z"),
        limit: 1000,
        after: { storedAt: "2024-05-01T09:00:00.000Z", rowid: 17 }
      })
    )
    assert.match(cursor, /^[A-Za-z0-9_-]+$/, "a cursor is URL-safe")
  })

  it("bad input is an InvalidItemsQuery naming the parameter and what was wrong", () => {
    assert.strictEqual(
      invalid({ sauce: "x" }),
      "sauce | Invalid sauce: unknown parameter (known: source, collector, since, until, limit, cursor)"
    )
    assert.strictEqual(invalid({ source: ["a", "b"] }), "source | Invalid source: given more than once")
    assert.strictEqual(invalid({ collector: "" }), "collector | Invalid collector: must not be empty")
    assert.strictEqual(
      invalid({ since: "yesterday" }),
      "since | Invalid since: Invalid date-time \"yesterday\": expected an ISO-8601 date-time such as " +
        "2024-05-01T12:00:00Z or 2024-05-01T20:00:00+08:00 (no offset means UTC)"
    )
    assert.strictEqual(
      invalid({ until: "2024-02-30" }),
      "until | Invalid until: Invalid date-time \"2024-02-30\": day 30 does not exist in 2024-02"
    )
    assert.strictEqual(
      invalid({ since: "2024-05-02", until: "2024-05-01T12:00:00Z" }),
      "until | Invalid until: must be after since (2024-05-02T00:00:00.000Z), got 2024-05-01T12:00:00.000Z"
    )
    for (const limit of ["0", "1001", "abc", "1.5", "-1", " 5", "99999999999999"]) {
      assert.strictEqual(
        invalid({ limit }),
        `limit | Invalid limit: expected an integer from 1 to 1000, got ${JSON.stringify(limit)}`
      )
    }
    for (const cursor of ["nope", "", encodeCursor({ storedAt: "x", rowid: 1 }).slice(0, -2) + "!!"]) {
      assert.strictEqual(
        invalid({ cursor }),
        "cursor | Invalid cursor: not a cursor returned as next_cursor by a previous page"
      )
    }
  })
})
