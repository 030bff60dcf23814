/**
 * The HTTP API's contract (`@effect/platform` HttpApi): `GET /` (the
 * dashboard, an HTML page), `GET /status`,
 * `GET /collectors`, `POST /instances/:id/run`, `GET /items`, `GET /metrics`, and the
 * scheduler's endpoints (`SchedulerApi`, under `/scheduler`). Field names are snake_case,
 * as in the service this one replaces.
 *
 * Each response is declared once, as a schema from the domain value the
 * handler returns (`AdapterStatus`, `InstanceInfo`, `RunOutcome`, `Item`...)
 * to its JSON (`*Body`): encoding renames the fields (`Schema.fromKey`),
 * writes instants as ISO-8601, durations as seconds and `Option`s as `null`.
 * The JSON alone (`*Json`, the encoded side) is for clients.
 *
 * `POST` endpoints are guarded (`Security.MutationGuard`); error texts are
 * summarised for callers without the token (`Redaction.ts`).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchedulerApi from "../../scheduler/SchedulerApi.js"
import * as Security from "./Security.js"

const Count = Schema.NonNegativeInt

/** An instant: a `DateTime.Utc` as ISO-8601 text (UTC). */
const Timestamp = Schema.DateTimeUtc.annotations({ description: "ISO-8601 instant (UTC)" })

/** A duration as a number of seconds (fractional). */
const Seconds = Schema.transform(Schema.Number, Schema.DurationFromSelf, {
  strict: true,
  decode: Duration.seconds,
  encode: Duration.toSeconds
}).annotations({ description: "seconds" })

/** A value's field under another (snake_case) key on the wire. */
const wire = <Key extends string>(key: Key) => <A, I, R>(schema: Schema.Schema<A, I, R>) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

/** A key that the value does not have and the wire always has, as `null`. */
const AlwaysNull = Schema.requiredToOptional(Schema.Null, Schema.Never, {
  decode: () => Option.none(),
  encode: () => null
})

/** A run outcome's `_tag` as the wire's `outcome`: `succeeded`, `retry`, `failed` or `cancelled`. */
const outcome = <const Wire extends string, const Tag extends string>(value: Wire, tag: Tag) =>
  wire("outcome")(Schema.transformLiteral(value, tag))

/** `RunCounters` (over all collector runs since start). */
const RunCounters = Schema.Struct({
  started: Count,
  succeeded: Count,
  failed: Count,
  retried: Count,
  cancelled: Count,
  inFlight: wire("in_flight")(Count),
  itemsStored: wire("items_stored")(Count)
})

/** The core scheduler's task counts, named alike in `SchedulerStats` and on the wire. */
const schedulerCounts = {
  submitted: Count,
  started: Count,
  succeeded: Count,
  failed: Count,
  retried: Count,
  dropped: Count,
  cancelled: Count
}

/** The core scheduler's counters (`SchedulerStats`, RayScheduler only); lateness is flat on the wire. */
const SchedulerCounters = Schema.transform(
  Schema.Struct({
    ...schedulerCounts,
    inFlight: wire("in_flight")(Count),
    pending: Count,
    deadLetters: wire("dead_letters")(Count),
    clockJumps: wire("clock_jumps")(Count),
    meanMillis: wire("lateness_mean_ms")(Schema.Number),
    maxMillis: wire("lateness_max_ms")(Schema.Number)
  }),
  Schema.Struct({
    ...schedulerCounts,
    inFlight: Count,
    pending: Count,
    deadLetters: Count,
    clockJumps: Count,
    lateness: Schema.Struct({ meanMillis: Schema.Number, maxMillis: Schema.Number })
  }),
  {
    strict: true,
    decode: ({ maxMillis, meanMillis, ...counters }) => ({ ...counters, lateness: { meanMillis, maxMillis } }),
    encode: ({ lateness, ...counters }) => ({ ...counters, ...lateness })
  }
)

/**
 * Which runner holds what (`ClusterStatus`), in cluster mode: this
 * process's runner, the cluster's runners, the host of the schedules and,
 * per job, its runner and the runners running it now.
 */
const ClusterBody = Schema.Struct({
  self: wire("runner")(Schema.String),
  runners: Schema.Array(Schema.Struct({
    address: Schema.String,
    healthy: Schema.Boolean,
    lastHeartbeat: wire("last_heartbeat")(Timestamp)
  })),
  schedulesHost: wire("schedules_host")(Schema.OptionFromNullOr(Schema.String)),
  jobs: Schema.ReadonlyMapFromRecord({
    key: Schema.String,
    value: Schema.Struct({
      holder: wire("runner")(Schema.OptionFromNullOr(Schema.String)),
      runningOn: wire("running_on")(Schema.Array(Schema.String))
    })
  }),
  problem: Schema.OptionFromNullOr(Schema.String)
})

