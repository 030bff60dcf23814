/**
 * The cluster layer's own tables in PostgreSQL, next to @effect/cluster's
 * (`<prefix>_messages`, …): the index of tasks pending or running
 * (`<prefix>_tasks`), dead letters, paused sources and schedules. A task's
 * row and its `Run` message are written in one transaction; the row says
 * which message is current (`token`, `attempt`), so a message made stale by
 * `cancel` or `reschedule` is skipped when it is delivered. See
 * docs/architecture.md, "The cluster layer".
 *
 * @internal
 */
import * as MachineId from "@effect/cluster/MachineId"
import * as Snowflake from "@effect/cluster/Snowflake"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { DeadLetter, DeadLetterReason } from "../../Scheduler.js"
import type { Task } from "../../Task.js"
import type { ScheduleRow } from "../schedules.js"
import { chunkRows, chunks, deadLetterOfRow, type DeadLetterRow, taskOfRow, type TaskRow } from "../sqlStore.js"
import type { IdKey, ResolvedTaskQuery } from "../taskQuery.js"
import { Batcher } from "./batcher.js"

/** A pending or running task's row. @internal */
export interface ClusterTaskRow extends TaskRow {
  readonly token: string
  /** The current run's number (1, then 2 and more for retries); `TaskRow.attempts` is not a column here. */
  readonly attempt: number
  readonly started_ms: number | null
  readonly runner: string | null
}

/** What a delivered `Run` message claims: the run, if the message is current. @internal */
export interface Claimed {
  readonly dueMillis: number
}

/** Pending and running counts of one source (cluster-wide). @internal */
export interface SourceCounts {
  readonly pending: number
  readonly running: number
}

/** @internal */
export interface ClusterStore {
  readonly sql: SqlClient.SqlClient
  readonly prefix: string
  /** Adds rows for the tasks whose id is free (in the caller's transaction); the ids added. */
  readonly insert: (tasks: ReadonlyArray<Task>, token: (task: Task) => string) => Effect.Effect<Set<string>, SqlError>
  /**
   * Marks the current message's run started on `runner`; none if the message
   * is stale (cancelled, moved). Grouped with concurrent claims (batcher.ts).
   */
  readonly claim: (
    id: string,
    token: string,
    attempt: number,
    now: number,
    runner: string
  ) => Effect.Effect<Claimed | undefined, SqlError>
  /** The run of this message ended for good: the row goes (if the message is still current). Grouped. */
  readonly finish: (id: string, token: string) => Effect.Effect<boolean, SqlError>
  /** The run failed and runs again at `due` as run `attempt` (in the caller's transaction). */
  readonly retry: (id: string, token: string, attempt: number, due: number) => Effect.Effect<boolean, SqlError>
  /** The task becomes a dead letter: its row goes, the dead letter is written (one transaction). */
  readonly bury: (
    task: Task,
    token: string | undefined,
    reason: DeadLetterReason,
    error: string,
    attempts: number,
    now: number
  ) => Effect.Effect<void, SqlError>
  /** Removes a pending or running task's row: its source and whether it was running; none if absent. */
  readonly remove: (
    id: string
  ) => Effect.Effect<{ readonly source: string; readonly running: boolean } | undefined, SqlError>
  /** A pending task gets a new message (`token`) due at `due`; its task, none if it is not pending. */
  readonly move: (id: string, due: number, token: string) => Effect.Effect<Task | undefined, SqlError>
  readonly pendingCount: Effect.Effect<number, SqlError>
  readonly nextDue: Effect.Effect<number | undefined, SqlError>
  readonly countsBySource: Effect.Effect<ReadonlyMap<string, SourceCounts>, SqlError>
  /** Rows pending or running, earliest first, at most `limit`. */
  readonly list: (limit: number) => Effect.Effect<ReadonlyArray<ClusterTaskRow>, SqlError>
  /**
   * Rows pending or running that match `query`, in (due, id) order (ids in
   * byte order), after `query.after`, at most `rows` (`SchedulerService.tasks`).
   */
  readonly page: (
    query: ResolvedTaskQuery<IdKey>,
    rows: number
  ) => Effect.Effect<ReadonlyArray<ClusterTaskRow>, SqlError>
  /** The row of task `id`, pending or running. */
  readonly find: (id: string) => Effect.Effect<ClusterTaskRow | undefined, SqlError>
  readonly isPending: (id: string) => Effect.Effect<boolean, SqlError>
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>, SqlError>
  readonly deadLetterCount: Effect.Effect<number, SqlError>
  /** Removes the dead letter `id` (in the caller's transaction); its task, none if absent. */
  readonly takeDeadLetter: (id: string) => Effect.Effect<Task | undefined, SqlError>
  readonly purgeDeadLetters: (olderThanMillis: number | undefined) => Effect.Effect<number, SqlError>
  readonly paused: Effect.Effect<ReadonlySet<string>, SqlError>
  readonly setPaused: (source: string, paused: boolean) => Effect.Effect<boolean, SqlError>
  readonly isPaused: (source: string) => Effect.Effect<boolean, SqlError>
  readonly loadSchedules: Effect.Effect<ReadonlyArray<ScheduleRow & { readonly spec: string }>, SqlError>
  readonly saveSchedule: (row: ScheduleRow, spec: string) => Effect.Effect<void, SqlError>
  readonly removeSchedule: (id: string) => Effect.Effect<void, SqlError>
  /**
   * Stores a schedule's new state if its next occurrence is still
   * `expectedNext` (in the caller's transaction): false if another runner
   * fired it meanwhile.
   */
  readonly advanceSchedule: (row: ScheduleRow, expectedNext: number) => Effect.Effect<boolean, SqlError>
  /**
   * Deletes up to `limit` processed `Run` messages sent before `beforeMillis`
   * from @effect/cluster's `<prefix>_messages`, and their replies (it never
   * deletes a row itself); how many messages went.
   */
  readonly pruneMessages: (beforeMillis: number, limit: number) => Effect.Effect<number, SqlError>
}

