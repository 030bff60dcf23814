/**
 * Test support for the storage tests: a temporary directory (under the OS
 * temp dir, removed when the scope closes) and sessions on a real SQLite file;
 * and the {@link Backend}s, to run one suite on SQLite and on PostgreSQL.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { DateTime, Effect, Layer, Logger, LogLevel } from "effect"
import type * as Duration from "effect/Duration"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import type { RawEvent } from "../../src/app/collectors/Collector.js"
import type { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Items from "../../src/app/storage/Items.js"
import type { JobStateStore } from "../../src/app/storage/JobStateStore.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"
import { freshDatabase } from "../services/postgres.js"
import { captureLogs } from "../support.js"

/** A fresh temporary directory, removed (recursively) when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-storage-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A path for a database file in a fresh temporary directory (in a subdirectory that does not exist yet). */
export const tempDbFile: Effect.Effect<string, never, Scope.Scope> = Effect.map(
  tempDir,
  (dir) => path.join(dir, "data", "rayinfo.db")
)

/** Everything the storage layers provide, on one database file. */
export const services = (
  filename: string,
  options: SqlPipeline.SqlPipelineOptions = {}
) =>
  Layer.mergeAll(SqlPipeline.layer(options), Items.layer, SqlJobStateStore.layer).pipe(
    Layer.provideMerge(Database.layer({ filename }))
  )

/** What the storage layers provide together (see {@link services}). */
export type Services = Pipeline | Items.Items | JobStateStore | SqlClient.SqlClient

/** One empty database for a test, opened as often as the test wants (each opening: a new connection). */
export interface TestDatabase {
  /** The database layer on it (migrated). */
  readonly database: (options?: { readonly busyTimeout?: Duration.DurationInput }) => Layer.Layer<
    Database.Database,
    Database.DatabaseError
  >
  /** Everything the storage layers provide, on it (see {@link services}). */
  readonly services: (options?: SqlPipeline.SqlPipelineOptions) => Layer.Layer<Services, Database.DatabaseError>
}

/** A kind of database the storage suites run on. */
export interface Backend {
  /** `SQLite` or `PostgreSQL`, for test names. */
  readonly name: string
  /** A fresh empty database, removed (file) or dropped (PostgreSQL) when the scope closes. */
  readonly fresh: Effect.Effect<TestDatabase, never, Scope.Scope>
}

const storageOn = <E>(
  database: Layer.Layer<Database.Database, E>,
  options: SqlPipeline.SqlPipelineOptions = {}
): Layer.Layer<Services, E> =>
  Layer.mergeAll(SqlPipeline.layer(options), Items.layer, SqlJobStateStore.layer).pipe(
    Layer.provideMerge(database)
  )

/** A SQLite file in a fresh temporary directory. */
export const sqlite: Backend = {
  name: "SQLite",
  fresh: Effect.map(tempDbFile, (filename) => ({
    database: (options = {}) => Database.layer({ filename, busyTimeout: options.busyTimeout }),
    services: (options) => storageOn(Database.layer({ filename }), options)
  }))
}

/** A fresh PostgreSQL database on the test server (see `freshDatabase`); `tag` goes into its name. */
export const postgres = (tag: string): Backend => ({
  name: "PostgreSQL",
  fresh: Effect.map(freshDatabase(tag), ({ url }) => ({
    database: (options = {}) => Database.layerPg({ url, busyTimeout: options.busyTimeout }),
    services: (options) => storageOn(Database.layerPg({ url }), options)
  }))
})

/** A raw connection of "another process" (better-sqlite3 directly), e.g. to hold a write lock. */
export interface RawConnection {
  exec(sql: string): void
  close(): void
}

/** Opens `filename` with better-sqlite3 directly (no busy wait: it fails at once when locked). */
export const lockingConnection = (filename: string): RawConnection => {
  const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new(
    filename: string,
    options: { readonly timeout: number }
  ) => RawConnection
  return new Sqlite(filename, { timeout: 0 })
}

/** A feed event with key `key` (fetched at the epoch). */
export const event = (key: string): RawEvent => ({
  source: "feed",
  key,
  raw: { title: key },
  fetchedAt: DateTime.unsafeMake(0),
  debug: false
})

/** Runs `effect` with the migrator's debug logs captured; returns the "Running migration" ids. */
export const withMigrationLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  captureLogs((logs) =>
    effect.pipe(
      Effect.map((result) => ({
        result,
        migrations: logs.filter((log) => log.message === "Running migration").map((log) =>
          log.annotations["migration_id"]
        )
      })),
      Logger.withMinimumLogLevel(LogLevel.Debug)
    )
  )
