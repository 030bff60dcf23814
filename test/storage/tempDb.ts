/**
 * Test support for the storage tests: a temporary directory (under the OS
 * temp dir, removed when the scope closes) and sessions on a real SQLite file.
 */
import { Effect, Layer } from "effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Items from "../../src/app/storage/Items.js"
import * as SqlJobStateStore from "../../src/app/storage/SqlJobStateStore.js"

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
