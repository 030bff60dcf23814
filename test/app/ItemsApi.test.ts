/**
 * `GET /items` in process: the real handlers and router on a test server
 * (ephemeral port) over a real in-memory SQLite database seeded with items.
 * Responses are decoded with the API's own schemas.
 *
 * (A file of its own: a second `it.layer` server in `Api.test.ts` answered
 * with the first one's handlers.)
 */
import { HttpApiBuilder, HttpClient, HttpClientResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import type { Schema } from "effect"
import { Effect, Layer } from "effect"
import { InvalidQueryParameter, ItemsPageJson, RayInfoApi } from "../../src/app/http/Api.js"
import { GroupsLive } from "../../src/app/http/ApiLive.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import * as Database from "../../src/app/storage/Database.js"
import * as ItemsModule from "../../src/app/storage/Items.js"
import { adapterLayer } from "./support.js"

const getJson = <A, I>(schema: Schema.Schema<A, I>, path: string) =>
  Effect.flatMap(HttpClient.get(path), HttpClientResponse.schemaBodyJson(schema))

/** 12 stored items: `news:a.xml` (5), `news:b.xml` (4), `search:q` (3), stored 08:00-10:00 with ties. */
const seedRows = [
  ...[0, 1, 2, 3, 4].map((i) => ({ source: "news:a.xml", key: `a${i}`, hour: 8 + (i % 3) })),
  ...[0, 1, 2, 3].map((i) => ({ source: "news:b.xml", key: `b${i}`, hour: 9 })),
  ...[0, 1, 2].map((i) => ({ source: "search:q", key: `q${i}`, hour: 10 }))
].map(({ hour, key, source }) => ({
  source,
  key,
  raw: JSON.stringify({ title: `title ${key}`, link: `https://example.org/${key}` }),
  fetched_at: "2024-05-01T07:00:00.000Z",
  debug: key === "q0" ? 1 : 0,
  stored_at: `2024-05-01T${String(hour).padStart(2, "0")}:00:00.000Z`
}))

const Seeded = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`INSERT INTO items ${sql.insert(seedRows)}`
}))

const ItemsServer = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(GroupsLive))),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provideMerge(adapterLayer(RaySchedulerAdapter.layer({ maxSleep: "1 hour" }), [])),
  Layer.provideMerge(Layer.merge(ItemsModule.layer, Seeded)),
  Layer.provideMerge(Database.layerMemory)
)

const keysOf = (page: ItemsPageJson) => page.items.map((i) => i.key)

/** Newest first by (stored_at, insertion): 10:00 q2 q1 q0 a2, 09:00 b3..b0 a4 a1, 08:00 a3 a0. */
const newestFirst = ["q2", "q1", "q0", "a2", "b3", "b2", "b1", "b0", "a4", "a1", "a3", "a0"]

describe("HTTP API: GET /items", () => {
  it.layer(ItemsServer, { timeout: "30 seconds" })((it) => {
    it.effect("lists the stored items newest first, 50 per page by default", () =>
      Effect.gen(function*() {
        const page = yield* getJson(ItemsPageJson, "/items")
        assert.strictEqual(page.items.length, 12)
        assert.isNull(page.next_cursor)
        assert.deepStrictEqual(keysOf(page), newestFirst)
        assert.deepStrictEqual(page.items[2], {
          source: "search:q",
          key: "q0",
          raw: { title: "title q0", link: "https://example.org/q0" },
          fetched_at: "2024-05-01T07:00:00.000Z",
          stored_at: "2024-05-01T10:00:00.000Z",
          debug: true
        })
      }))

    it.effect("pages with limit and next_cursor: every item once, no duplicates, no gaps", () =>
      Effect.gen(function*() {
        const all = keysOf(yield* getJson(ItemsPageJson, "/items"))
        const pages: Array<ReadonlyArray<string>> = []
        let url = "/items?limit=5"
        for (;;) {
          const page = yield* getJson(ItemsPageJson, url)
          pages.push(keysOf(page))
          if (page.next_cursor === null) break
          url = `/items?limit=5&cursor=${encodeURIComponent(page.next_cursor)}`
        }
        assert.deepStrictEqual(pages.map((p) => p.length), [5, 5, 2])
        assert.deepStrictEqual(pages.flat(), all)
      }))

    it.effect("filters by source, collector and stored_at range", () =>
      Effect.gen(function*() {
        const keys = (query: string) => Effect.map(getJson(ItemsPageJson, `/items?${query}`), keysOf)
        assert.deepStrictEqual(yield* keys(`source=${encodeURIComponent("search:q")}`), ["q2", "q1", "q0"])
        assert.deepStrictEqual(yield* keys("source=news"), [])
        assert.deepStrictEqual((yield* keys("collector=news")).length, 9)
        assert.deepStrictEqual(
          yield* keys(`since=${encodeURIComponent("2024-05-01T09:00:00Z")}&until=2024-05-01T10:00:00Z&limit=3`),
          ["b3", "b2", "b1"]
        )
        assert.deepStrictEqual(
          yield* keys(`collector=news&since=${encodeURIComponent("2024-05-01T11:00:00+02:00")}`),
          ["a2", "b3", "b2", "b1", "b0", "a4", "a1"]
        )
      }))

    it.effect("a bad query parameter is a 400 InvalidQueryParameter naming it", () =>
      Effect.gen(function*() {
        const bad = (query: string) =>
          Effect.gen(function*() {
            const response = yield* HttpClient.get(`/items?${query}`)
            assert.strictEqual(response.status, 400, query)
            return yield* HttpClientResponse.schemaBodyJson(InvalidQueryParameter)(response)
          })
        const check = (query: string, parameter: string, message: string) =>
          Effect.map(bad(query), (error) => {
            assert.strictEqual(error.parameter, parameter, query)
            assert.strictEqual(error.message, message, query)
          })
        yield* check("limit=0", "limit", "Invalid limit: expected an integer from 1 to 1000, got \"0\"")
        yield* check("limit=1001", "limit", "Invalid limit: expected an integer from 1 to 1000, got \"1001\"")
        yield* check("limit=ten", "limit", "Invalid limit: expected an integer from 1 to 1000, got \"ten\"")
        yield* check(
          "since=yesterday",
          "since",
          "Invalid since: Invalid date-time \"yesterday\": expected an ISO-8601 date-time such as " +
            "2024-05-01T12:00:00Z or 2024-05-01T20:00:00+08:00 (no offset means UTC)"
        )
        yield* check(
          "since=2024-05-02&until=2024-05-01",
          "until",
          "Invalid until: must be after since (2024-05-02T00:00:00.000Z), got 2024-05-01T00:00:00.000Z"
        )
        yield* check("cursor=xyz", "cursor", "Invalid cursor: not a cursor returned as next_cursor by a previous page")
        yield* check("source=a&source=b", "source", "Invalid source: given more than once")
        yield* check("collector=", "collector", "Invalid collector: must not be empty")
        yield* check(
          "sources=a",
          "sources",
          "Invalid sources: unknown parameter (known: source, collector, q, since, until, limit, cursor)"
        )
        const raw = yield* HttpClient.get("/items?limit=0")
        assert.deepStrictEqual(yield* raw.json, {
          _tag: "InvalidQueryParameter",
          parameter: "limit",
          message: "Invalid limit: expected an integer from 1 to 1000, got \"0\""
        })
      }))
  })
})
