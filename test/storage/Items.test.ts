import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Either } from "effect"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as Items_ from "../../src/app/storage/Items.js"
import { encodeCursor, Items, parseQuery } from "../../src/app/storage/Items.js"
import { batch, ids, itemsSuite } from "./ItemsSuite.js"
import { services, sqlite, tempDbFile } from "./tempDb.js"

itemsSuite(sqlite)

describe("Items.layerReadonly", () => {
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
        q: undefined,
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
        q: "Wake-Up",
        since: "2024-05-01T10:00:00+02:00",
        until: ["2024-05-02"],
        limit: "1000",
        cursor,
        other: undefined
      }),
      Either.right({
        source: "news:x.xml",
        collector: "news",
        q: "Wake-Up",
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
      "sauce | Invalid sauce: unknown parameter (known: source, collector, q, since, until, limit, cursor)"
    )
    assert.strictEqual(invalid({ source: ["a", "b"] }), "source | Invalid source: given more than once")
    assert.strictEqual(invalid({ collector: "" }), "collector | Invalid collector: must not be empty")
    assert.strictEqual(invalid({ q: "" }), "q | Invalid q: must not be empty")
    assert.strictEqual(invalid({ q: "x".repeat(201) }), "q | Invalid q: must be at most 200 characters, got 201")
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
