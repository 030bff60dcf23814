/**
 * The HTTP API's contract (`@effect/platform` HttpApi): `GET /status`,
 * `GET /collectors`, `POST /instances/:id/run`. Field names are snake_case,
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

/** One collector instance in `GET /collectors`. */
export const InstanceJson = Schema.Struct({
  id: Schema.String,
  param: Schema.NullOr(Schema.String),
  interval_seconds: Schema.Number,
  concurrency: Count,
  running: Schema.Boolean,
  last_run_at: Schema.NullOr(Timestamp),
  run_count: Count,
  error_count: Count,
  last_error: Schema.NullOr(Schema.String),
  next_run_at: Schema.NullOr(Timestamp)
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
  )
{}

/** The RayInfo HTTP API. */
export class RayInfoApi extends HttpApi.make("rayinfo").add(StatusGroup) {}
