/**
 * The SQL layer's store: tables, migrations, the store lease, and the
 * statements the SQL backend runs (docs/architecture.md, "The SQL layer").
 * Written for @effect/sql's `SqlClient`, so it runs on SQLite
 * (`@effect/sql-sqlite-node`) and PostgreSQL (`@effect/sql-pg`): portable
 * SQL, with the few dialect differences in `onDialectOrElse`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { DeadLetter, DeadLetterReason } from "../Scheduler.js"
import type { JsonObject } from "../Task.js"
import { Task } from "../Task.js"

/** A table-name prefix: letters, digits and `_`, starting with a letter or `_`. @internal */
export const validPrefix = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/

/** The store's table names. @internal */
export interface Tables {
  readonly tasks: string
  readonly deadLetters: string
  readonly lease: string
  readonly schema: string
  readonly schedules: string
}

/** @internal */
export const tables = (prefix: string): Tables => ({
  tasks: `${prefix}tasks`,
  deadLetters: `${prefix}dead_letters`,
  lease: `${prefix}lease`,
  schema: `${prefix}schema`,
  schedules: `${prefix}schedules`
})

/** A task row as read back. @internal */
export interface TaskRow {
  readonly seq: number
  readonly id: string
  readonly source: string
  readonly due_ms: number
  readonly args: string
  readonly attempts: number
  /** When the first failed run of the task's current retries ended; null: it is not being retried. */
  readonly retry_ms?: number | null | undefined
}

/**
 * The 53-bit hash of a task id that the tasks table is indexed by (an integer
 * index is a fraction of the size of one on the id's text, and it is the
 * index that every submit and every end writes at a random place). Stored in
 * the `h` column: **it must never change** (two 32-bit FNV-1a lanes over the
 * id's UTF-16 code units, with different offsets and primes). Equal hashes of
 * different ids are told apart by comparing the ids. @internal
 */
export const idHash = (id: string): number => {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff)
}

/** The tasks table of schema version 2 (see `migrations`) under the name `name`. */
const createTasks = (sql: SqlClient.SqlClient, name: string) =>
  sql.onDialectOrElse<Effect.Effect<unknown, SqlError>, never, Effect.Effect<unknown, SqlError>>({
    pg: () =>
      sql`CREATE TABLE ${sql(name)} (
        seq BIGSERIAL PRIMARY KEY,
        h BIGINT NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        due_ms BIGINT NOT NULL,
        args TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0
      )`,
    orElse: () =>
      sql`CREATE TABLE ${sql(name)} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        h INTEGER NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        due_ms INTEGER NOT NULL,
        args TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0
      )`
  })

/**
 * Version 2: the tasks table is rebuilt with `h` (`idHash(id)`, indexed, not
 * unique: the scheduler checks ids itself, under its lock, as the store's one
 * writer) in place of the unique index on `id`, and `done` (a run that
 * succeeded; the row is deleted later, with others: see "The SQL layer" in
 * docs/architecture.md). Rows keep their `seq`.
 */
const rebuildTasks = (sql: SqlClient.SqlClient, t: Tables): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const next = `${t.tasks}_v2`
    yield* createTasks(sql, next)
    let after = -1
    for (;;) {
      const rows = yield* sql<TaskRow>`SELECT seq, id, source, due_ms, args, attempts
        FROM ${sql(t.tasks)} WHERE seq > ${after} ORDER BY seq LIMIT ${chunkRows}`
      if (rows.length === 0) break
      yield* sql`INSERT INTO ${sql(next)} ${
        sql.insert(rows.map((row) => ({
          seq: Number(row.seq),
          h: idHash(row.id),
          id: row.id,
          source: row.source,
          due_ms: Number(row.due_ms),
          args: row.args,
          attempts: Number(row.attempts)
        })))
      }`
      after = Number(rows[rows.length - 1]!.seq)
    }
    yield* sql.onDialectOrElse({
      // the copied seqs were explicit: the serial continues after the largest
      pg: () =>
        sql`SELECT setval(pg_get_serial_sequence(${next}, 'seq'),
          GREATEST((SELECT MAX(seq) FROM ${sql(next)}), 1), (SELECT COUNT(*) FROM ${sql(next)}) > 0)`,
      orElse: () => Effect.void
    })
    yield* sql`DROP TABLE ${sql(t.tasks)}`
    yield* sql`ALTER TABLE ${sql(next)} RENAME TO ${sql(t.tasks)}`
    yield* sql`CREATE INDEX ${sql(`${t.tasks}_due`)} ON ${sql(t.tasks)} (due_ms, seq)`
    yield* sql`CREATE INDEX ${sql(`${t.tasks}_h`)} ON ${sql(t.tasks)} (h)`
    yield* sql`CREATE INDEX ${sql(`${t.tasks}_done`)} ON ${sql(t.tasks)} (seq) WHERE done = 1`
  })