/** `GET /status`: the scheduling (`AdapterStatus`), the run counters and the item count. */
export const StatusBody = Schema.Struct({
  message: Schema.String,
  type: wire("scheduler_type")(Schema.Literal("RayScheduler", "LegacyScheduler")),
  running: wire("scheduler_running")(Schema.Boolean),
  registeredJobs: wire("registered_jobs")(Count),
  pendingTasks: wire("pending_tasks")(Count),
  timestamp: Timestamp,
  nextRunAt: wire("next_run_at")(Schema.OptionFromNullOr(Timestamp)),
  runs: RunCounters,
  scheduler: Schema.OptionFromNullOr(SchedulerCounters),
  itemsTotal: wire("items_total")(Count),
  /** `null` unless the service runs on a cluster (`RAYINFO_DATABASE_URL`). */
  cluster: Schema.OptionFromNullOr(ClusterBody)
})
/** The JSON of `GET /status`. */
export const StatusJson = Schema.encodedSchema(StatusBody)
export type StatusJson = typeof StatusJson.Type

/** The last outcome of a job in this process (`EndedRun`; also when it could not be stored). */
const LastOutcome = Schema.Union(
  Schema.Struct({
    _tag: outcome("succeeded", "Succeeded"),
    at: Timestamp,
    error: AlwaysNull,
    retry_after_seconds: AlwaysNull
  }),
  Schema.Struct({
    _tag: outcome("retry", "Retry"),
    at: Timestamp,
    error: Schema.String,
    retryAfter: wire("retry_after_seconds")(Seconds)
  }),
  Schema.Struct({
    _tag: outcome("failed", "Failed"),
    at: Timestamp,
    error: Schema.String,
    retry_after_seconds: AlwaysNull
  }),
  Schema.Struct({
    _tag: outcome("cancelled", "Cancelled"),
    at: Timestamp,
    reason: wire("error")(Schema.String),
    retry_after_seconds: AlwaysNull
  })
)

/**
 * A job's schedule in `GET /collectors`: its timing (`every_seconds`, or
 * `cron` in `time_zone`) and misfire rule as configured, and (RayScheduler
 * only, else `null`) the library schedule's id and counters since this
 * process started.
 */
const ScheduleBody = Schema.Struct({
  id: Schema.OptionFromNullOr(Schema.String),
  every: wire("every_seconds")(Schema.OptionFromNullOr(Seconds)),
  cron: Schema.OptionFromNullOr(Schema.String),
  timeZone: wire("time_zone")(Schema.OptionFromNullOr(Schema.String)),
  misfire: Schema.OptionFromNullOr(Schema.Struct({
    policy: Schema.Literal("coalesce", "all", "skip"),
    grace: wire("grace_seconds")(Schema.OptionFromNullOr(Seconds))
  })),
  runs: Schema.OptionFromNullOr(Count),
  skippedOverlap: wire("skipped_overlap")(Schema.OptionFromNullOr(Count)),
  skippedMissed: wire("skipped_missed")(Schema.OptionFromNullOr(Count))
})

/** One collector instance in `GET /collectors`: its `InstanceInfo`, its schedule and its next run. */
const InstanceBody = Schema.Struct({
  id: Schema.String,
  param: Schema.OptionFromNullOr(Schema.String),
  /** The interval of an interval job; `null` for a cron job (see `schedule`). */
  interval: wire("interval_seconds")(Schema.OptionFromNullOr(Seconds)),
  schedule: ScheduleBody,
  concurrency: Count,
  /** Running now: in this process, or (cluster mode) a scheduled run on any runner. */
  running: Schema.Boolean,
  /** Cluster mode: the runner holding the job (its runs and manual triggers run there); `null` otherwise or while it moves. */
  runner: Schema.OptionFromNullOr(Schema.String),
  /** Cluster mode: the runners running a scheduled run of it now; `null` otherwise. */
  runningOn: wire("running_on")(Schema.OptionFromNullOr(Schema.Array(Schema.String))),
  /** A manual run is waiting for the running one (further `POST /instances/:id/run` join it). */
  manualRunQueued: wire("manual_run_queued")(Schema.Boolean),
  lastRunAt: wire("last_run_at")(Schema.OptionFromNullOr(Timestamp)),
  runCount: wire("run_count")(Count),
  errorCount: wire("error_count")(Count),
  lastError: wire("last_error")(Schema.OptionFromNullOr(Schema.String)),
  /** The next run: the next scheduled one, or a waiting retry if earlier; `null` when the scheduling is stopped. */
  nextRunAt: wire("next_run_at")(Schema.OptionFromNullOr(Timestamp)),
  /** When the waiting retry of a run that asked for one (`last_outcome` retry) is due, if one waits. */
  retryAt: wire("retry_at")(Schema.OptionFromNullOr(Timestamp)),
  lastOutcome: wire("last_outcome")(Schema.OptionFromNullOr(LastOutcome)),
  /** Why the stored state (`last_run_at`, counts) could not be read, if it could not. */
  stateError: wire("state_error")(Schema.OptionFromNullOr(Schema.String))
})

