/**
 * `Database.layerPg`: the schema of `migrations/pg.ts` (read from
 * `information_schema`), migrations applied once (also when several
 * processes start together on an empty database), `migrate: false`, an
 * unreachable server, and PostgreSQL's transient errors retried by
 * `withBusyRetry`. Skipped with a reason when PostgreSQL is absent; a
 * failure under `CI=true` (test/services/postgres.ts).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import { Pipeline } from "../../src/app/pipeline/Pipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import { Items } from "../../src/app/storage/Items.js"
import { withBusyRetry } from "../../src/app/storage/StorageError.js"
import { checkPostgres, freshDatabase } from "../services/postgres.js"
import { event, postgres, withMigrationLogs } from "./tempDb.js"

const available = await checkPostgres()

const tables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`
  return rows.map((row) => row.table_name)
})

interface Column {
  readonly table_name: string
  readonly column_name: string
  readonly data_type: string
  readonly is_identity: string
  readonly identity_generation: string | null
  readonly collation_name: string | null
}

const columns = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<Column>`
    SELECT table_name, column_name, data_type, is_identity, identity_generation, collation_name
    FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`
  return new Map(rows.map((row) => [`${row.table_name}.${row.column_name}`, row]))
})

const indexes = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly indexname: string; readonly indexdef: string }>`
    SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'items' ORDER BY indexname`
  return Object.fromEntries(rows.map((row) => [row.indexname, row.indexdef.replace(/^.* USING btree /, "")]))
})

const appliedMigrations = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly migration_id: number; readonly name: string }>`
    SELECT migration_id, name FROM ${sql(Database.migrationsTable)} ORDER BY migration_id`
  return rows.map((row) => [row.migration_id, row.name])
})

describe.skipIf(!available)("Database.layerPg", () => {
  it.scoped("creates the tables of the SQLite schema, with BIGINT ids and ms, and C-collated text", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase("db_schema")
      const { migrations, result } = yield* withMigrationLogs(
        Effect.all([tables, columns, indexes, appliedMigrations]).pipe(Effect.provide(Database.layerPg({ url })))
      )
      const [names, cols, idx, applied] = result
      assert.deepStrictEqual(names, [
        Database.migrationsTable,
        "items",
        "job_meta",
        "job_state",
        "lease",
        "process_group"
      ])
      assert.deepStrictEqual(applied, [[1, "create_schema"]])
      assert.deepStrictEqual(migrations, ["1"])

      assert.deepStrictEqual(
        [...cols.keys()].filter((name) => name.startsWith("items.")),
        ["items.id", "items.source", "items.key", "items.raw", "items.fetched_at", "items.debug", "items.stored_at"]
      )
      const id = cols.get("items.id")!
      assert.deepStrictEqual([id.data_type, id.is_identity, id.identity_generation], ["bigint", "YES", "ALWAYS"])
      for (const name of ["lease.acquired_at", "lease.expires_at", "process_group.started_at"]) {
        assert.strictEqual(cols.get(name)?.data_type, "bigint", name)
      }
      for (const name of ["items.source", "items.key", "items.stored_at", "job_state.instance", "lease.name"]) {
        assert.strictEqual(cols.get(name)?.collation_name, "C", name)
      }
      assert.strictEqual(cols.get("items.debug")?.data_type, "integer")
      assert.deepStrictEqual(idx, {
        items_id_key: "(id)",
        items_pkey: "(source, key)",
        items_source_stored_at: "(source, stored_at, id)",
        items_stored_at: "(stored_at, id)"
      })
    }))

  it.scoped("reopening keeps the data and runs no migration twice", () =>
    Effect.gen(function*() {
      const db = yield* postgres("db_reopen").fresh
      const first = yield* withMigrationLogs(
        Effect.flatMap(Pipeline, (pipeline) => pipeline.run(Stream.make(event("a"), event("b")))).pipe(
          Effect.provide(db.services())
        )
      )
      assert.deepStrictEqual(first.result, { received: 2, duplicates: 0, stored: 2 })
      assert.deepStrictEqual(first.migrations, ["1"])

      const second = yield* withMigrationLogs(
        Effect.gen(function*() {
          const items = yield* Items
          const pipeline = yield* Pipeline
          const before = yield* items.count
          const again = yield* pipeline.run(Stream.make(event("a"), event("b"), event("c")))
          return { before, again, after: yield* items.count, applied: yield* appliedMigrations }
        }).pipe(Effect.provide(db.services()))
      )
      assert.deepStrictEqual(second.migrations, [])
      assert.deepStrictEqual(second.result, {
        before: 2,
        again: { received: 3, duplicates: 0, stored: 1 },
        after: 3,
        applied: [[1, "create_schema"]]
      })
    }))

  it.live("three processes starting together on an empty database all start, and migrate it once", () =>
    Effect.scoped(Effect.gen(function*() {
      // several rounds: the race on the migrations table does not happen every time
      for (let round = 0; round < 4; round++) {
        const { url } = yield* freshDatabase(`db_race${round}`)
        const { migrations, result } = yield* withMigrationLogs(
          Effect.all(
            Array.from(
              { length: 3 },
              () => Effect.scoped(Effect.provide(appliedMigrations, Database.layerPg({ url })))
            ),
            { concurrency: "unbounded" }
          )
        )
        assert.deepStrictEqual(result, [[[1, "create_schema"]], [[1, "create_schema"]], [[1, "create_schema"]]])
        assert.deepStrictEqual(migrations, ["1"], "the migration ran once")
      }
    })))

  it.scoped("migrate: false opens the database as it is", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase("db_nomigrate")
      assert.deepStrictEqual(yield* Effect.provide(tables, Database.layerPg({ url, migrate: false })), [])
    }))

  it.live("an unreachable server is a SqlError when the layer is built", () =>
    Effect.gen(function*() {
      const url = Redacted.make("postgres://postgres@127.0.0.1:1/none")
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Database.layerPg({ url }))))
      assert.strictEqual(error._tag, "SqlError")
    }))

  it.live("a transient error (lock not available, 55P03) is retried until it clears, or until the busy timeout", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* freshDatabase("db_transient")
      /** A client, with the busy timeout of the database layer. */
      const open = (busyTimeout: Duration.DurationInput) =>
        Layer.build(Layer.orDie(Database.layerPg({ url, busyTimeout })))
      const holder = Context.get(yield* open("1 second"), SqlClient.SqlClient)
      yield* holder`INSERT INTO lease VALUES ('l', 'h', 'o', 'd', 0, 0)`
      const hold = (millis: number) =>
        Effect.gen(function*() {
          const locked = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(holder.withTransaction(
            holder`SELECT name FROM lease WHERE name = 'l' FOR UPDATE`.pipe(
              Effect.zipRight(Deferred.succeed(locked, undefined)),
              Effect.zipRight(Effect.sleep(Duration.millis(millis)))
            )
          ))
          yield* Deferred.await(locked)
          return fiber
        })
      const nowait = (context: Context.Context<SqlClient.SqlClient>) =>
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql.withTransaction(sql`SELECT name FROM lease WHERE name = 'l' FOR UPDATE NOWAIT`)
        ).pipe(
          withBusyRetry("reading the lease"),
          Effect.provide(context)
        )

      const patient = yield* open("5 seconds")
      const released = yield* hold(300)
      const start = Date.now()
      assert.deepStrictEqual(yield* nowait(patient), [{ name: "l" }])
      assert.isAtLeast(Date.now() - start, 200, "it waited for the lock")
      yield* Fiber.join(released)

      const hasty = yield* open("200 millis")
      const heldLong = yield* hold(2000)
      const exit = yield* Effect.exit(nowait(hasty))
      yield* Fiber.join(heldLong)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert.strictEqual(error?._tag, "StorageError")
        assert.match(error?.reason ?? "", /lock.*\(55P03\); still failing after 200ms$/)
      }
    })))
})
