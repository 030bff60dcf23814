/**
 * Handlers of the HTTP API (`GET /` serves the dashboard) and the server
 * layer (Node, bound to `HOST`:`PORT`, 127.0.0.1:8000 by default), with the access rules of
 * `Security.ts`: the token (`RAYINFO_API_TOKEN`) on mutations, error texts
 * summarised for callers without it (`Redaction.ts`), the `Host` check on
 * loopback and the body cap.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import { type DeadLetter, Scheduler } from "../../scheduler/Scheduler.js"
import * as SchedulerApi from "../../scheduler/SchedulerApi.js"
import { CollectorRunner, type InstanceInfo } from "../scheduling/CollectorRunner.js"
import { type AdapterStatus, SchedulerAdapter, type SchedulerType } from "../scheduling/SchedulerAdapter.js"
import { Items, parseQuery } from "../storage/Items.js"
import * as Prometheus from "../telemetry/Prometheus.js"
import { InstanceNotFound, InvalidQueryParameter, RayInfoApi, ServiceUnavailable } from "./Api.js"
import * as Dashboard from "./Dashboard.js"
import * as Redaction from "./Redaction.js"
import * as Security from "./Security.js"

/** An instance as `GET /collectors` shows it (the domain side of `Api.ts`'s `InstanceBody`). */
const instanceBody = (info: InstanceInfo, status: AdapterStatus) => {
  const schedule = Option.fromNullable(status.schedules.get(info.id))
  const job = Option.flatMap(status.cluster, (cluster) => Option.fromNullable(cluster.jobs.get(info.id)))
  const { misfire, timing } = info
  return {
    ...info,
    running: info.running || Option.exists(job, (j) => j.runningOn.length > 0),
    runner: Option.flatMap(job, (j) => j.holder),
    runningOn: Option.map(job, (j) => j.runningOn),
    interval: timing._tag === "Every" ? Option.some(timing.interval) : Option.none(),
    schedule: {
      id: Option.map(schedule, (s) => s.id),
      every: timing._tag === "Every" ? Option.some(timing.interval) : Option.none(),
      cron: timing._tag === "Cron" ? Option.some(timing.cron) : Option.none(),
      timeZone: timing._tag === "Cron" ? Option.some(timing.timeZone) : Option.none(),
      misfire: status.type === "RayScheduler"
        ? Option.some({ policy: misfire.policy, grace: Option.fromNullable(misfire.grace) })
        : Option.none(),
      runs: Option.map(schedule, (s) => s.runs),
      skippedOverlap: Option.map(schedule, (s) => s.skippedOverlap),
      skippedMissed: Option.map(schedule, (s) => s.skippedMissed)
    },
    nextRunAt: Option.fromNullable(status.planned.get(info.id)),
    retryAt: Option.fromNullable(status.retries.get(info.id))
  }
}

/**
 * Handlers of the `status` group; they return domain values, which `Api.ts`'s
 * schemas encode. With the implementations of the endpoints' middlewares
 * (`Security.middlewareLayer`), which read the token (`Security.ApiToken`,
 * default none) where this layer is built.
 */
export const StatusGroupLive = HttpApiBuilder.group(RayInfoApi, "status", (handlers) =>
  Effect.gen(function*() {
    const adapter = yield* SchedulerAdapter
    const runner = yield* CollectorRunner
    const items = yield* Items
    return handlers
      .handle("status", () =>
        Effect.gen(function*() {
          const status = yield* adapter.status
          const caller = yield* Security.Caller
          return {
            ...status,
            cluster: caller.authenticated
              ? status.cluster
              : Option.map(status.cluster, (cluster) => ({
                ...cluster,
                problem: Option.map(cluster.problem, Redaction.summary)
              })),
            message: `RayInfo collector service (${status.type})`,
            timestamp: yield* DateTime.now,
            runs: yield* runner.counters,
            itemsTotal: yield* items.count
          }
        }))
      .handle("collectors", () =>
        Effect.gen(function*() {
          const instances = yield* runner.listInstances
          const status = yield* adapter.status
          const caller = yield* Security.Caller
          const groups = new Map<string, Array<ReturnType<typeof instanceBody>>>()
          for (const info of instances) {
            const group = groups.get(info.collector) ?? []
            group.push(instanceBody(caller.authenticated ? info : Redaction.instance(info), status))
            groups.set(info.collector, group)
          }
          return [...groups].map(([collector, list]) => ({ collector, instances: list }))
        }))
      .handle("runInstance", ({ path }) =>
        Effect.flatMap(Security.Caller, (caller) =>
          adapter.trigger(path.id).pipe(
            Effect.catchTag(
              "UnknownInstanceError",
              (error) => Effect.fail(new InstanceNotFound({ message: error.message }))
            ),
            Effect.map((outcome) => caller.authenticated ? outcome : Redaction.outcome(outcome)),
            Effect.flatMap((outcome) =>
              outcome._tag === "Cancelled"
                ? Effect.fail(
                  new ServiceUnavailable({ message: `${outcome.instance} was not run: ${outcome.reason}` })
                )
                : Effect.succeed(outcome)
            )
          )))
      .handle("items", () =>
        // the raw parameters, not the decoded ones: unknown and repeated parameters are errors too
        Effect.flatMap(HttpServerRequest.ParsedSearchParams, (params) =>
          Effect.mapError(
            parseQuery(params),
            (error) => new InvalidQueryParameter({ parameter: error.parameter, message: error.message })
          ).pipe(Effect.flatMap(items.page))))
  })).pipe(Layer.provide(Security.middlewareLayer))

