/**
 * Migration 3: the `job_meta` table — collector-private JSON values by
 * (instance, key).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `job_meta`. */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE job_meta (
      instance TEXT NOT NULL,
      key      TEXT NOT NULL,
      value    TEXT NOT NULL,
      PRIMARY KEY (instance, key)
    )`
})
