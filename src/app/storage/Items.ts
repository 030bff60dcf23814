/**
 * `Items` — read-only queries on the stored items (the `items` table the
 * pipeline writes), for the HTTP API (`GET /items`, `/status`) and the CLI
 * (`rayinfo items`).
 *
 * Paging ({@link ItemsService.page}) is keyset paging, newest first by
 * (`stored_at`, `rowid`): a page ends with an opaque cursor naming its last
 * row, and the next page holds the rows strictly after it in that order.
 * Rows inserted meanwhile are newer than any cursor (later `stored_at`,
 * higher `rowid`), so they never shift a later page: walking the pages
 * yields every item that existed when the walk started exactly once, with
 * no duplicates and no gaps, while the service keeps writing. (A cursor
 * names a `rowid`, which a `VACUUM` may renumber; the service never
 * vacuums.)
 *
 * On PostgreSQL the `rowid` is the `items.id` identity column (cursors keep
 * the same format). Identity values and `stored_at` are taken in the order
 * writers ask for them, not the order they commit in; with several writer
 * processes the pipeline serializes its insert transactions so that the two
 * orders agree (see `SqlPipeline.ts`), which keeps the promise above.
 *
 * SQL errors, and rows that do not decode (e.g. `raw` that is not JSON),
 * are defects (`Effect.orDie`): these queries have no error channel, a
 * failure means a broken database, not something a caller can handle. Bad
 * query *input* is a typed {@link InvalidItemsQuery}, from {@link parseQuery}.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { IsoDateTimeUtc, Json } from "../../scheduler/Task.js"
import { IntColumn } from "./Columns.js"

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

/** Default page size of {@link ItemsService.page}: 50. */
export const defaultLimit = 50

/** Largest page size of {@link ItemsService.page}: 1000. */
export const maxLimit = 1000

/** A position in the newest-first order: the row a page ended with (decoded from a cursor). */
export interface ItemsPosition {
  /** The row's `stored_at` (ISO-8601, as stored). */
  readonly storedAt: string
  readonly rowid: number
}

/** Which items {@link ItemsService.page} selects; every filter is optional and they combine with AND. */
export interface ItemsQuery {
  /** Only items of this source: the exact collector instance id, e.g. `news:https://x/feed.xml`. Default: all. */
  readonly source?: string | undefined
  /** Only items of this collector: source `collector` or `collector:<param>`. Default: all. */
  readonly collector?: string | undefined
  /**
   * Only items whose key or raw JSON text contains this text, ignoring case
   * (a scan of the items the other filters select). Default: all.
   */
  readonly q?: string | undefined
  /** Only items stored at or after this instant (`stored_at`, inclusive). Default: no lower bound. */
  readonly since?: DateTime.Utc | undefined
  /** Only items stored before this instant (`stored_at`, exclusive). Default: no upper bound. */
  readonly until?: DateTime.Utc | undefined
  /** Page size, 1 to {@link maxLimit} (rounded down, clamped). Default: {@link defaultLimit}. */
  readonly limit?: number | undefined
  /** Start after this position (from the previous page's cursor). Default: the newest item. */
  readonly after?: ItemsPosition | undefined
}

/** One page of items, newest first. */
export interface ItemsPage {
  readonly items: ReadonlyArray<Item>
  /** Cursor of the next (older) page; none when this is the last page. Pass it to {@link decodeCursor}. */
  readonly nextCursor: Option.Option<string>
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
  /** One page of items matching `query`, newest first by (`stored_at`, `rowid`); see the module doc. */
  readonly page: (query: ItemsQuery) => Effect.Effect<ItemsPage>
}

/** The {@link ItemsService}. */
export class Items extends Context.Tag("rayinfo/Items")<Items, ItemsService>() {}

/** SQLite's integer 0 / 1 for a boolean (any non-zero integer reads as true). */
const BooleanFromInteger = Schema.transform(Schema.Number, Schema.Boolean, {
  strict: true,
  decode: (n) => n !== 0,
  encode: (b) => b ? 1 : 0
})

/** The columns of an `items` row that an event fills (all but `stored_at`). */
const eventColumns = {
  source: Schema.String,
  key: Schema.String,
  /** JSON text. */
  raw: Schema.parseJson(Json),
  /** ISO-8601 UTC text. */
  fetchedAt: Schema.propertySignature(Schema.DateTimeUtc).pipe(Schema.fromKey("fetched_at")),
  /** 0 or 1. */
  debug: BooleanFromInteger
}

