/**
 * The schema migrations on PostgreSQL, for `Migrator.fromRecord` (see
 * `Database.layerPg`). A record of its own: SQLite's migrations
 * (`./index.ts`) were applied as they are and cannot change, and a new
 * PostgreSQL database starts from the schema they reached in one step.
 * From here on, add each new migration to both records (with the next id of
 * each); never edit or renumber an applied one.
 *
 * `0001_create_schema` creates the tables of SQLite's 0001–0005 (see those
 * files for what each holds), with these differences:
 *
 * - `items.id`: `BIGINT GENERATED ALWAYS AS IDENTITY`, the insertion order
 *   that SQLite's implicit `rowid` gives; `Items` pages on
 *   (`stored_at`, `id`), so both indexes end with `id`.
 * - Epoch-millisecond columns (`lease.acquired_at`, `lease.expires_at`,
 *   `process_group.started_at`) are `BIGINT`: they exceed 2^31. The driver
 *   returns `BIGINT` as text; the stores decode it (`Columns.IntColumn`).
 * - Text that is compared or sorted (names, keys, ISO-8601 instants) is
 *   `COLLATE "C"`: byte order, as SQLite's `BINARY`, so ISO text sorts
 *   chronologically and prefix compares mean what they say whatever the
 *   database's default collation.
 * - `debug` stays `INTEGER` 0/1 and JSON stays `TEXT`, as on SQLite, so
 *   the stores read and write the same values on both.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Creates `items`, `job_state`, `job_meta`, `lease` and `process_group`, with the indexes of SQLite's 0001–0005. */
const createSchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE items (
      id         BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
      source     TEXT    COLLATE "C" NOT NULL,
      key        TEXT    COLLATE "C" NOT NULL,
      raw        TEXT    NOT NULL,
      fetched_at TEXT    COLLATE "C" NOT NULL,
      debug      INTEGER NOT NULL DEFAULT 0 CHECK (debug IN (0, 1)),
      stored_at  TEXT    COLLATE "C" NOT NULL,
      PRIMARY KEY (source, key)
    )`
  yield* sql`CREATE INDEX items_stored_at ON items (stored_at, id)`
  yield* sql`CREATE INDEX items_source_stored_at ON items (source, stored_at, id)`
  yield* sql`
    CREATE TABLE job_state (
      instance      TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
      last_run_at   TEXT    COLLATE "C",
      run_count     INTEGER NOT NULL DEFAULT 0,
      error_count   INTEGER NOT NULL DEFAULT 0,
      last_error    TEXT,
      last_error_at TEXT    COLLATE "C"
    )`
  yield* sql`
    CREATE TABLE job_meta (
      instance TEXT COLLATE "C" NOT NULL,
      key      TEXT COLLATE "C" NOT NULL,
      value    TEXT NOT NULL,
      PRIMARY KEY (instance, key)
    )`
  yield* sql`
    CREATE TABLE lease (
      name        TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
      holder      TEXT   COLLATE "C" NOT NULL,
      owner       TEXT   COLLATE "C" NOT NULL,
      description TEXT   NOT NULL,
      acquired_at BIGINT NOT NULL,
      expires_at  BIGINT NOT NULL
    )`
  yield* sql`
    CREATE TABLE process_group (
      pgid       INTEGER NOT NULL,
      boot_id    TEXT    COLLATE "C" NOT NULL,
      owner      TEXT    COLLATE "C" NOT NULL,
      instance   TEXT    COLLATE "C" NOT NULL,
      command    TEXT    NOT NULL,
      started_at BIGINT  NOT NULL,
      PRIMARY KEY (boot_id, pgid)
    )`
})

/** The PostgreSQL migrations, keyed `<id>_<name>`: `0001_create_schema`. */
export const pgMigrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_create_schema": createSchema
}
