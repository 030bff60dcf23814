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
}

/** @internal */
export const tables = (prefix: string): Tables => ({
  tasks: `${prefix}tasks`,
  deadLetters: `${prefix}dead_letters`,
  lease: `${prefix}lease`,
  schema: `${prefix}schema`
})

/** A task row as read back. @internal */
export interface TaskRow {
  readonly seq: number
  readonly id: string
  readonly source: string
  readonly due_ms: number
  readonly args: string
  readonly attempts: number
}

/** The schema, one migration per step; a store records the steps it applied. */
const migrations = (sql: SqlClient.SqlClient, t: Tables): ReadonlyArray<Effect.Effect<unknown, SqlError>> => [
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
 * `seq IN (the given rows)` in one statement shape whatever their number:
 * the rows travel as one text parameter, so the statement is compiled and
 * prepared once (an `IN (?, ?, …)` list has a shape per length: a prepare
 * per flush, 12 % of the durable drain's profile).
 *
 * @internal
 */
export const seqIn = (sql: SqlClient.SqlClient, seqs: ReadonlyArray<number>) =>
  sql.onDialectOrElse({
    pg: () => sql`seq = ANY(string_to_array(${seqs.join(",")}, ',')::bigint[])`,
    orElse: () => sql`seq IN (SELECT value FROM json_each(${JSON.stringify(seqs)}))`
  })