/**
 * A `RawEvent` as the columns of its `items` row, `stored_at` aside (what
 * the pipeline writes). Encoding validates the whole event: a `raw` that is
 * not JSON (circular, a `bigint`, ...) is an encoding error.
 */
export const EventColumns = Schema.Struct(eventColumns)

/** An `items` row as an {@link Item}. */
export const ItemRow: Schema.Schema<Item, typeof EventColumns.Encoded & { readonly stored_at: string }> = Schema
  .Struct({
    ...eventColumns,
    storedAt: Schema.propertySignature(Schema.DateTimeUtc).pipe(Schema.fromKey("stored_at"))
  })

/** An item with what a cursor names: `stored_at` as stored (text, compared as text) and `rowid`. */
const PagedItemRow = Schema.Struct({
  ...eventColumns,
  storedAt: Schema.propertySignature(Schema.DateTimeUtc).pipe(Schema.fromKey("stored_at")),
  position: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("position_stored_at")),
  /** SQLite's `rowid`; PostgreSQL's `id` (`BIGINT`, text from the driver). */
  rowid: IntColumn
})

/** A `CAST(COUNT(*) AS INTEGER)` row (a plain `COUNT(*)` is `BIGINT`, text, on PostgreSQL). */
const CountRow = Schema.Struct({ count: IntColumn })

/** A row of counts by source: a {@link SourceCount}. */
const SourceCountRow: Schema.Schema<SourceCount, { readonly source: string; readonly count: number | string }> = Schema
  .Struct({ source: Schema.String, count: IntColumn })

/**
 * The filters of a page, encoded for SQL: instants as ISO-8601 text (as
 * `stored_at` is stored, so that they compare as text).
 */
const PageRequest = Schema.Struct({
  source: Schema.optional(Schema.String),
  collector: Schema.optional(Schema.String),
  q: Schema.optional(Schema.String),
  since: Schema.optional(Schema.DateTimeUtc),
  until: Schema.optional(Schema.DateTimeUtc),
  /** Rows to read: one more than the page size, to know whether there is a next page. */
  rows: Schema.Number,
  after: Schema.optional(Schema.Struct({ storedAt: Schema.String, rowid: Schema.Number }))
})

/** A page size within 1..{@link maxLimit}; {@link defaultLimit} when absent or not a number. */
const clampLimit = (limit: number | undefined): number =>
  limit === undefined || Number.isNaN(limit) ? defaultLimit : Math.min(maxLimit, Math.max(1, Math.floor(limit)))

// ---- cursors and query parameters ------------------------------------------

/** A cursor is base64url(JSON `[stored_at, rowid]`): opaque to clients, but nothing secret. */
const Cursor = Schema.compose(
  Schema.StringFromBase64Url,
  Schema.parseJson(Schema.Tuple(Schema.String, Schema.NonNegativeInt))
)

/** The opaque cursor of a position (what a page's `nextCursor` holds). */
export const encodeCursor = (position: ItemsPosition): string =>
  Schema.encodeSync(Cursor)([position.storedAt, position.rowid])