/** The schema, one migration per step; a store records the steps it applied. */
const migrations = (sql: SqlClient.SqlClient, t: Tables): ReadonlyArray<Effect.Effect<unknown, SqlError>> => [
  // 1: the first tasks table (unique ids), dead letters, the lease
  Effect.all([
    sql.onDialectOrElse<Effect.Effect<unknown, SqlError>, never, Effect.Effect<unknown, SqlError>>({
      pg: () =>
        sql`CREATE TABLE ${sql(t.tasks)} (
          seq BIGSERIAL PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          source TEXT NOT NULL,
          due_ms BIGINT NOT NULL,
          args TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0
        )`,
      orElse: () =>
        sql`CREATE TABLE ${sql(t.tasks)} (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          source TEXT NOT NULL,
          due_ms INTEGER NOT NULL,
          args TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0
        )`
    }),
    sql`CREATE INDEX ${sql(`${t.tasks}_due`)} ON ${sql(t.tasks)} (due_ms, seq)`,
    sql`CREATE TABLE ${sql(t.deadLetters)} (
      id TEXT PRIMARY KEY,
      source TEXT NOT NULL,
      due_ms BIGINT NOT NULL,
      args TEXT NOT NULL,
      reason TEXT NOT NULL,
      error TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      dead_ms BIGINT NOT NULL
    )`,
    sql`CREATE INDEX ${sql(`${t.deadLetters}_dead`)} ON ${sql(t.deadLetters)} (dead_ms)`,
    sql`CREATE TABLE ${sql(t.lease)} (
      name TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      host TEXT NOT NULL,
      pid INTEGER NOT NULL,
      expires_ms BIGINT NOT NULL
    )`
  ], { discard: true }),
  // 2: ids hashed, runs that succeeded marked done
  rebuildTasks(sql, t),
  // 3: retries (the first failure's instant) and recurring schedules
  Effect.all([
    sql`ALTER TABLE ${sql(t.tasks)} ADD COLUMN retry_ms BIGINT`,
    sql`CREATE TABLE ${sql(t.schedules)} (
      id TEXT PRIMARY KEY,
      spec TEXT NOT NULL,
      next_ms BIGINT NOT NULL,
      current_id TEXT
    )`
  ], { discard: true })
]

/**
 * Creates the tables (or applies the migrations they miss), in one
 * transaction. @internal
 */
export const migrate = (sql: SqlClient.SqlClient, t: Tables): Effect.Effect<void, SqlError> =>
  sql.withTransaction(Effect.gen(function*() {
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(t.schema)} (version INTEGER NOT NULL)`
    const rows = yield* sql<{ readonly version: number }>`SELECT MAX(version) AS version FROM ${sql(t.schema)}`
    const applied = Number(rows[0]?.version ?? 0)
    const steps = migrations(sql, t)
    for (let version = applied + 1; version <= steps.length; version++) {
      yield* steps[version - 1]!
      yield* sql`INSERT INTO ${sql(t.schema)} (version) VALUES (${version})`
    }
  }))

/** A task row's task (the row was written from a valid `Task`); undefined if the row is corrupt. @internal */
export const taskOfRow = (row: TaskRow): Task | undefined => {
  let args: unknown
  try {
    args = JSON.parse(row.args)
  } catch {
    return undefined
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) return undefined
  const due = Number(row.due_ms)
  if (!Number.isFinite(due)) return undefined
  return new Task(
    { id: row.id, source: row.source, args: args as JsonObject, scheduleAt: DateTime.unsafeMake(due) },
    true
  )
}

/** A dead-letter row. @internal */
export interface DeadLetterRow {
  readonly id: string
  readonly source: string
  readonly due_ms: number
  readonly args: string
  readonly reason: string
  readonly error: string
  readonly attempts: number
  readonly dead_ms: number
}

/** A dead letter of a row; undefined if the row is corrupt. @internal */
export const deadLetterOfRow = (row: DeadLetterRow): DeadLetter | undefined => {
  const task = taskOfRow({ seq: 0, id: row.id, source: row.source, due_ms: row.due_ms, args: row.args, attempts: 0 })
  if (task === undefined) return undefined
  return {
    task,
    reason: row.reason as DeadLetterReason,
    error: row.error,
    attempts: Number(row.attempts),
    at: DateTime.unsafeMake(Number(row.dead_ms))
  }
}

/** Rows per multi-row statement (SQLite allows 32,766 parameters; PostgreSQL 65,535). @internal */
export const chunkRows = 1000

/** Splits `items` into chunks of at most `size`. @internal */
export const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * `column IN (the given integers)` (`seq`s or `h`ashes) in one statement
 * shape whatever their number: the values travel as one text parameter, so the statement is compiled and
 * prepared once (an `IN (?, ?, …)` list has a shape per length: a prepare
 * per flush, 12 % of the durable drain's profile).
 *
 * @internal
 */
export const intIn = (sql: SqlClient.SqlClient, column: "seq" | "h", values: ReadonlyArray<number>) =>
  sql.onDialectOrElse({
    pg: () => sql`${sql(column)} = ANY(string_to_array(${values.join(",")}, ',')::bigint[])`,
    orElse: () => sql`${sql(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`
  })
