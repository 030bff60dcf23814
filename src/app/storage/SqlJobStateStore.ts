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
 *
 * The same statements run on SQLite and PostgreSQL: the upserts are
 * `INSERT ... ON CONFLICT ... DO UPDATE`, atomic on both, so runs recorded
 * by several processes at once all count.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Json } from "../../scheduler/Task.js"
import { type JobState, JobStateStore, type JobStateStoreService } from "./JobStateStore.js"
import { withBusyRetry } from "./StorageError.js"

/** A `job_state` row (snake_case columns, ISO-8601 text, NULLs) as a {@link JobState}. */
const JobStateRow: Schema.Schema<JobState, {
  readonly instance: string
  readonly last_run_at: string | null
  readonly run_count: number
  readonly error_count: number
  readonly last_error: string | null
  readonly last_error_at: string | null
}> = Schema.Struct({
  instance: Schema.String,
  lastRunAt: Schema.propertySignature(Schema.OptionFromNullOr(Schema.DateTimeUtc)).pipe(Schema.fromKey("last_run_at")),
  runCount: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("run_count")),
  errorCount: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("error_count")),
  lastError: Schema.propertySignature(Schema.OptionFromNullOr(Schema.String)).pipe(Schema.fromKey("last_error")),
  lastErrorAt: Schema.propertySignature(Schema.OptionFromNullOr(Schema.DateTimeUtc)).pipe(
    Schema.fromKey("last_error_at")
  )
})

/** The parameters of a recorded run: the instance, its instant as ISO-8601 text, and a failure's message. */
const RunRecord = Schema.Struct({ instance: Schema.String, at: Schema.DateTimeUtc })
const FailureRecord = Schema.Struct({ ...RunRecord.fields, error: Schema.String })

/** A `job_meta` key, and its row. */
const MetaKey = Schema.Struct({ instance: Schema.String, key: Schema.String })
const MetaRow = Schema.Struct({ value: Schema.parseJson(Json) })

/** Builds the store on a SQL client; exported for composing without the layer. */
export const make: Effect.Effect<JobStateStoreService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const findState = SqlSchema.findOne({
    Request: Schema.String,
    Result: JobStateRow,
    execute: (instance) =>
      sql`SELECT instance, last_run_at, run_count, error_count, last_error, last_error_at
          FROM job_state WHERE instance = ${instance}`
  })

  const findStates = SqlSchema.findAll({
    Request: Schema.Void,
    Result: JobStateRow,
    execute: () =>
      sql`SELECT instance, last_run_at, run_count, error_count, last_error, last_error_at
          FROM job_state ORDER BY instance`
  })

  const insertSuccess = SqlSchema.void({
    Request: RunRecord,
    execute: ({ at, instance }) =>
      sql`INSERT INTO job_state (instance, last_run_at, run_count, error_count)
          VALUES (${instance}, ${at}, 1, 0)
          ON CONFLICT (instance) DO UPDATE SET
            last_run_at = excluded.last_run_at,
            run_count = job_state.run_count + 1`
  })

  const insertFailure = SqlSchema.void({
    Request: FailureRecord,
    execute: ({ at, error, instance }) =>
      sql`INSERT INTO job_state (instance, run_count, error_count, last_error, last_error_at)
          VALUES (${instance}, 0, 1, ${error}, ${at})
          ON CONFLICT (instance) DO UPDATE SET
            error_count = job_state.error_count + 1,
            last_error = excluded.last_error,
            last_error_at = excluded.last_error_at`
  })

  const findMeta = SqlSchema.findOne({
    Request: MetaKey,
    Result: MetaRow,
    execute: ({ instance, key }) => sql`SELECT value FROM job_meta WHERE instance = ${instance} AND key = ${key}`
  })

  const upsertMeta = SqlSchema.void({
    Request: Schema.Struct({ ...MetaKey.fields, ...MetaRow.fields }),
    execute: (row) =>
      sql`INSERT INTO job_meta ${sql.insert(row)}
          ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value`
  })

  return {
    get: (instance) =>
      findState(instance).pipe(
        withBusyRetry("reading the job state"),
        Effect.withSpan("JobStateStore.get", { attributes: { instance } })
      ),
    list: findStates(undefined).pipe(withBusyRetry("reading the job states"), Effect.withSpan("JobStateStore.list")),
    recordSuccess: (instance, at) =>
      insertSuccess({ instance, at }).pipe(
        withBusyRetry("recording a successful run"),
        Effect.withSpan("JobStateStore.recordSuccess", { attributes: { instance } })
      ),
    recordFailure: (instance, at, error) =>
      insertFailure({ instance, at, error }).pipe(
        withBusyRetry("recording a failed run"),
        Effect.withSpan("JobStateStore.recordFailure", { attributes: { instance } })
      ),
    getMeta: (instance, key) =>
      findMeta({ instance, key }).pipe(
        Effect.map((row) => row.pipe(Option.map(({ value }) => value))),
        withBusyRetry(`reading ${key} of ${instance}`),
        Effect.withSpan("JobStateStore.getMeta", { attributes: { instance, key } })
      ),
    setMeta: (instance, key, value) =>
      upsertMeta({ instance, key, value }).pipe(
        // the Json type rules a non-JSON value out statically: one at run time is a defect
        Effect.catchTag("ParseError", Effect.die),
        withBusyRetry(`storing ${key} of ${instance}`),
        Effect.withSpan("JobStateStore.setMeta", { attributes: { instance, key } })
      )
  }
})

/** The {@link JobStateStore} on the SqlClient's database. */
export const layer: Layer.Layer<JobStateStore, never, SqlClient.SqlClient> = Layer.effect(JobStateStore, make)