/** `GET /collectors`: instances grouped by collector. */
export const CollectorsBody = Schema.Array(Schema.Struct({
  collector: Schema.String,
  instances: Schema.Array(InstanceBody)
}))
/** The JSON of `GET /collectors`. */
export const CollectorsJson = Schema.encodedSchema(CollectorsBody)

const StartedAt = wire("started_at")(Timestamp)

/** `POST /instances/:id/run`: the outcome of a run that happened (not `Cancelled`). */
export const RunResultBody = Schema.Union(
  Schema.transform(
    Schema.Struct({
      instance: Schema.String,
      _tag: outcome("succeeded", "Succeeded"),
      startedAt: StartedAt,
      received: Count,
      duplicates: Count,
      stored: Count,
      error: AlwaysNull,
      retry_after_seconds: AlwaysNull
    }),
    Schema.Struct({
      _tag: Schema.Literal("Succeeded"),
      instance: Schema.String,
      startedAt: Schema.DateTimeUtcFromSelf,
      result: Schema.Struct({ received: Count, duplicates: Count, stored: Count })
    }),
    {
      strict: true,
      // the pipeline's counts are flat on the wire
      decode: ({ duplicates, received, stored, ...run }) => ({ ...run, result: { received, duplicates, stored } }),
      encode: ({ result, ...run }) => ({ ...run, ...result })
    }
  ),
  Schema.Struct({
    instance: Schema.String,
    _tag: outcome("retry", "Retry"),
    startedAt: StartedAt,
    received: AlwaysNull,
    duplicates: AlwaysNull,
    stored: AlwaysNull,
    error: Schema.String,
    retryAfter: wire("retry_after_seconds")(Seconds)
  }),
  Schema.Struct({
    instance: Schema.String,
    _tag: outcome("failed", "Failed"),
    startedAt: StartedAt,
    received: AlwaysNull,
    duplicates: AlwaysNull,
    stored: AlwaysNull,
    error: Schema.String,
    retry_after_seconds: AlwaysNull
  })
)
/** The JSON of `POST /instances/:id/run` (also printed by `rayinfo trigger`). */
export const RunResultJson = Schema.encodedSchema(RunResultBody)
export type RunResultJson = typeof RunResultJson.Type

/** One stored item (`Item`) in `GET /items`; also printed by `rayinfo items --json`. */
export const ItemBody = Schema.Struct({
  /** The collector instance that fetched it, e.g. `news:https://x/feed.xml`. */
  source: Schema.String,
  /** Its identity within the source (link, guid, url, ...). */
  key: Schema.String,
  raw: Schema.Unknown.annotations({ description: "the item as fetched (JSON)" }),
  fetchedAt: wire("fetched_at")(Timestamp),
  storedAt: wire("stored_at")(Timestamp),
  debug: Schema.Boolean
})

/** `GET /items`: a page of stored items (`ItemsPage`), newest first by `stored_at`. */
export const ItemsPageBody = Schema.Struct({
  items: Schema.Array(ItemBody),
  /** Pass as `cursor` for the next (older) page; `null` on the last page. */
  nextCursor: wire("next_cursor")(Schema.OptionFromNullOr(Schema.String))
})
/** The JSON of `GET /items`. */
export const ItemsPageJson = Schema.encodedSchema(ItemsPageBody)
export type ItemsPageJson = typeof ItemsPageJson.Type

/** A query parameter as given; repeated ones are rejected by the handler with {@link InvalidQueryParameter}. */
const QueryParameter = (description: string) =>
  Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String)).annotations({ description }))