/** Handlers of the `operations` group: `/metrics` from the process's Prometheus exporter. */
export const OperationsGroupLive = HttpApiBuilder.group(
  RayInfoApi,
  "operations",
  (handlers) =>
    Effect.map(Prometheus.PrometheusMetrics, (prometheus) => handlers.handle("metrics", () => prometheus.scrape))
).pipe(
  Layer.provide(Prometheus.layer)
)

/** Handler of the `dashboard` group: `GET /`, the page of `Dashboard.ts` with its security headers. */
export const DashboardGroupLive = HttpApiBuilder.group(
  RayInfoApi,
  "dashboard",
  (handlers) => handlers.handle("dashboard", () => Effect.succeed(Dashboard.response))
)

/** Why the scheduler's endpoints answer 503 when there is no core scheduler in context. */
const schedulerUnavailable = (type: SchedulerType): string =>
  type === "LegacyScheduler"
    ? "The scheduler API needs the RayScheduler: this service runs the legacy scheduler (USE_RAY_SCHEDULER=false)"
    : "The scheduler API is not available: no core scheduler was provided to the HTTP API"

/** A dead letter as a caller without the token sees it: its error text summarised (`Redaction.summary`). */
const showDeadLetter = (letter: DeadLetter) =>
  Effect.map(
    Security.Caller,
    (caller): DeadLetter => caller.authenticated ? letter : { ...letter, error: Redaction.summary(letter.error) }
  )

/**
 * Handlers of the scheduler's groups (`SchedulerApi`, `/scheduler/...`) over
 * the `Scheduler` in context where this layer is built — the RayScheduler's
 * core scheduler. Without one (the legacy scheduler, `USE_RAY_SCHEDULER=false`)
 * every scheduler endpoint answers 503 (`SchedulerUnavailable`) saying why.
 */
export const SchedulerGroupsLive = Layer.unwrapEffect(Effect.gen(function*() {
  const adapter = yield* SchedulerAdapter
  // a Scheduler in context (an app embedding this API), else the adapter's own (none for the legacy scheduler)
  const scheduler = Option.match(Option.orElse(yield* Effect.serviceOption(Scheduler), () => adapter.scheduler), {
    onSome: Effect.succeed,
    onNone: () => Effect.fail(new SchedulerApi.SchedulerUnavailable({ message: schedulerUnavailable(adapter.type) }))
  })
  return Layer.merge(
    SchedulerApi.layerReads(RayInfoApi, { scheduler, showDeadLetter }),
    SchedulerApi.layerMutations(RayInfoApi, { scheduler })
  )
})).pipe(Layer.provide(Security.middlewareLayer))

/** Every group's handlers. */
export const GroupsLive = Layer.mergeAll(DashboardGroupLive, StatusGroupLive, OperationsGroupLive, SchedulerGroupsLive)

/** The API's OpenAPI document at `/openapi.json`, and interactive docs (Swagger UI, served inline) at `/docs`. */
export const DocsLive = Layer.merge(
  HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
  HttpApiSwagger.layer({ path: "/docs" })
)

/** Options of {@link layer}. */
export interface ServerOptions {
  readonly port: number
  /** The address to bind; a loopback one turns the `Host` check on (`Security.requestGuard`). */
  readonly host: string
  /** `RAYINFO_API_TOKEN`: needed by mutations, and shows full error texts. Default: none. */
  readonly token?: Option.Option<Redacted.Redacted<string>> | undefined
}

/**
 * The API served on the `HttpServer` in context, with `/openapi.json` and
 * `/docs` ({@link DocsLive}) and the access rules: the token, the `Host`
 * check when `host` is a loopback address (the port is the server's), the
 * body cap; each response logged.
 */
export const serveLayer = (options: Pick<ServerOptions, "host" | "token">) =>
  Layer.unwrapEffect(Effect.map(HttpServer.HttpServer, (server) => {
    const tcp = server.address._tag === "TcpAddress"
    const guard = Security.requestGuard({
      loopback: tcp && Security.isLoopbackHost(options.host),
      port: tcp ? server.address.port : 0
    })
    return HttpApiBuilder.serve((app) => HttpMiddleware.logger(guard(app)))
  })).pipe(
    Layer.provide(DocsLive),
    Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(GroupsLive))),
    Layer.provide(Layer.succeed(Security.ApiToken, options.token ?? Option.none()))
  )

/** The HTTP server serving the API; stops listening when its scope closes. */
export const layer = (options: ServerOptions) =>
  serveLayer(options).pipe(
    HttpServer.withLogAddress,
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
