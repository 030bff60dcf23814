/**
 * `StorageError` — a database operation of the collector service failed
 * (the database is locked by another process for too long, the disk is full,
 * the file is unreadable, ...). It is a typed error, not a defect: the
 * operations that store items and job state fail with it, and a run that
 * meets it is retried (see `CollectorRunner`).
 *
 * better-sqlite3 is synchronous: SQLite's own busy handler would block the
 * whole event loop while it waits for another process's lock (the HTTP API,
 * the scheduler and every other job with it). So the connection's native
 * `busy_timeout` is kept short ({@link nativeBusyTimeoutMillis}) and a
 * statement that still finds the database locked is retried by
 * {@link withBusyRetry} with `Effect.sleep` between attempts — without
 * blocking, interruptibly — until the configured {@link BusyTimeout} has
 * passed.
 *
 * On PostgreSQL nothing blocks the event loop (the pool is asynchronous), but
 * some failures are just as transient: a serialization failure, a deadlock,
 * a lock not available, the server restarting or a lost connection
 * ({@link isTransient}). {@link withBusyRetry} retries those the same way,
 * within the same {@link BusyTimeout}.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/** A database operation failed. `operation` says which ("storing items", "recording the job state", ...). */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  /** The database's own words, e.g. `database is locked (SQLITE_BUSY)`. */
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation} failed: ${this.reason}`
  }
}

/** Default of {@link BusyTimeout}: 10 seconds. */
export const defaultBusyTimeout: Duration.Duration = Duration.seconds(10)

/**
 * How long a statement keeps retrying while the database is locked by
 * another connection (config `storage.busyTimeout`). Default:
 * {@link defaultBusyTimeout}.
 */
export class BusyTimeout extends Context.Reference<BusyTimeout>()("rayinfo/BusyTimeout", {
  defaultValue: () => defaultBusyTimeout
}) {}

/** The connection's native `busy_timeout`: the longest the event loop may block on a lock, in ms. */
export const nativeBusyTimeoutMillis = 25

/** The driver's error code: `SQLITE_BUSY`, ... (better-sqlite3) or a SQLSTATE such as `40P01` (pg). */
const errorCode = (error: unknown): string | undefined => {
  const cause = error instanceof SqlError ? error.cause : error
  if (typeof cause !== "object" || cause === null) return undefined
  const code: unknown = (cause as { readonly code?: unknown }).code
  return typeof code === "string" ? code : undefined
}

/** Whether `error` is SQLite's "another connection holds a lock" (`SQLITE_BUSY*`, `SQLITE_LOCKED*`). */
export const isBusy = (error: unknown): boolean => {
  const code = errorCode(error)
  return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

/**
 * PostgreSQL SQLSTATEs worth retrying: `40001` serialization_failure,
 * `40P01` deadlock_detected, `55P03` lock_not_available, `57P01`
 * admin_shutdown, `57P03` cannot_connect_now (the server is starting).
 * Plus class `08` (connection exceptions), see {@link isTransient}.
 */
const transientSqlStates: ReadonlySet<string> = new Set(["40001", "40P01", "55P03", "57P01", "57P03"])

/** Whether `code` is a SQLSTATE (five digits or upper-case letters) that is worth retrying. */
const isTransientSqlState = (code: string): boolean =>
  /^[0-9A-Z]{5}$/.test(code) && (transientSqlStates.has(code) || code.startsWith("08"))

/**
 * Whether `error` is worth waiting for and retrying: SQLite's {@link isBusy},
 * or one of PostgreSQL's transient SQLSTATEs (serialization failure,
 * deadlock, lock not available, server shutting down or starting, class 08
 * connection exceptions).
 */
export const isTransient = (error: unknown): boolean => {
  if (isBusy(error)) return true
  const code = errorCode(error)
  return code !== undefined && isTransientSqlState(code)
}

const reasonOf = (error: unknown): string => {
  const cause = error instanceof SqlError ? error.cause : error
  const text = cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error)
  const code = errorCode(error)
  return code === undefined || text.includes(code) ? text : `${text} (${code})`
}

/** Between attempts on a locked database (or after a transient error): 10 ms, doubling, at most 250 ms. */
const busyBackoff = Schedule.exponential(Duration.millis(10)).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(250)))
)

/**
 * Runs a database operation: while it fails because the database is locked
 * (or with another {@link isTransient} error), retries it (non-blocking
 * sleeps) for up to {@link BusyTimeout}; any other failure, or one that
 * outlasts the timeout, becomes a {@link StorageError} for `operation`.
 * Retry whole transactions, not statements inside one.
 */
export const withBusyRetry = (operation: string) =>
<A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, StorageError, R> =>
  Effect.flatMap(BusyTimeout, (timeout) =>
    effect.pipe(
      Effect.retry({
        schedule: busyBackoff.pipe(Schedule.upTo(timeout)),
        while: isTransient
      }),
      Effect.mapError((error) => {
        const reason = reasonOf(error)
        return new StorageError({
          operation,
          reason: isBusy(error)
            ? `${reason}; still locked after ${Duration.format(timeout)}`
            : isTransient(error)
            ? `${reason}; still failing after ${Duration.format(timeout)}`
            : reason,
          cause: error
        })
      })
    ))
