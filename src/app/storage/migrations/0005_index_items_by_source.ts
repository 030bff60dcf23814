/**
 * Migration 5: an index on `items (source, stored_at)`, for `GET /items` and
 * `rayinfo items` filtered by source (newest first) without sorting every
 * item of that source.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `items_source_stored_at`. */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX items_source_stored_at ON items (source, stored_at)`
})
