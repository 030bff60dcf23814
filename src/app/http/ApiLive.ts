/**
 * Handlers of the HTTP API and the server layer (Node, bound to
 * `HOST`:`PORT`, 127.0.0.1:8000 by default).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
import type { RunOutcome } from "../scheduling/CollectorRunner.js"
import { SchedulerAdapter } from "../scheduling/SchedulerAdapter.js"
import { type Item, Items, type ItemsPage, parseQuery } from "../storage/Items.js"
import { InstanceNotFound, RayInfoApi, type RunResultJson, ServiceUnavailable, type StatusJson } from "./Api.js"
import { InvalidQueryParameter, type ItemsPageJson } from "./Api.js"

const iso = (dateTime: DateTime.Utc): string => DateTime.formatIso(dateTime)
const isoOrNull = (dateTime: Option.Option<DateTime.Utc>): string | null =>
  Option.match(dateTime, { onNone: () => null, onSome: iso })

/** The JSON form of a run outcome that happened (also printed by `rayinfo trigger`). */
export const runResultJson = (outcome: Exclude<RunOutcome, { readonly _tag: "Cancelled" }>): RunResultJson => {
  const base = { instance: outcome.instance, started_at: iso(outcome.startedAt) }
  switch (outcome._tag) {
    case "Succeeded":
      return {
        ...base,
        outcome: "succeeded",
        received: outcome.result.received,
        duplicates: outcome.result.duplicates,
        stored: outcome.result.stored,
        error: null,
        retry_after_seconds: null
      }
    case "Retry":
      return {
        ...base,
        outcome: "retry",
        received: null,
        duplicates: null,
        stored: null,
        error: outcome.error,
        retry_after_seconds: Duration.toSeconds(outcome.retryAfter)
      }
    case "Failed":
      return {
        ...base,
        outcome: "failed",
        received: null,
        duplicates: null,
        stored: null,
        error: outcome.error,
        retry_after_seconds: null
      }
  }
}

/** The JSON form of a stored item (in `GET /items`; also printed by `rayinfo items --json`). */
export const itemJson = (item: Item): ItemsPageJson["items"][number] => ({
  source: item.source,
  key: item.key,
  raw: item.raw,
  fetched_at: iso(item.fetchedAt),
  stored_at: iso(item.storedAt),
  debug: item.debug
})

/** The `GET /items` document of a page. */
export const itemsPageJson = (page: ItemsPage): ItemsPageJson => ({
  items: page.items.map(itemJson),
  next_cursor: Option.getOrNull(page.nextCursor)
})

/** The `last_outcome` of `GET /collectors`. */
const lastOutcomeJson = (outcome: RunOutcome, at: DateTime.Utc) => ({
  outcome: outcome._tag === "Succeeded"
    ? "succeeded" as const
    : outcome._tag === "Retry"
    ? "retry" as const
    : outcome._tag === "Failed"
    ? "failed" as const
    : "cancelled" as const,
  at: iso(at),
  error: outcome._tag === "Succeeded" ? null : outcome._tag === "Cancelled" ? outcome.reason : outcome.error,
  retry_after_seconds: outcome._tag === "Retry" ? Duration.toSeconds(outcome.retryAfter) : null
})

/** The `/status` document. */
export const statusJson: Effect.Effect<StatusJson, never, SchedulerAdapter | Items> = Effect.gen(function*() {
  const adapter = yield* SchedulerAdapter
  const items = yield* Items
  const status = yield* adapter.status
  const now = yield* DateTime.now
  return {
    message: `RayInfo collector service (${status.type})`,
    scheduler_type: status.type,
    scheduler_running: status.running,
    registered_jobs: status.registeredJobs,
    pending_tasks: status.pendingTasks,
    timestamp: iso(now),
    next_run_at: isoOrNull(status.nextRunAt),
    runs: {
      started: status.runs.started,
      succeeded: status.runs.succeeded,
      failed: status.runs.failed,
      retried: status.runs.retried,
      cancelled: status.runs.cancelled,
      in_flight: status.runs.inFlight,
      items_stored: status.runs.itemsStored
    },
    scheduler: Option.match(status.scheduler, {
      onNone: () => null,
      onSome: (s) => ({
        submitted: s.submitted,
        started: s.started,
        succeeded: s.succeeded,
        failed: s.failed,
        dropped: s.dropped,
        in_flight: s.inFlight,
        pending: s.pending,
        lateness_mean_ms: s.lateness.meanMillis,
        lateness_max_ms: s.lateness.maxMillis
      })
    }),
    items_total: yield* items.count
  }
})

