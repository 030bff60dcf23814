/**
 * Migration 1: the `items` table — every stored event, unique on
 * (source, key), with an index for "most recently stored first".
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `items` and its `stored_at` index. */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE items (
      source     TEXT    NOT NULL,
      key        TEXT    NOT NULL,
      raw        TEXT    NOT NULL,
      fetched_at TEXT    NOT NULL,
      debug      INTEGER NOT NULL DEFAULT 0 CHECK (debug IN (0, 1)),
      stored_at  TEXT    NOT NULL,
      PRIMARY KEY (source, key)
    )`
  yield* sql`CREATE INDEX items_stored_at ON items (stored_at)`
})
