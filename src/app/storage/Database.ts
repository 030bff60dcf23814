/**
 * `Database` — the RayInfo SQLite database: a `SqlClient` (better-sqlite3
 * through `@effect/sql-sqlite-node`, WAL journal) on one file, with the
 * schema migrations of `./migrations` applied when the layer is built.
 *
 * The layer owns the connection: releasing it (closing the scope it was
 * built in) closes the database, which checkpoints the WAL.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { migrations } from "./migrations/index.js"
import { BusyTimeout, nativeBusyTimeoutMillis } from "./StorageError.js"

/** Options of {@link layer}. */
export interface DatabaseOptions {
  /**
   * Path of the SQLite file; created (with its parent directory) if
   * missing. `":memory:"` opens a private in-memory database. No default.
   */
  readonly filename: string
  /**
   * How long an operation waits, retrying without blocking, for a lock held
   * by another connection before failing with a `StorageError`
   * (`StorageError.BusyTimeout`). Default: 10 seconds.
   */
  readonly busyTimeout?: Duration.DurationInput | undefined
}

/** What the database layers provide. */
export type Database = SqlClient.SqlClient | SqliteClient.SqliteClient

/** How building the database layers can fail. */
export type DatabaseError = SqlError | SqliteMigrator.MigrationError | ConfigError

/** Name of the table where the migrator records applied migrations. */
export const migrationsTable = "effect_sql_migrations"

const isFile = (filename: string): boolean => filename !== "" && filename !== ":memory:"

/** Creates the parent directory of the database file (recursive; no-op if present). */
const ensureParentDirectory = (filename: string): Effect.Effect<void, SqlError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    if (!isFile(filename)) return
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.dirname(path.resolve(filename))
    yield* Effect.mapError(
      fs.makeDirectory(directory, { recursive: true }),
      (cause) => new SqlError({ cause, message: `Failed to create the database directory ${directory}` })
    )
  })

/**
 * The database on `options.filename`: creates the parent directory if
 * missing, opens the file (WAL mode, a short native `busy_timeout` — see
 * `StorageError.ts`) and runs the pending migrations (each
 * applied migration is recorded in {@link migrationsTable}, so reopening a
 * file runs only new ones). A migration that fails makes the layer die
 * (the migrator turns it into a defect).
 */
export const layer = (options: DatabaseOptions): Layer.Layer<Database, DatabaseError> => {
  const client = Layer.unwrapEffect(
    Effect.as(ensureParentDirectory(options.filename), SqliteClient.layer({ filename: options.filename }))
  ).pipe(
    Layer.tap((context) =>
      // one connection: the pragma holds for every statement of the client
      Effect.asVoid(
        Context.get(context, SqliteClient.SqliteClient).unsafe(`PRAGMA busy_timeout = ${nativeBusyTimeoutMillis}`)
      )
    )
  )
  const migrator = SqliteMigrator.layer({ loader: SqliteMigrator.fromRecord(migrations), table: migrationsTable })
  const busyTimeout = options.busyTimeout === undefined
    ? Layer.empty
    : Layer.succeed(BusyTimeout, Duration.decode(options.busyTimeout))
  return migrator.pipe(
    Layer.provideMerge(client),
    Layer.provide(NodeContext.layer),
    Layer.merge(busyTimeout)
  )
}

/** A private, migrated in-memory database (`":memory:"`), e.g. for tests. */
export const layerMemory: Layer.Layer<Database, DatabaseError> = layer({ filename: ":memory:" })