/** Handlers of the `status` group. */
export const StatusGroupLive = HttpApiBuilder.group(RayInfoApi, "status", (handlers) =>
  Effect.gen(function*() {
    const adapter = yield* SchedulerAdapter
    const items = yield* Items
    const withServices = <A, E>(effect: Effect.Effect<A, E, SchedulerAdapter | Items>) =>
      effect.pipe(Effect.provideService(SchedulerAdapter, adapter), Effect.provideService(Items, items))
    return handlers
      .handle("status", () => withServices(statusJson))
      .handle("collectors", () =>
        Effect.map(adapter.listInstances, (instances) => {
          const groups = new Map<string, Array<(typeof instances)[number]>>()
          for (const instance of instances) {
            groups.set(instance.collector, [...(groups.get(instance.collector) ?? []), instance])
          }
          return [...groups].map(([collector, list]) => ({
            collector,
            instances: list.map((i) => ({
              id: i.id,
              param: Option.getOrNull(i.param),
              interval_seconds: i.intervalMillis / 1000,
              concurrency: i.concurrency,
              running: i.running,
              manual_run_queued: i.manualRunQueued,
              last_run_at: isoOrNull(Option.flatMap(i.state, (s) => s.lastRunAt)),
              run_count: Option.match(i.state, { onNone: () => 0, onSome: (s) => s.runCount }),
              error_count: Option.match(i.state, { onNone: () => 0, onSome: (s) => s.errorCount }),
              last_error: Option.getOrNull(Option.flatMap(i.state, (s) => s.lastError)),
              next_run_at: isoOrNull(i.nextRunAt),
              last_outcome: Option.getOrNull(
                Option.zipWith(i.lastOutcome, i.lastOutcomeAt, (outcome, at) => lastOutcomeJson(outcome, at))
              ),
              state_error: Option.getOrNull(i.stateError)
            }))
          }))
        }))
      .handle("runInstance", ({ path }) =>
        adapter.runInstance(path.id).pipe(
          Effect.catchTag("UnknownInstanceError", (error) =>
            Effect.fail(new InstanceNotFound({ message: error.message }))),
          Effect.flatMap((outcome) =>
            outcome._tag === "Cancelled"
              ? Effect.fail(new ServiceUnavailable({ message: `${outcome.instance} was not run: ${outcome.reason}` }))
              : Effect.succeed(runResultJson(outcome))
          )
        ))
      .handle("items", () =>
        // the raw parameters, not the decoded ones: unknown and repeated parameters are errors too
        Effect.flatMap(HttpServerRequest.ParsedSearchParams, (params) =>
          Effect.mapError(
            parseQuery(params),
            (error) =>
              new InvalidQueryParameter({ parameter: error.parameter, message: error.message })
          ).pipe(Effect.flatMap(items.page), Effect.map(itemsPageJson))))
  }))

/** Options of {@link layer}. */
export interface ServerOptions {
  readonly port: number
  readonly host: string
}

/** The HTTP server serving the API; stops listening when its scope closes. */
export const layer = (options: ServerOptions) =>
  HttpApiBuilder.serve(HttpMiddleware.logger).pipe(
    HttpServer.withLogAddress,
    Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(StatusGroupLive))),
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
