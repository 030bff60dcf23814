/**
 * The `Items` queries on PostgreSQL: the shared suite (ItemsSuite.ts) on a
 * fresh database per test, plus what only PostgreSQL has: `BIGINT` ids in
 * cursors, and the reader's layer (`Items.layer` over
 * `Database.layerPg({ url, migrate: false })`). Skipped with a reason when
 * PostgreSQL is absent; a failure under `CI=true` (test/services/postgres.ts).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, TestClock } from "effect"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Items_ from "../../src/app/storage/Items.js"
import { decodeCursor, Items } from "../../src/app/storage/Items.js"
import { checkPostgres, freshDatabase } from "../services/postgres.js"
import { batch, ids, itemsSuite, walk } from "./ItemsSuite.js"
import { postgres } from "./tempDb.js"

const available = await checkPostgres()

describe.skipIf(!available)("on PostgreSQL", () => {
  itemsSuite(postgres("items"))

  describe("Items (PostgreSQL): BIGINT ids and readers", () => {
    it.scoped("pages through ids beyond 2^32 (BIGINT, text from the driver) with the same cursor format", () =>
      Effect.gen(function*() {
        const db = yield* postgres("items_bigint").fresh
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const items = yield* Items
          const pipeline = yield* Pipeline
          yield* TestClock.setTime(Date.UTC(2024, 4, 1, 9))
          yield* pipeline.run(batch("rss:a", "small", 5))
          yield* sql`ALTER TABLE items ALTER COLUMN id RESTART WITH 5000000000`
          // the same stored_at: the order within it is the id's
          yield* pipeline.run(batch("rss:a", "big", 10))
          const idRows = yield* sql<{ readonly id: unknown }>`SELECT id FROM items ORDER BY id`
          assert.deepStrictEqual(idRows.slice(-2).map(({ id }) => id), ["5000000008", "5000000009"])

          assert.strictEqual(yield* items.count, 15)
          assert.deepStrictEqual(yield* items.countBySource, [{ source: "rss:a", count: 15 }])
          const all = ids(yield* items.recent(Infinity))
          assert.deepStrictEqual(all.slice(0, 2), ["rss:a/big9", "rss:a/big8"])
          assert.deepStrictEqual(all.slice(-2), ["rss:a/small1", "rss:a/small0"])

          const first = yield* items.page({ limit: 4 })
          const cursor = Either.getOrThrow(decodeCursor(Option.getOrThrow(first.nextCursor)))
          assert.deepStrictEqual(cursor, { storedAt: "2024-05-01T09:00:00.000Z", rowid: 5000000006 })
          const pages = yield* walk({}, 4)
          assert.deepStrictEqual(pages.map((p) => p.length), [4, 4, 4, 3])
          assert.deepStrictEqual(pages.flatMap(ids), all)
        }).pipe(Effect.provide(db.services()))
      }))

    it.scoped("a reader on layerPg({ migrate: false }) reads what the writer stores, as it stores it", () =>
      Effect.gen(function*() {
        const { url } = yield* freshDatabase("items_reader")
        const writer = Layer.mergeAll(Items_.layer, SqlPipeline.layer()).pipe(
          Layer.provideMerge(Database.layerPg({ url }))
        )
        const reader = Items_.layer.pipe(Layer.provide(Database.layerPg({ url, migrate: false })))
        const read = Effect.flatMap(Items, (items) => items.page({})).pipe(Effect.provide(reader))
        yield* Effect.gen(function*() {
          const pipeline = yield* Pipeline
          yield* pipeline.run(batch("rss:a", "k", 3))
          assert.deepStrictEqual(ids((yield* read).items), ["rss:a/k2", "rss:a/k1", "rss:a/k0"])
          yield* pipeline.run(batch("rss:b", "k", 2))
          assert.strictEqual((yield* read).items.length, 5)
        }).pipe(Effect.provide(writer))
      }))
  })
})
