/**
 * Migration 4: coordination between processes sharing one database —
 *
 * - `service_lease`: at most one row; the running service that owns the
 *   database (a second service refuses to start while it is valid);
 * - `job_lease`: one row per job being run right now, by any process (the
 *   service or a `rayinfo trigger`), so runs of one job never overlap;
 * - `process_group`: the process groups of running commands, so a service
 *   killed with SIGKILL has its commands' groups reaped at the next start.
 *
 * A holder is named by its process identity (`owner_*` columns, see
 * `ProcessOwner.ts`); leases expire at `expires_at` (epoch milliseconds)
 * unless renewed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `service_lease`, `job_lease` and `process_group`. */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE service_lease (
      id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
      owner       TEXT    NOT NULL,
      description TEXT    NOT NULL,
      acquired_at INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL
    )`
  yield* sql`
    CREATE TABLE job_lease (
      instance    TEXT    NOT NULL PRIMARY KEY,
      owner       TEXT    NOT NULL,
      description TEXT    NOT NULL,
      acquired_at INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL
    )`
  yield* sql`
    CREATE TABLE process_group (
      pgid        INTEGER NOT NULL,
      boot_id     TEXT    NOT NULL,
      owner       TEXT    NOT NULL,
      instance    TEXT    NOT NULL,
      command     TEXT    NOT NULL,
      started_at  INTEGER NOT NULL,
      PRIMARY KEY (boot_id, pgid)
    )`
})
