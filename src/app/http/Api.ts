/**
 * The HTTP API's contract (`@effect/platform` HttpApi): `GET /status`,
 * `GET /collectors`, `POST /instances/:id/run`, `GET /items`. Field names are snake_case,
 * as in the service this one replaces.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as Schema from "effect/Schema"

const Count = Schema.NonNegativeInt
const Timestamp = Schema.String.annotations({ description: "ISO-8601 instant (UTC)" })

/** Run counters over all collector runs since start. */
export const RunCountersJson = Schema.Struct({
  started: Count,
  succeeded: Count,
  failed: Count,
  retried: Count,
  cancelled: Count,
  in_flight: Count,
  items_stored: Count
})

/** The core scheduler's counters (RayScheduler only). */
export const SchedulerCountersJson = Schema.Struct({
  submitted: Count,
  started: Count,
  succeeded: Count,
  failed: Count,
  dropped: Count,
  in_flight: Count,
  pending: Count,
  lateness_mean_ms: Schema.Number,
  lateness_max_ms: Schema.Number
})

/** `GET /status`. */
export const StatusJson = Schema.Struct({
  message: Schema.String,
  scheduler_type: Schema.Literal("RayScheduler", "LegacyScheduler"),
  scheduler_running: Schema.Boolean,
  registered_jobs: Count,
  pending_tasks: Count,
  timestamp: Timestamp,
  next_run_at: Schema.NullOr(Timestamp),
  runs: RunCountersJson,
  scheduler: Schema.NullOr(SchedulerCountersJson),
  items_total: Count
})
export type StatusJson = typeof StatusJson.Type

/** The last outcome of a job in this process (also when it could not be stored). */
export const LastOutcomeJson = Schema.Struct({
  outcome: Schema.Literal("succeeded", "retry", "failed", "cancelled"),
  /** When the run ended. */
  at: Timestamp,
  error: Schema.NullOr(Schema.String),
  retry_after_seconds: Schema.NullOr(Schema.Number)
})

/** One collector instance in `GET /collectors`. */
export const InstanceJson = Schema.Struct({
  id: Schema.String,
  param: Schema.NullOr(Schema.String),
  interval_seconds: Schema.Number,
  concurrency: Count,
  running: Schema.Boolean,
  /** A manual run is waiting for the running one (further `POST /instances/:id/run` join it). */
  manual_run_queued: Schema.Boolean,
  last_run_at: Schema.NullOr(Timestamp),
  run_count: Count,
  error_count: Count,
  last_error: Schema.NullOr(Schema.String),
  next_run_at: Schema.NullOr(Timestamp),
  last_outcome: Schema.NullOr(LastOutcomeJson),
  /** Why the stored state (`last_run_at`, counts) could not be read, if it could not. */
  state_error: Schema.NullOr(Schema.String)
})

/** `GET /collectors`: instances grouped by collector. */
export const CollectorsJson = Schema.Array(Schema.Struct({
  collector: Schema.String,
  instances: Schema.Array(InstanceJson)
}))

/** `POST /instances/:id/run`. */
export const RunResultJson = Schema.Struct({
  instance: Schema.String,
  outcome: Schema.Literal("succeeded", "retry", "failed"),
  started_at: Timestamp,
  received: Schema.NullOr(Count),
  duplicates: Schema.NullOr(Count),
  stored: Schema.NullOr(Count),
  error: Schema.NullOr(Schema.String),
  retry_after_seconds: Schema.NullOr(Schema.Number)
})
export type RunResultJson = typeof RunResultJson.Type

/** One stored item in `GET /items`. */
export const ItemJson = Schema.Struct({
  /** The collector instance that fetched it, e.g. `news:https://x/feed.xml`. */
  source: Schema.String,
  /** Its identity within the source (link, guid, url, ...). */
  key: Schema.String,
  raw: Schema.Unknown.annotations({ description: "the item as fetched (JSON)" }),
  fetched_at: Timestamp,
  stored_at: Timestamp,
  debug: Schema.Boolean
})

/** `GET /items`: a page of stored items, newest first by `stored_at`. */
export const ItemsPageJson = Schema.Struct({
  items: Schema.Array(ItemJson),
  /** Pass as `cursor` for the next (older) page; `null` on the last page. */
  next_cursor: Schema.NullOr(Schema.String)
})
export type ItemsPageJson = typeof ItemsPageJson.Type

/** A query parameter as given; repeated ones are rejected by the handler with {@link InvalidQueryParameter}. */
const QueryParameter = (description: string) =>
  Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String)).annotations({ description }))

/** The query parameters of `GET /items` (all optional; filters combine with AND). */
export const ItemsUrlParams = Schema.Struct({
  source: QueryParameter("only this source (exact collector instance id)"),
  collector: QueryParameter("only this collector's sources: `name` or `name:<param>`"),
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

/** The API's only group. */
export class StatusGroup extends HttpApiGroup.make("status")
  .add(HttpApiEndpoint.get("status", "/status").addSuccess(StatusJson))
  .add(HttpApiEndpoint.get("collectors", "/collectors").addSuccess(CollectorsJson))
  .add(
    HttpApiEndpoint.post("runInstance", "/instances/:id/run")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(RunResultJson)
      .addError(InstanceNotFound, { status: 404 })
      .addError(ServiceUnavailable, { status: 503 })
  )
  .add(
    HttpApiEndpoint.get("items", "/items")
      .setUrlParams(ItemsUrlParams)
      .addSuccess(ItemsPageJson)
      .addError(InvalidQueryParameter, { status: 400 })
  )
{}

/** The RayInfo HTTP API. */
export class RayInfoApi extends HttpApi.make("rayinfo").add(StatusGroup) {}
