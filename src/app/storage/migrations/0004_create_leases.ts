/**
 * Migration 4: coordination between processes sharing one database —
 *
 * - `lease`: named, expiring leases — `service` (the running service that
 *   owns the database: a second service refuses to start while it is held)
 *   and `job:<instance>` (a job being run right now by any process, the
 *   service or a `rayinfo trigger`, so runs of one job never overlap);
 * - `process_group`: the process groups of running commands, so a service
 *   killed with SIGKILL has its commands' groups reaped at the next start.
 *
 * A lease names its `holder` (a random token per holder: one process may
 * hold several) and the holder's process (`owner`, see `ProcessOwner.ts`),
 * so a lease of a process that died on this machine can be taken over at
 * once; otherwise a lease expires at `expires_at` (epoch milliseconds)
 * unless renewed. `description` says who holds it, for messages.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `lease` and `process_group`. */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE lease (
      name        TEXT    NOT NULL PRIMARY KEY,
      holder      TEXT    NOT NULL,
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
