/**
 * `SqlJobStateStore` — the {@link JobStateStore} on the `job_state` and
 * `job_meta` tables (see `Database.ts` for the schema). Timestamps are
 * stored as ISO-8601 UTC strings and read back as `DateTime.Utc`; meta
 * values are stored as JSON text.
 *
 * Every operation fails with a {@link StorageError} when the database fails
 * or is locked beyond the busy timeout (waiting without blocking, see
 * `StorageError.ts`), or when a stored row or value does not decode. A meta
 * value that is not JSON at run time is a defect (the `Json` type rules it
 * out statically).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Json } from "../../scheduler/Task.js"
import { type JobState, JobStateStore, type JobStateStoreService } from "./JobStateStore.js"
import { withBusyRetry } from "./StorageError.js"

/** A `job_state` row, decoded into a {@link JobState}. */
const JobStateRow = Schema.Struct({
  instance: Schema.String,
  last_run_at: Schema.NullOr(Schema.DateTimeUtc),
  run_count: Schema.Number,
  error_count: Schema.Number,
  last_error: Schema.NullOr(Schema.String),
  last_error_at: Schema.NullOr(Schema.DateTimeUtc)
})

const decodeJobStates = Schema.decodeUnknown(Schema.Array(JobStateRow))

const toJobState = (row: typeof JobStateRow.Type): JobState => ({
  instance: row.instance,
  lastRunAt: Option.fromNullable(row.last_run_at),
  runCount: row.run_count,
  errorCount: row.error_count,
  lastError: Option.fromNullable(row.last_error),
  lastErrorAt: Option.fromNullable(row.last_error_at)
})

const JsonText = Schema.parseJson(Json)
const encodeJson = Schema.encode(JsonText)
const decodeJson = Schema.decodeUnknown(JsonText)

/** Builds the store on a SQL client; exported for composing without the layer. */
export const make: Effect.Effect<JobStateStoreService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const toStates = (rows: ReadonlyArray<unknown>) =>
    Effect.map(decodeJobStates(rows), (decoded) => decoded.map(toJobState))

  const get: JobStateStoreService["get"] = (instance) =>
    sql`SELECT instance, last_run_at, run_count, error_count, last_error, last_error_at
        FROM job_state WHERE instance = ${instance}`.pipe(
      Effect.flatMap(toStates),
      Effect.map((states) => Option.fromNullable(states[0])),
      withBusyRetry("reading the job state")
    )

  const list: JobStateStoreService["list"] = sql`
    SELECT instance, last_run_at, run_count, error_count, last_error, last_error_at
    FROM job_state ORDER BY instance`.pipe(Effect.flatMap(toStates), withBusyRetry("reading the job states"))

  const recordSuccess: JobStateStoreService["recordSuccess"] = (instance, at) =>
    sql`INSERT INTO job_state (instance, last_run_at, run_count, error_count)
        VALUES (${instance}, ${DateTime.formatIso(at)}, 1, 0)
        ON CONFLICT (instance) DO UPDATE SET
          last_run_at = excluded.last_run_at,
          run_count = job_state.run_count + 1`.pipe(Effect.asVoid, withBusyRetry("recording a successful run"))

  const recordFailure: JobStateStoreService["recordFailure"] = (instance, at, error) =>
    sql`INSERT INTO job_state (instance, run_count, error_count, last_error, last_error_at)
        VALUES (${instance}, 0, 1, ${error}, ${DateTime.formatIso(at)})
        ON CONFLICT (instance) DO UPDATE SET
          error_count = job_state.error_count + 1,
          last_error = excluded.last_error,
          last_error_at = excluded.last_error_at`.pipe(Effect.asVoid, withBusyRetry("recording a failed run"))

  const getMeta: JobStateStoreService["getMeta"] = (instance, key) =>
    sql<{ readonly value: string }>`SELECT value FROM job_meta WHERE instance = ${instance} AND key = ${key}`.pipe(
      Effect.flatMap((rows) => rows[0] === undefined ? Effect.succeedNone : Effect.asSome(decodeJson(rows[0].value))),
      withBusyRetry(`reading ${key} of ${instance}`)
    )

  const setMeta: JobStateStoreService["setMeta"] = (instance, key, value) =>
    encodeJson(value).pipe(
      Effect.orDie, // the Json type rules a non-JSON value out statically
      Effect.flatMap((text) =>
        sql`INSERT INTO job_meta (instance, key, value) VALUES (${instance}, ${key}, ${text})
            ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value`.pipe(
          withBusyRetry(`storing ${key} of ${instance}`)
        )
      ),
      Effect.asVoid
    )

  return { get, list, recordSuccess, recordFailure, getMeta, setMeta }
})

/** The {@link JobStateStore} on the SqlClient's database. */
export const layer: Layer.Layer<JobStateStore, never, SqlClient.SqlClient> = Layer.effect(JobStateStore, make)
