/**
 * `Items` — read-only queries on the stored items (the `items` table the
 * pipeline writes), for the HTTP API and the CLI.
 *
 * SQL errors, and rows that do not decode (e.g. `raw` that is not JSON),
 * are defects (`Effect.orDie`): these queries have no error channel, a
 * failure means a broken database, not something a caller can handle.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Json } from "../../scheduler/Task.js"

/** A stored item. */
export interface Item {
  readonly source: string
  readonly key: string
  /** The item as fetched. */
  readonly raw: Json
  readonly fetchedAt: DateTime.Utc
  /** When the pipeline stored it. */
  readonly storedAt: DateTime.Utc
  /** Fetched in debug mode. */
  readonly debug: boolean
}

/** How many items a source has stored. */
export interface SourceCount {
  readonly source: string
  readonly count: number
}

/** The item queries. */
export interface ItemsService {
  /** Number of stored items. */
  readonly count: Effect.Effect<number>
  /** Number of stored items per source, by source name (sources without items are absent). */
  readonly countBySource: Effect.Effect<ReadonlyArray<SourceCount>>
  /**
   * The `limit` most recently stored items, newest first (ties, i.e. one
   * batch, in reverse insertion order). `limit` is rounded down; below 1
   * gives none; `Infinity` gives all.
   */
  readonly recent: (limit: number) => Effect.Effect<ReadonlyArray<Item>>
}

/** The {@link ItemsService}. */
export class Items extends Context.Tag("rayinfo/Items")<Items, ItemsService>() {}

/** An `items` row, decoded into an {@link Item}. */
const ItemRow = Schema.Struct({
  source: Schema.String,
  key: Schema.String,
  raw: Schema.parseJson(Json),
  fetched_at: Schema.DateTimeUtc,
  stored_at: Schema.DateTimeUtc,
  debug: Schema.Number
})

const decodeItems = Schema.decodeUnknown(Schema.Array(ItemRow))

const CountRow = Schema.Struct({ count: Schema.Number })
const decodeCount = Schema.decodeUnknown(Schema.Tuple(CountRow))

const SourceCountRow = Schema.Struct({ source: Schema.String, count: Schema.Number })
const decodeSourceCounts = Schema.decodeUnknown(Schema.Array(SourceCountRow))

/** SQLite's LIMIT: -1 means no limit. */
const sqlLimit = (limit: number): number =>
  limit === Infinity ? -1 : Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0

/** Builds the service on a SQL client; exported for composing without the layer. */
export const make: Effect.Effect<ItemsService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const count: ItemsService["count"] = sql`SELECT COUNT(*) AS count FROM items`.pipe(
    Effect.flatMap(decodeCount),
    Effect.map(([row]) => row.count),
    Effect.orDie
  )

  const countBySource: ItemsService["countBySource"] = sql`
    SELECT source, COUNT(*) AS count FROM items GROUP BY source ORDER BY source`.pipe(
    Effect.flatMap(decodeSourceCounts),
    Effect.orDie
  )

  const recent: ItemsService["recent"] = (limit) =>
    sql`SELECT source, key, raw, fetched_at, stored_at, debug FROM items
        ORDER BY stored_at DESC, rowid DESC LIMIT ${sqlLimit(limit)}`.pipe(
      Effect.flatMap(decodeItems),
      Effect.map((rows) =>
        rows.map((row): Item => ({
          source: row.source,
          key: row.key,
          raw: row.raw,
          fetchedAt: row.fetched_at,
          storedAt: row.stored_at,
          debug: row.debug !== 0
        }))
      ),
      Effect.orDie
    )

  return { count, countBySource, recent }
})

/** The {@link Items} queries on the SqlClient's database (see `Database.ts` for the schema). */
export const layer: Layer.Layer<Items, never, SqlClient.SqlClient> = Layer.effect(Items, make)
