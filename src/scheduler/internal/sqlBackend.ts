/**
 * The SQL layer's backend (docs/architecture.md, "The SQL layer"): every
 * pending or running task is a row; memory holds a window of the earliest
 * ones; a run's start and end are journaled and committed in groups by one
 * store fiber; a worker does not start a task before the task's start (and
 * the end of the worker's previous task) is committed.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import type { DeadLetter, DeadLetterReason, TaskInfo } from "../Scheduler.js"
import type { Task } from "../Task.js"
import { type Backend, describeCause, noConsumerMessage, reasonOf } from "./backend.js"
import type { TaskEntry } from "./ids.js"
import * as Metrics from "./metrics.js"
import type { BackendContext } from "./scheduler.js"
import type { ScheduleRow, ScheduleStore } from "./schedules.js"
import { Signal } from "./signal.js"
import {
  chunkRows,
  chunks,
  deadLetterOfRow,
  type DeadLetterRow,
  idHash,
  intIn,
  migrate,
  type Tables,
  taskOfRow,
  type TaskRow
} from "./sqlStore.js"
import { bySeq, infoOfEntry, pageOf, type ResolvedTaskQuery, selectEntries, type SeqKey } from "./taskQuery.js"

/** Options of the SQL backend, validated. @internal */
export interface SqlSettings {
  readonly tables: Tables
  /** Most pending tasks kept in memory; beyond it they stay in the store until due soon. */
  readonly window: number
  /** How long the store lease lasts without renewal. */
  readonly leaseMillis: number
}

interface DeadOp {
  readonly task: Task
  readonly reason: DeadLetterReason
  readonly error: string
  readonly attempts: number
  readonly at: number
}

interface RetryOp {
  readonly seq: number
  readonly dueMillis: number
  readonly since: number
}

/** A (due, seq) key: the memory window holds every pending task with a key ≤ the boundary. */
interface Key {
  readonly dueMillis: number
  readonly seq: number
}

