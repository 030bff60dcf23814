/**
 * The `SqlPipeline` on PostgreSQL: the shared suite (SqlPipelineSuite.ts)
 * on a fresh database per test, and what several writer processes need:
 * each batch's transaction takes the items lock and only then its
 * `stored_at` (never before the latest one), so that (`stored_at`, `id`)
 * follows commit order and a reader never misses a row that commits late.
 * Skipped with a reason when PostgreSQL is absent; a failure under `CI=true`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Either, Fiber, Layer, Option, Schedule, Stream } from "effect"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Items_ from "../../src/app/storage/Items.js"
import { decodeCursor, Items, type ItemsQuery } from "../../src/app/storage/Items.js"
import { checkPostgres, freshDatabase } from "../services/postgres.js"
import { events, pipelineSuite } from "./SqlPipelineSuite.js"
import { postgres } from "./tempDb.js"

const available = await checkPostgres()

/** One "process" on the database at `url`: its own pool, pipeline and item queries. */
const openProcess = (
  url: Parameters<typeof Database.layerPg>[0]["url"],
  options: SqlPipeline.SqlPipelineOptions = {}
) =>
  Effect.map(
    Layer.build(
      Layer.mergeAll(SqlPipeline.layer(options), Items_.layer).pipe(
        Layer.provideMerge(Layer.orDie(Database.layerPg({ url })))
      )
    ),
    (context) => ({
      pipeline: Context.get(context, Pipeline),
      items: Context.get(context, Items),
      sql: Context.get(context, SqlClient.SqlClient)
    })
  )

describe.skipIf(!available)("on PostgreSQL", () => {
  pipelineSuite(postgres("pipeline"))

  it.live("a batch waits for the items lock held by another writer, then stores after its rows (ids and stored_at)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* freshDatabase("pipeline_lock")
      const self = yield* openProcess(url)
      const other = yield* openProcess(url)
      // another writer in the middle of its batch: it holds the lock, its row is not committed yet;
      // its stored_at is later than this process's clock (the clocks of two machines differ)
      const later = "2999-01-01T00:00:00.000Z"
      const locked = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const otherBatch = yield* Effect.fork(other.sql.withTransaction(Effect.gen(function*() {
        yield* other.sql`SELECT pg_advisory_xact_lock(hashtext(${SqlPipeline.itemsLockKey}))`
        yield* other.sql`INSERT INTO items (source, key, raw, fetched_at, debug, stored_at)
                         VALUES ('other', 'o1', '{}', ${later}, 0, ${later})`
        yield* Deferred.succeed(locked, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(locked)

      const run = yield* Effect.fork(self.pipeline.run(Stream.fromIterable(events(3))))
      // the batch is waiting on the advisory lock (and nothing of it is visible)
      yield* self.sql<{ readonly waiting: number }>`
        SELECT CAST(COUNT(*) AS INTEGER) AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`.pipe(
        Effect.filterOrFail(([row]) => row?.waiting === 1),
        Effect.retry(Schedule.spaced(Duration.millis(20)).pipe(Schedule.upTo(Duration.seconds(5))))
      )
      assert.isNull(run.unsafePoll())
      assert.strictEqual(yield* self.items.count, 0)

      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(otherBatch)
      assert.deepStrictEqual(yield* Fiber.join(run), { received: 3, duplicates: 0, stored: 3 })
      const rows = yield* self.sql<{ readonly key: string; readonly id: string; readonly stored_at: string }>`
        SELECT key, id, stored_at FROM items ORDER BY id`
      assert.deepStrictEqual(rows.map((row) => [row.key, row.stored_at]), [
        ["o1", later],
        ["k0", later],
        ["k1", later],
        ["k2", later]
      ])
    })))

  it.live("two writers at once: a reader that follows the newest items misses none and sees none twice", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* freshDatabase("pipeline_gap")
      const writerA = yield* openProcess(url, { batchSize: 5 })
      const writerB = yield* openProcess(url, { batchSize: 5 })
      const reader = yield* openProcess(url)
      const batches = 60
      const stream = (source: string): Stream.Stream<RawEvent> =>
        Stream.fromIterable(events(batches * 5, `${source}-`)).pipe(
          Stream.map((event) => ({ ...event, source })),
          // a pause between batches: the writers' transactions interleave
          Stream.tap((event) => event.key.endsWith("4") ? Effect.sleep(Duration.millis(1)) : Effect.void)
        )

      /** The items newer than the newest one seen so far, newest first (pages until a seen one). */
      const seen = new Set<string>()
      const order: Array<string> = []
      const follow = Effect.gen(function*() {
        const fresh: Array<string> = []
        let after: ItemsQuery["after"]
        for (;;) {
          const page = yield* reader.items.page({ limit: 7, after })
          const ids = page.items.map((item) => `${item.source}/${item.key}`)
          const known = ids.findIndex((id) => seen.has(id))
          fresh.push(...(known === -1 ? ids : ids.slice(0, known)))
          if (known !== -1 || Option.isNone(page.nextCursor)) break
          after = Either.getOrThrow(decodeCursor(page.nextCursor.value))
        }
        for (const id of fresh.reverse()) {
          assert.isFalse(seen.has(id), `${id} seen twice`)
          seen.add(id)
          order.push(id)
        }
      })

      const writers = yield* Effect.fork(Effect.all([
        writerA.pipeline.run(stream("a")),
        writerB.pipeline.run(stream("b"))
      ], { concurrency: 2 }))
      let polls = 0
      while (writers.unsafePoll() === null) {
        yield* follow
        polls++
      }
      const [resultA, resultB] = yield* Fiber.join(writers)
      yield* follow
      assert.deepStrictEqual([resultA.stored, resultB.stored], [batches * 5, batches * 5])
      assert.isAbove(polls, 10, "the reader followed while the writers wrote")

      const all = yield* reader.sql<{ readonly source: string; readonly key: string }>`
        SELECT source, key FROM items ORDER BY stored_at, id`
      const stored = all.map((row) => `${row.source}/${row.key}`)
      const missed = stored.filter((id) => !seen.has(id))
      assert.deepStrictEqual(missed, [], "rows the reader never saw")
      // and the (stored_at, id) order is the commit order the reader saw
      assert.deepStrictEqual(order, stored)
    })))
})
