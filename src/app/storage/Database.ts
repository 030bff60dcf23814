/**
 * `Database` — the RayInfo database, a `SqlClient` with the schema
 * migrations applied when the layer is built:
 *
 * - {@link layer}: SQLite (better-sqlite3 through `@effect/sql-sqlite-node`,
 *   WAL journal) on one file, migrations of `./migrations/index.ts`;
 * - {@link layerPg}: PostgreSQL (`@effect/sql-pg`, a pool) at a URL,
 *   migrations of `./migrations/pg.ts` — the same tables with PostgreSQL
 *   types (see that file), so every store runs unchanged on both.
 *
 * The layer owns the connection: releasing it (closing the scope it was
 * built in) closes the database (SQLite: which checkpoints the WAL) or the
 * pool.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import type * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { migrations } from "./migrations/index.js"
import { pgMigrations } from "./migrations/pg.js"
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

/** Options of {@link layerPg}. */
export interface PgDatabaseOptions {
  /** `postgres://user:password@host:port/database?...` (a libpq connection URL). No default. */
  readonly url: Redacted.Redacted<string>
  /**
   * How long an operation keeps retrying while it fails with a transient
   * error (serialization failure, deadlock, lock not available, the server
   * restarting, a connection exception; see `StorageError.isTransient`) before
   * failing with a `StorageError`. Default: 10 seconds.
   */
  readonly busyTimeout?: Duration.DurationInput | undefined
  /**
   * Whether building the layer applies the pending migrations. `false` for
   * readers that must not change the schema (e.g. `rayinfo items`), on a
   * database a service has migrated. Default: `true`.
   */
  readonly migrate?: boolean | undefined
}

/** What the database layers provide. */
export type Database = SqlClient.SqlClient

/** How building the database layers can fail. */
export type DatabaseError = SqlError | Migrator.MigrationError | ConfigError

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
  return migrator.pipe(
    Layer.provideMerge(client),
    Layer.provide(NodeContext.layer),
    Layer.merge(busyTimeoutLayer(options.busyTimeout))
  )
}

const busyTimeoutLayer = (busyTimeout: Duration.DurationInput | undefined): Layer.Layer<never> =>
  busyTimeout === undefined ? Layer.empty : Layer.succeed(BusyTimeout, Duration.decode(busyTimeout))

/**
 * Another session created the migrations table meanwhile: the migrator's
 * `CREATE TABLE` (run when `select 'table'::regclass` found none) fails with
 * a unique violation in PostgreSQL's catalog (23505) or "already exists"
 * (42P07 duplicate_table, 42710 duplicate_object).
 */
const isCreationRace = (error: unknown): boolean => {
  const code = error instanceof SqlError ? (error.cause as { readonly code?: unknown } | undefined)?.code : undefined
  return code === "23505" || code === "42P07" || code === "42710"
}

/** Between attempts after a creation race: about 100 ms, at most 20 times. */
const creationRaceRetry = Schedule.spaced(Duration.millis(100)).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(20))
)

/**
 * The PostgreSQL migrator: the migrations of `./migrations/pg.ts`, recorded
 * in {@link migrationsTable}. Processes starting together on an empty
 * database race to create that table (see {@link isCreationRace}); the
 * losers try again, and then wait on the migrator's table lock, so each
 * migration runs once.
 */
const pgMigrator: Layer.Layer<never, DatabaseError, PgClient.PgClient | SqlClient.SqlClient> = Layer.effectDiscard(
  PgMigrator.run({ loader: PgMigrator.fromRecord(pgMigrations), table: migrationsTable }).pipe(
    Effect.retry({ schedule: creationRaceRetry, while: isCreationRace }),
    Effect.provide(NodeContext.layer)
  )
)

/**
 * The database at `options.url` on PostgreSQL: a pool (`PgClient`, with
 * `application_name` `rayinfo`) and, unless `migrate: false`, the pending
 * migrations of `./migrations/pg.ts` (recorded in {@link migrationsTable};
 * several processes may build it at once on an empty database). The client
 * keeps the driver's type parsing: `BIGINT` columns come back as text and
 * the stores decode them where they read them (`Columns.IntColumn`).
 * Fails with a `SqlError` when the server cannot be reached.
 */
export const layerPg = (options: PgDatabaseOptions): Layer.Layer<Database, DatabaseError> => {
  const client = PgClient.layer({ url: options.url, applicationName: "rayinfo" })
  const migrated = options.migrate === false ? client : pgMigrator.pipe(Layer.provideMerge(client))
  return Layer.merge(migrated, busyTimeoutLayer(options.busyTimeout))
}

/** A private, migrated in-memory database (`":memory:"`), e.g. for tests. */
export const layerMemory: Layer.Layer<Database, DatabaseError> = layer({ filename: ":memory:" })