/** Done rows deleted together (see `garbage`). */
const gcRows = 10_000

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** @internal */
export const sqlBackend = (
  sql: SqlClient.SqlClient,
  settings: SqlSettings,
  { now, state, stop }: BackendContext
): Effect.Effect<Backend, SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const t = settings.tables
    const lock = yield* Effect.makeSemaphore(1)
    const locked = lock.withPermits(1)

    // ---- schema and lease -------------------------------------------------

    yield* migrate(sql, t)
    const owner = crypto.randomUUID()
    const host = os.hostname()
    const acquire = sql.withTransaction(Effect.gen(function*() {
      const rows = yield* sql<{ owner: string; host: string; pid: number; expires_ms: number }>`
        SELECT owner, host, pid, expires_ms FROM ${sql(t.lease)} WHERE name = 'scheduler'`
      const at = now()
      const expires = at + settings.leaseMillis
      const held = rows[0]
      if (held === undefined) {
        yield* sql`INSERT INTO ${sql(t.lease)} (name, owner, host, pid, expires_ms)
          VALUES ('scheduler', ${owner}, ${host}, ${process.pid}, ${expires})`
        return
      }
      const free = Number(held.expires_ms) < at || (held.host === host && !pidAlive(Number(held.pid)))
      if (!free) {
        return yield* new SqlError({
          message: `The scheduler store ${t.tasks} is in use by process ${held.pid} on ${held.host} (lease until ${
            DateTime.formatIso(DateTime.unsafeMake(Number(held.expires_ms)))
          }): one scheduler per store. Stop that process, or wait for its lease to expire.`
        })
      }
      yield* sql`UPDATE ${sql(t.lease)} SET owner = ${owner}, host = ${host}, pid = ${process.pid},
        expires_ms = ${expires} WHERE name = 'scheduler'`
    }))
    yield* acquire
    /** Set when another process took the lease over: no task starts any more. */
    let lostLease = false
    yield* Effect.addFinalizer(() =>
      Effect.ignore(sql`DELETE FROM ${sql(t.lease)} WHERE name = 'scheduler' AND owner = ${owner}`)
    )
    const renew = Effect.gen(function*() {
      const rows = yield* sql<{ owner: string }>`UPDATE ${sql(t.lease)} SET expires_ms = ${
        now() + settings.leaseMillis
      } WHERE name = 'scheduler' AND owner = ${owner} RETURNING owner`
      return rows.length > 0
    })
    yield* Effect.forkScoped(
      Effect.gen(function*() {
        for (;;) {
          yield* Effect.sleep(Duration.millis(Math.max(1, Math.floor(settings.leaseMillis / 3))))
          const kept = yield* Effect.catchAll(renew, (error) =>
            Effect.as(
              Effect.logWarning(`Scheduler: renewing the store lease failed: ${error.message}`),
              true
            ))
          if (!kept) {
            // fenced: no task starts any more (a start already journaled is interrupted in `beforeRun`);
            // the running ones finish, bounded by the shutdown timeout, and `start` is refused from now on
            lostLease = true
            yield* Effect.logError(
              `Scheduler: another process took over the store lease of ${t.tasks}; this scheduler stops ` +
                "(its running tasks finish, it starts no task any more; build a new scheduler layer to use the store again)"
            )
            yield* stop
            return
          }
        }
      }).pipe(Effect.annotateLogs({ module: "Scheduler" }))
    )

    // ---- the journal: starts and ends, committed in groups -----------------

    /** Rows (by `seq`, the rowid: neighbouring rows share pages, where random ids would not) to count a start on. */
    let started: Array<number> = []
    /** Rows (by `seq`) of runs that succeeded: marked done. */
    let succeeded: Array<number> = []
    /**
     * Rows (by `seq`) marked done and not deleted yet: deleted together once
     * there are `gcRows` (and at the last flush; recovery deletes what a crash
     * left). Deleting a row writes the id-hash index at a random place: one
     * big delete writes each of its pages once, where a delete per commit
     * group writes a page per row.
     */
    let garbage: Array<number> = []
    let dead: Array<DeadOp> = []
    /** Rows of failed runs that run again: their new due instant and the first failure's. */
    let retries: Array<RetryOp> = []
    /** Completed when the ops queued now are committed. */
    let generation = Deferred.unsafeMake<void>(FiberId.none)
    /** Generations whose flush failed: completed with the next flush that succeeds. */
    let carried: Array<Deferred.Deferred<void>> = []
    let wake = new Signal<void>()
    /** Attempts of tasks that ran before (recovered, or retried: id → runs started). */
    const attempts = new Map<string, number>()
    /** Tasks being retried: id → the first failure's instant. */
    const retrySince = new Map<string, number>()
    let deadLetterCount = 0

    const queued = () => started.length + succeeded.length + dead.length + retries.length
    const requestFlush = () => wake.complete(Effect.void)

    const inList = (ids: ReadonlyArray<string>) => sql.in(ids)

    /**
     * Applies the queued ops in one transaction (the caller holds the lock);
     * `last`: the done rows are deleted whatever their number.
     */
    const flushOps = (last: boolean): Effect.Effect<void, SqlError> =>
      Effect.suspend(() => {
        if (queued() === 0 && !(last && garbage.length > 0)) return Effect.void
        const s = started, ok = succeeded, d = dead, r = retries, done = [...carried, generation]
        const collect = last || garbage.length + ok.length >= gcRows
        started = []
        succeeded = []
        dead = []
        retries = []
        carried = []
        generation = Deferred.unsafeMake<void>(FiberId.none)
        const apply = sql.withTransaction(Effect.gen(function*() {
          // one parameter whatever the group's size: no chunks
          if (s.length > 0) yield* sql`UPDATE ${sql(t.tasks)} SET attempts = attempts + 1 WHERE ${intIn(sql, "seq", s)}`
          for (const op of r) {
            yield* sql`UPDATE ${
              sql(t.tasks)
            } SET due_ms = ${op.dueMillis}, retry_ms = ${op.since} WHERE seq = ${op.seq}`
          }
          if (collect) {
            const rows = garbage.concat(ok)
            if (rows.length > 0) yield* sql`DELETE FROM ${sql(t.tasks)} WHERE ${intIn(sql, "seq", rows)}`
          } else if (ok.length > 0) {
            yield* sql`UPDATE ${sql(t.tasks)} SET done = 1 WHERE ${intIn(sql, "seq", ok)}`
          }
          for (const ops of chunks(d, chunkRows / 10)) {
            yield* sql`INSERT INTO ${sql(t.deadLetters)} ${
              sql.insert(ops.map((op) => ({
                id: op.task.id,
                source: op.task.source,
                due_ms: op.task.dueMillis,
                args: JSON.stringify(op.task.args),
                reason: op.reason,
                error: op.error,
                attempts: op.attempts,
                dead_ms: op.at
              })))
            } ON CONFLICT (id) DO UPDATE SET source = excluded.source, due_ms = excluded.due_ms,
            args = excluded.args, reason = excluded.reason, error = excluded.error,
            attempts = excluded.attempts, dead_ms = excluded.dead_ms`
            yield* sql`DELETE FROM ${sql(t.tasks)} WHERE ${
              intIn(sql, "h", ops.map((op) => idHash(op.task.id)))
            } AND id IN ${inList(ops.map((op) => op.task.id))}`
          }
          if (d.length > 0) {
            const rows = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(t.deadLetters)}`
            deadLetterCount = Number(rows[0]?.n ?? 0)
          }
        }))
        return Effect.matchCauseEffect(apply, {
          onFailure: (cause) =>
            Effect.zipRight(
              Effect.sync(() => {
                // put the ops back in front: the next flush retries them, and completes their waiters
                started = s.concat(started)
                succeeded = ok.concat(succeeded)
                dead = d.concat(dead)
                retries = r.concat(retries)
                carried = done.concat(carried)
              }),
              Effect.failCause(cause)
            ),
          onSuccess: () =>
            Effect.sync(() => {
              if (collect) garbage = []
              else for (const seq of ok) garbage.push(seq)
              for (const deferred of done) Deferred.unsafeDone(deferred, Exit.void)
            })
        })
      })

    const flushNow = flushOps(false)

    // ---- the memory window ------------------------------------------------

    /** Every pending task with a key ≤ `boundary` is in memory; undefined: all of them are. */
    let boundary: Key | undefined = { dueMillis: -Infinity, seq: -Infinity }
    const within = (key: Key): boolean =>
      boundary === undefined || key.dueMillis < boundary.dueMillis ||
      (key.dueMillis === boundary.dueMillis && key.seq <= boundary.seq)

    /** Puts stored rows into memory (a corrupt row is logged and skipped; it stays in the store). */
    const loadRows = (rows: ReadonlyArray<TaskRow>) =>
      Effect.gen(function*() {
        const tasks: Array<Task> = []
        const seqs: Array<number> = []
        for (const row of rows) {
          const task = taskOfRow(row)
          if (task === undefined) {
            yield* Effect.logError(
              `Scheduler: stored task ${row.id} (seq ${row.seq}) is not valid and is skipped; it stays in ${t.tasks}`
            ).pipe(Effect.annotateLogs({ module: "Scheduler" }))
            continue
          }
          if (Number(row.attempts) > 0) attempts.set(task.id, Number(row.attempts))
          if (row.retry_ms !== null && row.retry_ms !== undefined) retrySince.set(task.id, Number(row.retry_ms))
          tasks.push(task)
          seqs.push(Number(row.seq))
        }
        state.load(tasks, seqs)
      })

    /** Loads the next tasks after the boundary into memory (the caller holds the lock). */
    const refillNow: Effect.Effect<void, SqlError> = Effect.gen(function*() {
      if (boundary === undefined) return
      yield* flushNow
      const b = boundary
      const limit = settings.window
      // paused sources stay out of the window (they would fill it: see pausedChanged)
      const rows = yield* sql<TaskRow>`SELECT seq, id, source, due_ms, args, attempts, retry_ms FROM ${sql(t.tasks)}
        WHERE ${
        sql.and([
          sql`done = 0`,
          ...(b.dueMillis === -Infinity
            ? []
            : [sql`(due_ms > ${b.dueMillis} OR (due_ms = ${b.dueMillis} AND seq > ${b.seq}))`]),
          ...(state.paused.size === 0 ? [] : [sql`source NOT IN ${sql.in([...state.paused])}`])
        ])
      } ORDER BY due_ms, seq LIMIT ${limit}`
      const last = rows[rows.length - 1]
      boundary = rows.length < limit || last === undefined
        ? undefined
        : { dueMillis: Number(last.due_ms), seq: Number(last.seq) }
      yield* loadRows(rows)
    })

    /** Whether memory runs low while tasks wait in the store. */
    const lowWater = () => boundary !== undefined && state.inMemory() < settings.window / 2
    let refillWanted = false

    // ---- recovery ---------------------------------------------------------

    // runs that succeeded before a crash, their rows not deleted yet
    yield* sql`DELETE FROM ${sql(t.tasks)} WHERE done = 1`
    const counts = yield* sql<{ source: string; n: number }>`
      SELECT source, COUNT(*) AS n FROM ${sql(t.tasks)} GROUP BY source`
    for (const row of counts) state.countStored(row.source, Number(row.n))
    deadLetterCount = Number(
      (yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(t.deadLetters)}`)[0]?.n ?? 0
    )
    yield* refillNow

    // ---- the store fiber: flushes the journal, refills the window ---------

    const retryDelay = (failures: number) => Duration.millis(Math.min(5000, 50 * 2 ** Math.min(failures, 7)))
    yield* Effect.forkScoped(
      Effect.gen(function*() {
        let failures = 0
        for (;;) {
          if (queued() === 0 && !(refillWanted && lowWater())) {
            const w = wake
            yield* w.await()
            wake = new Signal<void>()
          }
          refillWanted = false
          const result = yield* Effect.either(locked(Effect.zipRight(flushNow, lowWater() ? refillNow : Effect.void)))
          if (result._tag === "Left") {
            failures++
            yield* Effect.logError(`Scheduler: writing to the task store failed (retrying): ${result.left.message}`)
            yield* Effect.sleep(retryDelay(failures))
          } else {
            failures = 0
          }
        }
      }).pipe(Effect.annotateLogs({ module: "Scheduler" }))
    )
    // last: what is queued is committed before the store closes
    yield* Effect.addFinalizer(() =>
      Effect.catchAllCause(
        locked(flushOps(true)),
        (cause) => Effect.logError("Scheduler: the last journal flush failed", cause)
      )
    )

    // ---- the backend ------------------------------------------------------

    /**
     * Inserts the tasks whose ids are neither pending nor running (rows not
     * done with the same id hash and id) nor earlier in `tasks`; returns their
     * seqs by id. The caller holds the lock and runs it in a transaction: the
     * check and the insert see the same rows (one writer per store: the lease).
     */
    const insert = (tasks: ReadonlyArray<Task>) =>
      Effect.gen(function*() {
        const inserted = new Map<string, number>()
        for (const part of chunks(tasks, chunkRows)) {
          const hashes = part.map((task) => idHash(task.id))
          const existing = yield* sql<{ id: string }>`SELECT id FROM ${sql(t.tasks)}
            WHERE ${intIn(sql, "h", hashes)} AND done = 0`
          const taken = new Set<string>()
          for (const row of existing) taken.add(row.id)
          const rows: Array<{ h: number; id: string; source: string; due_ms: number; args: string }> = []
          for (let i = 0; i < part.length; i++) {
            const task = part[i]!
            if (taken.has(task.id) || inserted.has(task.id)) continue
            taken.add(task.id)
            rows.push({
              h: hashes[i]!,
              id: task.id,
              source: task.source,
              due_ms: task.dueMillis,
              args: JSON.stringify(task.args)
            })
          }
          if (rows.length === 0) continue
          const added = yield* sql<{ seq: number; id: string }>`INSERT INTO ${sql(t.tasks)} ${
            sql.insert(rows)
          } RETURNING seq, id`
          for (const row of added) inserted.set(row.id, Number(row.seq))
        }
        return inserted
      })

    /**
     * `insert` of one task when no journal op is queued: one statement (the
     * check and the insert), which commits by itself — a submit's cost is
     * mostly per statement (several tens of µs each through the client),
     * and BEGIN and COMMIT are two more.
     */
    const insertOne = (task: Task) =>
      Effect.map(
        sql<{ seq: number; id: string }>`INSERT INTO ${sql(t.tasks)} (h, id, source, due_ms, args)
          SELECT CAST(${idHash(task.id)} AS BIGINT), CAST(${task.id} AS TEXT), CAST(${task.source} AS TEXT),
            CAST(${task.dueMillis} AS BIGINT), CAST(${JSON.stringify(task.args)} AS TEXT)
          WHERE NOT EXISTS (SELECT 1 FROM ${sql(t.tasks)}
            WHERE h = CAST(${idHash(task.id)} AS BIGINT) AND id = CAST(${task.id} AS TEXT) AND done = 0)
          RETURNING seq, id`,
        (rows) => new Map(rows.map((row) => [row.id, Number(row.seq)]))
      )

    /** Stores the schedules' new state (in the caller's transaction). */
    const saveSchedules = (rows: ReadonlyArray<ScheduleRow>, spec?: string) =>
      Effect.forEach(rows, (row) =>
        spec === undefined
          ? sql`UPDATE ${sql(t.schedules)} SET next_ms = ${row.next}, current_id = ${row.current ?? null}
              WHERE id = ${row.id}`
          : sql`INSERT INTO ${sql(t.schedules)} (id, spec, next_ms, current_id)
              VALUES (${row.id}, ${spec}, ${row.next}, ${row.current ?? null})
              ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, next_ms = excluded.next_ms,
              current_id = excluded.current_id`, { discard: true })

    /** Accepts `tasks`; `schedules`: schedules' new state, committed with them. */
    const accept = (tasks: ReadonlyArray<Task>, schedules: ReadonlyArray<ScheduleRow> = []): Effect.Effect<void> =>
      locked(Effect.gen(function*() {
        const inserted = tasks.length === 1 && queued() === 0 && schedules.length === 0
          ? yield* insertOne(tasks[0]!)
          : yield* sql.withTransaction(
            Effect.zipRight(flushNow, Effect.zipLeft(insert(tasks), saveSchedules(schedules)))
          )
        const inMemory: Array<Task> = []
        const seqs: Array<number> = []
        for (const task of tasks) {
          const seq = inserted.get(task.id)
          if (seq === undefined) {
            state.duplicate(task)
            continue
          }
          inserted.delete(task.id) // a second copy in the same batch is a duplicate
          if (within({ dueMillis: task.dueMillis, seq }) && !state.paused.has(task.source)) {
            inMemory.push(task)
            seqs.push(seq)
          } else {
            state.countStored(task.source, 1)
          }
        }
        state.accept(inMemory, seqs)
        if (state.inMemory() > settings.window * 2) {
          const kept = state.evict(settings.window)
          boundary = kept === undefined ? { dueMillis: -Infinity, seq: -Infinity } : kept
        }
      })).pipe(Effect.orDie)

    /** `task` will not run again (or runs afresh: a replay): what was known of its runs goes. */
    const settled = (task: Task): void => {
      attempts.delete(task.id)
      if (retrySince.size > 0) retrySince.delete(task.id)
    }

    /** A run that must not run again (succeeded or cancelled): its row is marked done by the next flush. */
    const rowDone = (task: Task, seq: number): void => {
      settled(task)
      succeeded.push(seq)
      requestFlush()
    }

    const dieOnStoreError = <A>(effect: Effect.Effect<A, SqlError>): Effect.Effect<A> => Effect.orDie(effect)

    /**
     * A paused source's pending tasks leave the memory window (the store
     * keeps them; refills skip the source), so a paused backlog cannot fill
     * the window and starve the other sources. At resume, its tasks within
     * the window's boundary come back (then the window is trimmed as after
     * a submit).
     */
    const pausedChanged = (source: string, paused: boolean): Effect.Effect<void> =>
      locked(Effect.gen(function*() {
        if (paused) {
          state.forget(source)
          return
        }
        if (boundary !== undefined && boundary.dueMillis === -Infinity) return
        const b = boundary
        const rows = yield* sql<TaskRow>`SELECT seq, id, source, due_ms, args, attempts, retry_ms FROM ${sql(t.tasks)}
          WHERE ${
          sql.and([
            sql`done = 0`,
            sql`source = ${source}`,
            ...(b === undefined
              ? []
              : [sql`(due_ms < ${b.dueMillis} OR (due_ms = ${b.dueMillis} AND seq <= ${b.seq}))`])
          ])
        } ORDER BY due_ms, seq`
        yield* loadRows(rows)
        if (state.inMemory() > settings.window * 2) {
          const kept = state.evict(settings.window)
          boundary = kept === undefined ? { dueMillis: -Infinity, seq: -Infinity } : kept
        }
      })).pipe(Effect.orDie)

    /** Moves a pending task's row (and its memory entry) to `dueMillis`. */
    const reschedule = (taskId: string, entry: TaskEntry | undefined, dueMillis: number): Effect.Effect<boolean> =>
      locked(Effect.gen(function*() {
        if (entry !== undefined) {
          if (entry.runner !== undefined) return false // it started (or ended) meanwhile
          yield* sql`UPDATE ${sql(t.tasks)} SET due_ms = ${dueMillis} WHERE seq = ${entry.seq}`
          if (within({ dueMillis, seq: entry.seq }) && !state.paused.has(entry.value.source)) {
            state.requeue(entry, dueMillis, entry.seq)
          } else {
            state.forgetEntry(entry)
          }
          return true
        }
        const rows = yield* sql<TaskRow>`UPDATE ${sql(t.tasks)} SET due_ms = ${dueMillis}
          WHERE h = ${idHash(taskId)} AND id = ${taskId} AND done = 0
          RETURNING seq, id, source, due_ms, args, attempts, retry_ms`
        const row = rows[0]
        if (row === undefined) return false
        const key = { dueMillis, seq: Number(row.seq) }
        const loaded = state.ids.get(taskId) // a refill may have loaded it since the caller looked
        if (loaded !== undefined) {
          if (loaded.runner === undefined) state.requeue(loaded, dueMillis, key.seq)
        } else if (within(key) && !state.paused.has(row.source)) {
          yield* loadRows(rows)
        }
        return true
      })).pipe(Effect.orDie)

    const scheduleStore: ScheduleStore = {
      load: dieOnStoreError(Effect.map(
        sql<{ id: string; spec: string; next_ms: number; current_id: string | null }>`
          SELECT id, spec, next_ms, current_id FROM ${sql(t.schedules)} ORDER BY id`,
        (rows) =>
          rows.map((row) => ({
            id: row.id,
            spec: row.spec,
            next: Number(row.next_ms),
            current: row.current_id ?? undefined
          }))
      )),
      save: (row, spec) => dieOnStoreError(locked(saveSchedules([row], spec))),
      remove: (id) => dieOnStoreError(locked(sql`DELETE FROM ${sql(t.schedules)} WHERE id = ${id}`)),
      fire: (tasks, rows) => accept(tasks, rows),
      isPending: (taskId) =>
        state.ids.has(taskId) ? Effect.succeed(true) : dieOnStoreError(locked(Effect.map(
          sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(t.tasks)}
            WHERE h = ${idHash(taskId)} AND id = ${taskId} AND done = 0`,
          (rows) => Number(rows[0]?.n ?? 0) > 0
        )))
    }

    // ---- listing tasks ------------------------------------------------------

    /** The run a task in memory is at (running) or will be at (pending). */
    const attemptOf = (task: Task): number => (attempts.get(task.id) ?? 0) + 1

    /** A task row, pending or running: the state is memory's (only memory knows what runs). */
    const infoOfRow = (row: TaskRow): TaskInfo | undefined => {
      const task = taskOfRow(row)
      if (task === undefined) return undefined // corrupt: logged when it is loaded
      const entry = state.ids.get(row.id)
      const running = entry !== undefined && entry.runner !== undefined
      return {
        task,
        state: running ? "running" : "pending",
        dueAt: task.scheduleAt,
        // the row counts the runs started (committed: the caller flushed the journal)
        attempt: running ? attemptOf(task) : Number(row.attempts) + 1
      }
    }

    /**
     * A page from the store (every pending or running task has a row), in
     * (due, seq) order by the `(due_ms, seq)` index — the refills' — one
     * index range per statement. A row's key is its memory entry's (the
     * same `seq`; a retry's or a reschedule's `due_ms` is committed by the
     * flush first), so a page of running tasks from memory and a page from
     * here share their cursors.
     *
     * After a position, the rest of its instant (`due_ms = d AND seq > s`)
     * and the later instants (`due_ms > d`) are two statements: SQLite seeks
     * a row value `(due_ms, seq) > (d, s)` on `due_ms` only (`seq` is the
     * rowid), so one statement would read every row of the instant before the
     * position. Rows of running tasks are skipped when only pending ones are
     * asked for, so a statement may be followed by another from where it
     * ended.
     */
    const storedPage = (query: ResolvedTaskQuery<SeqKey>) =>
      locked(Effect.gen(function*() {
        yield* flushNow
        const out: Array<SeqKey & { readonly info: TaskInfo }> = []
        // running tasks are few (at most the permits): read past them in one statement
        const skippable = query.state === "pending" ? state.totals.inFlight : 0
        let after = query.after
        /** Whether the next statement reads the rest of `after`'s instant (else the instants after it). */
        let sameInstant = after !== undefined
        for (;;) {
          const wanted = query.limit + 1 - out.length + skippable
          const rows = yield* sql<TaskRow>`SELECT seq, id, source, due_ms, args, attempts FROM ${sql(t.tasks)}
            WHERE ${
            sql.and([
              sql`done = 0`,
              ...(query.source === undefined ? [] : [sql`source = ${query.source}`]),
              ...(query.dueBeforeMillis === undefined ? [] : [sql`due_ms < ${query.dueBeforeMillis}`]),
              ...(after === undefined
                ? []
                : sameInstant
                ? [sql`due_ms = ${after.dueMillis}`, sql`seq > ${after.seq}`]
                : [sql`due_ms > ${after.dueMillis}`])
            ])
          } ORDER BY due_ms, seq LIMIT ${wanted}`
          for (const row of rows) {
            const info = infoOfRow(row)
            if (info === undefined || (query.state === "pending" && info.state === "running")) continue
            out.push({ info, dueMillis: Number(row.due_ms), seq: Number(row.seq) })
            if (out.length > query.limit) return out
          }
          const last = rows[rows.length - 1]
          if (rows.length === wanted && last !== undefined) {
            // the range may hold more: on from the last row read
            after = { dueMillis: Number(last.due_ms), seq: Number(last.seq) }
            sameInstant = true
          } else if (sameInstant) {
            sameInstant = false // the rest of the instant is read: the later instants
          } else {
            return out
          }
        }
      }))

    const backend: Backend = {
      attemptOf,
      tasks: (query) =>
        query.state === "running"
          // every running task is in memory
          ? Effect.sync(() =>
            pageOf(
              bySeq,
              selectEntries(state, query, query.limit + 1),
              query.limit,
              (entry) => infoOfEntry(entry, attemptOf(entry.value))
            )
          )
          : Effect.map(
            dieOnStoreError(storedPage(query)),
            (items) => pageOf(bySeq, items, query.limit, (item) => item.info)
          ),
      task: (id) =>
        Effect.suspend(() => {
          const entry = state.ids.get(id)
          if (entry !== undefined) return Effect.succeed(Option.some(infoOfEntry(entry, attemptOf(entry.value))))
          // beyond the memory window (or a paused source's): in the store only
          return dieOnStoreError(locked(Effect.gen(function*() {
            yield* flushNow
            const rows = yield* sql<TaskRow>`SELECT seq, id, source, due_ms, args, attempts FROM ${sql(t.tasks)}
              WHERE h = ${idHash(id)} AND id = ${id} AND done = 0`
            return Option.fromNullable(rows[0] === undefined ? undefined : infoOfRow(rows[0]))
          })))
        }),
      accept: (tasks) => accept(tasks),
      scheduleStore,
      pausedChanged,
      reschedule,
      committed: Effect.orDie(locked(flushNow)),
      cancelStored: (taskId) =>
        locked(Effect.gen(function*() {
          const entry = state.ids.get(taskId)
          if (entry !== undefined) {
            // loaded into memory since the caller looked (a refill): cancelled there, if still pending
            if (entry.runner !== undefined) return false
            state.cancelPending(entry)
            succeeded.push(entry.seq)
            yield* flushNow
            return true
          }
          const rows = yield* sql<{ seq: number; source: string }>`UPDATE ${sql(t.tasks)} SET done = 1
            WHERE h = ${idHash(taskId)} AND id = ${taskId} AND done = 0 RETURNING seq, source`
          for (const row of rows) {
            garbage.push(Number(row.seq))
            state.cancelledStored(row.source)
          }
          return rows.length > 0
        })).pipe(Effect.orDie),
      refuseStart: () =>
        lostLease
          ? `Scheduler: start refused: another process took over the store lease of ${t.tasks} ` +
            "(build a new scheduler layer to use the store again)"
          : undefined,
      hooks: {
        attempt: (task) => {
          if (!refillWanted && lowWater()) {
            refillWanted = true
            requestFlush()
          }
          return attemptOf(task)
        },
        beforeRun: (_task, seq) =>
          Effect.suspend(() => {
            if (lostLease) return Effect.interrupt
            started.push(seq)
            const done = generation
            requestFlush()
            return Deferred.await(done)
          }),
        succeeded: rowDone,
        // a cancelled run's row goes like a success's: it must not run again
        cancelled: rowDone,
        failed: (task, cause, attempt, stopped) => {
          // interrupted by the scheduler (a stop, a release, a lost lease): the task stays in the
          // store and runs again at the next start
          if (stopped || (Cause.isInterruptedOnly(cause) && lostLease)) return
          settled(task)
          const reason = reasonOf(cause)
          if (state.host.metrics) Metrics.deadLetter(task.source, reason)
          dead.push({ task, reason, error: describeCause(cause), attempts: attempt, at: now() })
          requestFlush()
        },
        retrySince: (task) => retrySince.size === 0 ? undefined : retrySince.get(task.id),
        retried: (lane, entry, attempt, dueMillis, since) => {
          const task = entry.value
          attempts.set(task.id, attempt)
          retrySince.set(task.id, since)
          retries.push({ seq: entry.seq, dueMillis, since })
          requestFlush()
          const next = state.retry(lane, entry, dueMillis)
          // beyond the memory window (or paused): the store keeps it until it is due soon
          if (!within({ dueMillis, seq: entry.seq }) || state.paused.has(task.source)) state.forgetEntry(next)
        }
      },
      dropped: (tasks) => {
        const at = now()
        for (const task of tasks) {
          settled(task)
          if (state.host.metrics) Metrics.deadLetter(task.source, "NoConsumer")
          dead.push({ task, reason: "NoConsumer", error: noConsumerMessage(task), attempts: 0, at })
        }
        requestFlush()
      },
      deadLetters: dieOnStoreError(locked(Effect.gen(function*() {
        yield* flushNow
        const rows = yield* sql<DeadLetterRow>`SELECT id, source, due_ms, args, reason, error, attempts, dead_ms
          FROM ${sql(t.deadLetters)} ORDER BY dead_ms, id`
        const out: Array<DeadLetter> = []
        for (const row of rows) {
          const letter = deadLetterOfRow(row)
          if (letter !== undefined) {
            out.push(letter)
          }
        }
        return out
      }))),
      deadLetterCount: () => deadLetterCount + dead.length,
      takeDeadLetter: (taskId) =>
        dieOnStoreError(locked(Effect.gen(function*() {
          yield* flushNow
          const rows = yield* sql<DeadLetterRow>`DELETE FROM ${sql(t.deadLetters)} WHERE id = ${taskId}
            RETURNING id, source, due_ms, args, reason, error, attempts, dead_ms`
          const row = rows[0]
          if (row === undefined) {
            return undefined
          }
          deadLetterCount--
          return deadLetterOfRow(row)
        }))),
      restoreDeadLetter: (letter) =>
        Effect.sync(() => {
          dead.push({
            task: letter.task,
            reason: letter.reason,
            error: letter.error,
            attempts: letter.attempts,
            at: DateTime.toEpochMillis(letter.at)
          })
          requestFlush()
        }),
      purgeDeadLetters: (olderThanMillis) =>
        dieOnStoreError(locked(Effect.gen(function*() {
          yield* flushNow
          const rows = olderThanMillis === undefined
            ? yield* sql<{ id: string }>`DELETE FROM ${sql(t.deadLetters)} RETURNING id`
            : yield* sql<{ id: string }>`DELETE FROM ${sql(t.deadLetters)} WHERE dead_ms < ${
              now() - olderThanMillis
            } RETURNING id`
          deadLetterCount -= rows.length
          return rows.length
        })))
    }
    return backend
  })
