/**
 * Migration 2: the `job_state` table — one row per collector instance.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `job_state`. */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE job_state (
      instance      TEXT    NOT NULL PRIMARY KEY,
      last_run_at   TEXT,
      run_count     INTEGER NOT NULL DEFAULT 0,
      error_count   INTEGER NOT NULL DEFAULT 0,
      last_error    TEXT,
      last_error_at TEXT
    )`
})