/** The entity type of task sources (`source.ts`), whose processed messages are pruned. @internal */
export const sourceEntityType = "RaySchedulerSource"

/** The cluster layer's table names under `prefix` (the cluster storage's prefix). @internal */
export const clusterTables = (prefix: string) => ({
  tasks: `${prefix}_tasks`,
  deadLetters: `${prefix}_dead_letters`,
  paused: `${prefix}_paused`,
  schedules: `${prefix}_schedules`
})

/** Creates the tables if need be and returns the store. PostgreSQL only. @internal */
export const make = (sql: SqlClient.SqlClient, prefix: string): Effect.Effect<ClusterStore, SqlError> =>
  Effect.gen(function*() {
    const t = clusterTables(prefix)
    const tasks = sql(t.tasks)
    const dead = sql(t.deadLetters)
    const paused = sql(t.paused)
    const schedules = sql(t.schedules)
    const messages = sql(`${prefix}_messages`)
    const replies = sql(`${prefix}_replies`)
    // one creator at a time (runners starting together): a transaction-scoped advisory lock on the prefix
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`ray-scheduler:${prefix}`}))`
      yield* sql`CREATE TABLE IF NOT EXISTS ${tasks} (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        args TEXT NOT NULL,
        due_ms BIGINT NOT NULL,
        token TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_ms BIGINT,
        runner TEXT
      )`
      yield* sql`CREATE INDEX IF NOT EXISTS ${sql(`${t.tasks}_due`)} ON ${tasks} (due_ms) WHERE started_ms IS NULL`
      // listing tasks (`SchedulerService.tasks`): a page is one range of this index (added in 0.5: IF NOT EXISTS)
      yield* sql`CREATE INDEX IF NOT EXISTS ${sql(`${t.tasks}_due_id`)} ON ${tasks} (due_ms, id COLLATE "C")`
      yield* sql`CREATE TABLE IF NOT EXISTS ${dead} (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        args TEXT NOT NULL,
        due_ms BIGINT NOT NULL,
        reason TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        dead_ms BIGINT NOT NULL
      )`
      yield* sql`CREATE TABLE IF NOT EXISTS ${paused} (source TEXT PRIMARY KEY)`
      yield* sql`CREATE TABLE IF NOT EXISTS ${schedules} (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        next_ms BIGINT NOT NULL,
        current_id TEXT
      )`
    }))

    const count = (rows: ReadonlyArray<{ readonly n: number | string }>) => Number(rows[0]?.n ?? 0)
    const keyOf = (r: { readonly id: string; readonly token: string; readonly attempt?: number | string }) =>
      `${r.id}\u0000${r.token}\u0000${r.attempt ?? ""}`

    // the per-run statements, grouped (see batcher.ts): one UPDATE / DELETE per wave of runs
    const claims = new Batcher(
      (items: ReadonlyArray<{ id: string; token: string; attempt: number; now: number; runner: string }>) =>
        Effect.map(
          sql<{ readonly id: string; readonly token: string; readonly attempt: number; readonly due_ms: string }>`
            UPDATE ${tasks} AS t SET started_ms = x.now, runner = x.runner
            FROM json_to_recordset(${JSON.stringify(items)}::json)
              AS x(id TEXT, token TEXT, attempt INTEGER, now BIGINT, runner TEXT)
            WHERE t.id = x.id AND t.token = x.token AND t.attempt = x.attempt
            RETURNING t.id, t.token, t.attempt, t.due_ms`,
          (rows) => {
            const byKey = new Map(rows.map((r) => [keyOf(r), { dueMillis: Number(r.due_ms) }]))
            return items.map((item): Claimed | undefined => byKey.get(keyOf(item)))
          }
        )
    )
    const finishes = new Batcher((items: ReadonlyArray<{ id: string; token: string }>) =>
      Effect.map(
        sql<{ readonly id: string; readonly token: string }>`
          DELETE FROM ${tasks} AS t USING json_to_recordset(${JSON.stringify(items)}::json) AS x(id TEXT, token TEXT)
          WHERE t.id = x.id AND t.token = x.token RETURNING t.id, t.token`,
        (rows) => {
          const gone = new Set(rows.map(keyOf))
          return items.map((item) => gone.has(keyOf(item)))
        }
      )
    )
    const millis = (at: DateTime.DateTime) => at.epochMillis

    return {
      sql,
      prefix,
      insert: (list, token) =>
        Effect.gen(function*() {
          const added = new Set<string>()
          for (const chunk of chunks(list, chunkRows)) {
            const rows = yield* sql<{ readonly id: string }>`INSERT INTO ${tasks} ${
              sql.insert(chunk.map((task) => ({
                id: task.id,
                source: task.source,
                args: JSON.stringify(task.args),
                due_ms: millis(task.scheduleAt),
                token: token(task),
                attempt: 1
              })))
            } ON CONFLICT (id) DO NOTHING RETURNING id`
            for (const row of rows) added.add(row.id)
          }
          return added
        }),
      claim: (id, token, attempt, now, runner) => claims.submit({ id, token, attempt, now, runner }),
      finish: (id, token) => finishes.submit({ id, token }),
      retry: (id, token, attempt, due) =>
        Effect.map(
          sql<{ readonly id: string }>`UPDATE ${tasks}
            SET attempt = ${attempt}, due_ms = ${due}, started_ms = NULL, runner = NULL
            WHERE id = ${id} AND token = ${token} RETURNING id`,
          (rows) => rows.length > 0
        ),
      bury: (task, token, reason, error, attempts, now) =>
        sql.withTransaction(Effect.gen(function*() {
          if (token !== undefined) yield* sql`DELETE FROM ${tasks} WHERE id = ${task.id} AND token = ${token}`
          yield* sql`INSERT INTO ${dead} ${
            sql.insert({
              id: task.id,
              source: task.source,
              args: JSON.stringify(task.args),
              due_ms: millis(task.scheduleAt),
              reason,
              error,
              attempts,
              dead_ms: now
            })
          } ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, args = EXCLUDED.args, due_ms = EXCLUDED.due_ms,
            reason = EXCLUDED.reason, error = EXCLUDED.error, attempts = EXCLUDED.attempts, dead_ms = EXCLUDED.dead_ms`
        })),
      remove: (id) =>
        Effect.map(
          sql<{ readonly source: string; readonly started_ms: number | string | null }>`
            DELETE FROM ${tasks} WHERE id = ${id} RETURNING source, started_ms`,
          (rows) => rows.length === 0 ? undefined : { source: rows[0]!.source, running: rows[0]!.started_ms !== null }
        ),
      move: (id, due, token) =>
        Effect.map(
          sql<ClusterTaskRow>`UPDATE ${tasks} SET due_ms = ${due}, token = ${token}
            WHERE id = ${id} AND started_ms IS NULL RETURNING *`,
          (rows) => rows.length === 0 ? undefined : taskOfRow(rows[0]!)
        ),
      pendingCount: Effect.map(sql<{ n: string }>`SELECT COUNT(*) AS n FROM ${tasks} WHERE started_ms IS NULL`, count),
      nextDue: Effect.map(
        sql<{ readonly next: string | number | null }>`SELECT MIN(due_ms) AS next FROM ${tasks}
          WHERE started_ms IS NULL`,
        (rows) => rows[0]?.next === null || rows[0]?.next === undefined ? undefined : Number(rows[0].next)
      ),
      countsBySource: Effect.map(
        sql<{ readonly source: string; readonly pending: string; readonly running: string }>`
          SELECT source, COUNT(*) FILTER (WHERE started_ms IS NULL) AS pending,
            COUNT(*) FILTER (WHERE started_ms IS NOT NULL) AS running
          FROM ${tasks} GROUP BY source`,
        (rows) => new Map(rows.map((r) => [r.source, { pending: Number(r.pending), running: Number(r.running) }]))
      ),
      list: (limit) => sql<ClusterTaskRow>`SELECT * FROM ${tasks} ORDER BY due_ms, id LIMIT ${limit}`,
      page: (query, rows) =>
        sql<ClusterTaskRow>`SELECT * FROM ${tasks} WHERE ${
          sql.and([
            ...(query.source === undefined ? [] : [sql`source = ${query.source}`]),
            ...(query.state === undefined
              ? []
              : [query.state === "pending" ? sql`started_ms IS NULL` : sql`started_ms IS NOT NULL`]),
            ...(query.dueBeforeMillis === undefined ? [] : [sql`due_ms < ${query.dueBeforeMillis}`]),
            ...(query.after === undefined
              ? []
              : [sql`(due_ms, id COLLATE "C") > (${query.after.dueMillis}, ${query.after.id})`])
          ])
        } ORDER BY due_ms, id COLLATE "C" LIMIT ${rows}`,
      find: (id) => Effect.map(sql<ClusterTaskRow>`SELECT * FROM ${tasks} WHERE id = ${id}`, (rows) => rows[0]),
      isPending: (id) => Effect.map(sql`SELECT 1 AS one FROM ${tasks} WHERE id = ${id}`, (rows) => rows.length > 0),
      deadLetters: Effect.map(
        sql<DeadLetterRow>`SELECT * FROM ${dead} ORDER BY dead_ms, id`,
        (rows) => rows.flatMap((row) => deadLetterOfRow(row) ?? [])
      ),
      deadLetterCount: Effect.map(sql<{ n: string }>`SELECT COUNT(*) AS n FROM ${dead}`, count),
      takeDeadLetter: (id) =>
        Effect.map(
          sql<DeadLetterRow>`DELETE FROM ${dead} WHERE id = ${id} RETURNING *`,
          (rows) => rows.length === 0 ? undefined : deadLetterOfRow(rows[0]!)?.task
        ),
      purgeDeadLetters: (olderThan) =>
        Effect.map(
          olderThan === undefined
            ? sql`DELETE FROM ${dead} RETURNING id`
            : sql`DELETE FROM ${dead} WHERE dead_ms < ${olderThan} RETURNING id`,
          (rows) => rows.length
        ),
      paused: Effect.map(
        sql<{ readonly source: string }>`SELECT source FROM ${paused}`,
        (rows) => new Set(rows.map((r) => r.source))
      ),
      setPaused: (source, on) =>
        Effect.map(
          on
            ? sql`INSERT INTO ${paused} (source) VALUES (${source}) ON CONFLICT DO NOTHING RETURNING source`
            : sql`DELETE FROM ${paused} WHERE source = ${source} RETURNING source`,
          (rows) => rows.length > 0
        ),
      isPaused: (source) =>
        Effect.map(sql`SELECT 1 AS one FROM ${paused} WHERE source = ${source}`, (rows) => rows.length > 0),
      loadSchedules: Effect.map(
        sql<
          { readonly id: string; readonly spec: string; readonly next_ms: string; readonly current_id: string | null }
        >`
          SELECT id, spec, next_ms, current_id FROM ${schedules} ORDER BY id`,
        (rows) =>
          rows.map((r) => ({ id: r.id, spec: r.spec, next: Number(r.next_ms), current: r.current_id ?? undefined }))
      ),
      saveSchedule: (row, spec) =>
        Effect.asVoid(sql`INSERT INTO ${schedules} (id, spec, next_ms, current_id)
          VALUES (${row.id}, ${spec}, ${row.next}, ${row.current ?? null})
          ON CONFLICT (id) DO UPDATE SET spec = EXCLUDED.spec, next_ms = EXCLUDED.next_ms,
            current_id = EXCLUDED.current_id`),
      removeSchedule: (id) => Effect.asVoid(sql`DELETE FROM ${schedules} WHERE id = ${id}`),
      advanceSchedule: (row, expectedNext) =>
        Effect.map(
          sql`UPDATE ${schedules} SET next_ms = ${row.next}, current_id = ${row.current ?? null}
            WHERE id = ${row.id} AND next_ms = ${expectedNext} RETURNING id`,
          (rows) => rows.length > 0
        ),
      pruneMessages: (beforeMillis, limit) =>
        Effect.map(
          sql<{ readonly n: string }>`
            WITH gone AS (
              DELETE FROM ${messages} WHERE id IN (
                SELECT id FROM ${messages}
                WHERE id < ${
            String(Snowflake.make({ timestamp: beforeMillis, machineId: MachineId.make(0), sequence: 0 }))
          }::bigint
                  AND entity_type = ${sourceEntityType} AND processed = ${true}
                LIMIT ${limit}
              ) RETURNING request_id
            ), replies AS (
              DELETE FROM ${replies} WHERE request_id IN (SELECT request_id FROM gone) RETURNING id
            )
            SELECT (SELECT COUNT(*) FROM gone) AS n, (SELECT COUNT(*) FROM replies) AS r`,
          count
        )
    } satisfies ClusterStore
  })
