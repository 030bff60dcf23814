import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import { Items } from "../../src/app/storage/Items.js"
import { event, services, tempDbFile, withMigrationLogs } from "./tempDb.js"

const tables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
  return rows.map((row) => row.name)
})

const appliedMigrations = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ migration_id: number; name: string }>`
    SELECT migration_id, name FROM ${sql(Database.migrationsTable)} ORDER BY migration_id`
})

describe("Database", () => {
  it.scoped("creates the parent directory and the tables on a new file", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
      const { migrations, result } = yield* withMigrationLogs(
        Effect.all([tables, appliedMigrations]).pipe(Effect.provide(Database.layer({ filename })))
      )
      const [names, applied] = result
      assert.isTrue(fs.existsSync(filename))
      for (const table of ["items", "job_state", "job_meta", "lease", "process_group", Database.migrationsTable]) {
        assert.include(names, table)
      }
      assert.deepStrictEqual(applied.map((m) => [m.migration_id, m.name]), [
        [1, "create_items"],
        [2, "create_job_state"],
        [3, "create_job_meta"],
        [4, "create_leases"],
        [5, "index_items_by_source"]
      ])
      assert.deepStrictEqual(migrations, ["1", "2", "3", "4", "5"])
    }))

  it.scoped("reopening a file keeps the data and does not re-run migrations; closing closes cleanly", () =>
    Effect.gen(function*() {
      const filename = yield* tempDbFile
      const first = yield* withMigrationLogs(
        Effect.gen(function*() {
          const pipeline = yield* Pipeline
          const result = yield* pipeline.run(Stream.make(event("a"), event("b")))
          return { ...result, walWhileOpen: fs.existsSync(`${filename}-wal`) }
        }).pipe(Effect.provide(services(filename)))
      )
      assert.deepStrictEqual(first.result, { received: 2, duplicates: 0, stored: 2, walWhileOpen: true })
      assert.deepStrictEqual(first.migrations, ["1", "2", "3", "4", "5"])
      // The layer was released: the connection is closed, the WAL checkpointed and removed.
      assert.isFalse(fs.existsSync(`${filename}-wal`))

      const second = yield* withMigrationLogs(
        Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          const before = yield* items.count
          // A new layer has an empty dedup: storage alone makes it idempotent.
          const again = yield* pipeline.run(Stream.make(event("a"), event("b"), event("c")))
          return { before, again, after: yield* items.count, applied: yield* appliedMigrations }
        }).pipe(Effect.provide(services(filename)))
      )
      assert.deepStrictEqual(second.migrations, [])
      assert.strictEqual(second.result.before, 2)
      assert.deepStrictEqual(second.result.again, { received: 3, duplicates: 0, stored: 1 })
      assert.strictEqual(second.result.after, 3)
      assert.deepStrictEqual(second.result.applied.map((m) => m.migration_id), [1, 2, 3, 4, 5])
    }))

  it.effect("layerMemory gives a private migrated database per build", () =>
    Effect.gen(function*() {
      const insertOne = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO job_meta (instance, key, value) VALUES ('i', 'k', '1')`
        return (yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM job_meta`)[0]?.n
      })
      assert.strictEqual(yield* Effect.provide(insertOne, Database.layerMemory), 1)
      assert.strictEqual(yield* Effect.provide(insertOne, Database.layerMemory), 1)
    }))
})