/** Bad input to the item queries: a query parameter (or CLI option) that is unknown or malformed. */
export class InvalidItemsQuery extends Data.TaggedError("InvalidItemsQuery")<{
  /** The parameter's name, e.g. `limit`. */
  readonly parameter: string
  /** What is wrong, e.g. `expected an integer from 1 to 1000, got "0"`. */
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid ${this.parameter}: ${this.reason}`
  }
}

/** Decodes a cursor from a page's `nextCursor`; anything else is an {@link InvalidItemsQuery} on `cursor`. */
export const decodeCursor = (cursor: string): Either.Either<ItemsPosition, InvalidItemsQuery> =>
  Schema.decodeUnknownEither(Cursor)(cursor).pipe(
    Either.map(([storedAt, rowid]) => ({ storedAt, rowid })),
    Either.mapLeft(() =>
      new InvalidItemsQuery({ parameter: "cursor", reason: "not a cursor returned as next_cursor by a previous page" })
    )
  )

/** The query parameters {@link parseQuery} reads. */
export const queryParameters = ["source", "collector", "q", "since", "until", "limit", "cursor"] as const

/** The longest search text (`q`). */
export const maxSearchLength = 200

/** Raw query parameters as they come from a URL (a repeated parameter is an array) or the command line. */
export type RawItemsQuery = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/**
 * Parses text parameters into an {@link ItemsQuery}: `source`, `collector`
 * (non-empty), `since`, `until` (ISO-8601 instants such as
 * `2024-05-01T12:00:00Z`, `2024-05-01T20:00:00+08:00` or `2024-05-01`; no
 * offset means UTC; `until` must be after `since`), `limit` (an integer
 * from 1 to {@link maxLimit}; default {@link defaultLimit}) and `cursor` (a
 * previous page's `nextCursor`). Absent (`undefined`) parameters are not set.
 * An unknown parameter, a repeated one or a malformed value is an
 * {@link InvalidItemsQuery} naming the parameter.
 */
export const parseQuery = (raw: RawItemsQuery): Either.Either<ItemsQuery, InvalidItemsQuery> =>
  Either.gen(function*() {
    const fail = (parameter: string, reason: string) => Either.left(new InvalidItemsQuery({ parameter, reason }))
    const known: ReadonlyArray<string> = queryParameters
    const values: Record<string, string> = {}
    for (const [name, value] of Object.entries(raw)) {
      if (value === undefined) continue
      if (!known.includes(name)) {
        return yield* fail(name, `unknown parameter (known: ${queryParameters.join(", ")})`)
      }
      if (typeof value !== "string") {
        if (value.length !== 1) return yield* fail(name, "given more than once")
        values[name] = value[0]!
      } else {
        values[name] = value
      }
    }
    const text = (name: string) =>
      values[name] === undefined
        ? Either.right(undefined)
        : values[name] === ""
        ? fail(name, "must not be empty")
        : Either.right(values[name])
    const instant = (name: string) =>
      values[name] === undefined ?
        Either.right(undefined) :
        Schema.decodeUnknownEither(IsoDateTimeUtc)(values[name]).pipe(
          Either.mapLeft((error) =>
            new InvalidItemsQuery({
              parameter: name,
              reason: ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.message ?? String(error)
            })
          )
        )
    const source = yield* text("source")
    const collector = yield* text("collector")
    const q = yield* text("q")
    if (q !== undefined && q.length > maxSearchLength) {
      return yield* fail("q", `must be at most ${maxSearchLength} characters, got ${q.length}`)
    }
    const since = yield* instant("since")
    const until = yield* instant("until")
    if (since !== undefined && until !== undefined && !DateTime.lessThan(since, until)) {
      return yield* fail(
        "until",
        `must be after since (${DateTime.formatIso(since)}), got ${DateTime.formatIso(until)}`
      )
    }
    let limit: number | undefined
    if (values.limit !== undefined) {
      limit = /^\d{1,9}$/.test(values.limit) ? Number(values.limit) : NaN
      if (!(limit >= 1 && limit <= maxLimit)) {
        return yield* fail("limit", `expected an integer from 1 to ${maxLimit}, got ${JSON.stringify(values.limit)}`)
      }
    }
    const after = values.cursor === undefined ? undefined : yield* decodeCursor(values.cursor)
    return { source, collector, q, since, until, limit, after }
  })

/** A row count for LIMIT: none for `Infinity` (no LIMIT at all: PostgreSQL has no `LIMIT -1`), 0 for NaN. */
const rowLimit = (limit: number): number | undefined =>
  limit === Infinity ? undefined : Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0

/** Builds the service on a SQL client; exported for composing without the layer. */
export const make: Effect.Effect<ItemsService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  /** The insertion order: SQLite's implicit `rowid`, PostgreSQL's `id` identity column. */
  const rowid = sql.onDialectOrElse({ pg: () => sql.literal("id"), orElse: () => sql.literal("rowid") })
  const limitClause = (limit: number) => {
    const rows = rowLimit(limit)
    return rows === undefined ? sql.literal("") : sql`LIMIT ${rows}`
  }

  const count = SqlSchema.single({
    Request: Schema.Void,
    Result: CountRow,
    execute: () => sql`SELECT CAST(COUNT(*) AS INTEGER) AS count FROM items`
  })

  const countBySource = SqlSchema.findAll({
    Request: Schema.Void,
    Result: SourceCountRow,
    execute: () => sql`SELECT source, CAST(COUNT(*) AS INTEGER) AS count FROM items GROUP BY source ORDER BY source`
  })

  const recent = SqlSchema.findAll({
    Request: Schema.Number,
    Result: ItemRow,
    execute: (limit) =>
      sql`SELECT source, key, raw, fetched_at, stored_at, debug FROM items
          ORDER BY stored_at DESC, ${rowid} DESC ${limitClause(limit)}`
  })

  /** The key or the raw JSON text contains `text`, ignoring case (no LIKE: no wildcard to escape). */
  const contains = (text: string) => {
    const needle = text.toLowerCase()
    return sql.onDialectOrElse({
      pg: () => sql`(strpos(lower(key), ${needle}) > 0 OR strpos(lower(raw), ${needle}) > 0)`,
      orElse: () => sql`(instr(lower(key), ${needle}) > 0 OR instr(lower(raw), ${needle}) > 0)`
    })
  }

  const pageRows = SqlSchema.findAll({
    Request: PageRequest,
    Result: PagedItemRow,
    execute: (query) => {
      const where = sql.and([
        ...(query.source === undefined ? [] : [sql`source = ${query.source}`]),
        ...(query.collector === undefined ? [] : [
          sql`(source = ${query.collector} OR substr(source, 1, length(${query.collector + ":"})) = ${
            query.collector + ":"
          })`
        ]),
        ...(query.q === undefined ? [] : [contains(query.q)]),
        ...(query.since === undefined ? [] : [sql`stored_at >= ${query.since}`]),
        ...(query.until === undefined ? [] : [sql`stored_at < ${query.until}`]),
        ...(query.after === undefined
          ? []
          : [sql`(stored_at, ${rowid}) < (${query.after.storedAt}, ${query.after.rowid})`])
      ])
      return sql`SELECT ${rowid} AS rowid, stored_at AS position_stored_at, source, key, raw, fetched_at, stored_at, debug
        FROM items
        WHERE ${where} ORDER BY stored_at DESC, ${rowid} DESC LIMIT ${query.rows}`
    }
  })

  const page: ItemsService["page"] = (query) => {
    const limit = clampLimit(query.limit)
    // one row more than asked: whether there is a next page, without an extra query
    return pageRows({ ...query, rows: limit + 1 }).pipe(
      Effect.map((rows): ItemsPage => {
        const items = rows.slice(0, limit).map(({ position: _position, rowid: _rowid, ...item }) => item)
        const last = rows[limit - 1]
        return {
          items,
          nextCursor: rows.length > limit && last !== undefined
            ? Option.some(encodeCursor({ storedAt: last.position, rowid: last.rowid }))
            : Option.none()
        }
      }),
      Effect.orDie,
      Effect.withSpan("Items.page")
    )
  }

  return {
    count: count(undefined).pipe(Effect.map(({ count }) => count), Effect.orDie, Effect.withSpan("Items.count")),
    countBySource: countBySource(undefined).pipe(Effect.orDie, Effect.withSpan("Items.countBySource")),
    recent: (limit) => recent(limit).pipe(Effect.orDie, Effect.withSpan("Items.recent")),
    page
  }
})

/**
 * The {@link Items} queries on the SqlClient's database (see `Database.ts`
 * for the schema), SQLite or PostgreSQL. On PostgreSQL this is also the
 * reader's layer (over `Database.layerPg({ url, migrate: false })`): the
 * server lets readers and writers work concurrently.
 */
export const layer: Layer.Layer<Items, never, SqlClient.SqlClient> = Layer.effect(Items, make)

/**
 * The {@link Items} queries on an existing database file opened read-only
 * (no migrations, no writes): for readers such as `rayinfo items`, which may
 * run while the service writes to the same file (WAL mode lets readers and
 * the writer work concurrently). A missing file is a `SqlError` saying so.
 */
export const layerReadonly = (
  filename: string
): Layer.Layer<Items, SqlError | ConfigError, FileSystem.FileSystem> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(filename).pipe(
        Effect.mapError((cause) => new SqlError({ cause, message: `Cannot read the database file ${filename}` }))
      )
      if (!exists) return yield* new SqlError({ cause: null, message: `No database file at ${filename}` })
      return layer.pipe(Layer.provide(SqliteClient.layer({ filename, readonly: true, disableWAL: true })))
    })
  )