/** The query parameters of `GET /items` (all optional; filters combine with AND). */
export const ItemsUrlParams = Schema.Struct({
  source: QueryParameter("only this source (exact collector instance id)"),
  collector: QueryParameter("only this collector's sources: `name` or `name:<param>`"),
  q: QueryParameter("only items whose key or raw JSON contains this text, ignoring case (at most 200 characters)"),
  since: QueryParameter("only items stored at or after this ISO-8601 instant (no offset means UTC)"),
  until: QueryParameter("only items stored before this ISO-8601 instant"),
  limit: QueryParameter("page size, 1 to 1000 (default 50)"),
  cursor: QueryParameter("`next_cursor` of the previous page")
})

/** 400: a query parameter is unknown, repeated or malformed; `parameter` names it. */
export class InvalidQueryParameter extends Schema.TaggedError<InvalidQueryParameter>()("InvalidQueryParameter", {
  parameter: Schema.String,
  message: Schema.String
}) {}

/** 503: the run was not done because the service is shutting down. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", {
  message: Schema.String
}) {}

/** 404: no collector instance with that id. */
export class InstanceNotFound extends Schema.TaggedError<InstanceNotFound>()("InstanceNotFound", {
  message: Schema.String
}) {}

/**
 * The API's only group. Every mutating endpoint declares
 * `Security.MutationGuard` (the token when one is set, no cross-site
 * request); a read endpoint that shows more to the token's holder declares
 * `Security.CallerAuthentication` (docs/operations.md, "Security").
 */
export class StatusGroup extends HttpApiGroup.make("status")
  .add(
    HttpApiEndpoint.get("status", "/status").addSuccess(StatusBody).middleware(Security.CallerAuthentication)
  )
  .add(
    HttpApiEndpoint.get("collectors", "/collectors").addSuccess(CollectorsBody).middleware(
      Security.CallerAuthentication
    )
  )
  .add(
    HttpApiEndpoint.post("runInstance", "/instances/:id/run")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(RunResultBody)
      .addError(InstanceNotFound, { status: 404 })
      .addError(ServiceUnavailable, { status: 503 })
      .middleware(Security.MutationGuard)
  )
  .add(
    HttpApiEndpoint.get("items", "/items")
      .setUrlParams(ItemsUrlParams)
      .addSuccess(ItemsPageBody)
      .addError(InvalidQueryParameter, { status: 400 })
  )
{}

/** Operations: `GET /metrics`, every metric of the process in Prometheus' text format (docs/operations.md). */
export class OperationsGroup extends HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.get("metrics", "/metrics").addSuccess(
      HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
  )
{}

/**
 * `GET /`: the dashboard (`Dashboard.ts`), one HTML page over the JSON
 * endpoints. A read: open, like `/status`.
 */
export class DashboardGroup extends HttpApiGroup.make("dashboard")
  .add(
    HttpApiEndpoint.get("dashboard", "/")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/html; charset=utf-8" }))
      .annotate(OpenApi.Summary, "The dashboard: an HTML page reading the endpoints below (docs/operations.md)")
  )
{}

/**
 * The scheduler's reads (`SchedulerApi.ReadGroup`, `GET /scheduler/...`):
 * open like `/status`; `Security.CallerAuthentication` so that the dead
 * letters' error texts are summarised for callers without the token.
 */
export const SchedulerReadGroup = SchedulerApi.ReadGroup.middleware(Security.CallerAuthentication)

/** The scheduler's mutations (`SchedulerApi.MutationGroup`, `POST /scheduler/...`), guarded like every mutation. */
export const SchedulerMutationGroup = SchedulerApi.MutationGroup.middleware(Security.MutationGuard)

/**
 * The RayInfo HTTP API: its own endpoints, `/metrics`, and the scheduler's
 * (`/scheduler/...`, served over the RayScheduler's core scheduler). Its
 * OpenAPI document is served at `/openapi.json`, interactive docs at `/docs`.
 */
export class RayInfoApi extends HttpApi.make("rayinfo")
  .add(DashboardGroup)
  .add(StatusGroup)
  .add(OperationsGroup)
  .add(SchedulerReadGroup)
  .add(SchedulerMutationGroup)
  .annotate(OpenApi.Title, "RayInfo")
  .annotate(
    OpenApi.Description,
    "The RayInfo collector service: its status, collectors and items, manual runs, metrics, and its scheduler " +
      "(/scheduler/...). Mutations (POST) need `Authorization: Bearer <RAYINFO_API_TOKEN>` when a token is set."
  )
{}
