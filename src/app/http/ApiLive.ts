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
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
import { CollectorRunner, type InstanceInfo } from "../scheduling/CollectorRunner.js"
import { type AdapterStatus, SchedulerAdapter } from "../scheduling/SchedulerAdapter.js"
import { Items, parseQuery } from "../storage/Items.js"
import { InstanceNotFound, InvalidQueryParameter, RayInfoApi, ServiceUnavailable } from "./Api.js"

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

/** Handlers of the `status` group; they return domain values, which `Api.ts`'s schemas encode. */
export const StatusGroupLive = HttpApiBuilder.group(RayInfoApi, "status", (handlers) =>
  Effect.gen(function*() {
    const adapter = yield* SchedulerAdapter
    const runner = yield* CollectorRunner
    const items = yield* Items
    return handlers
      .handle("status", () =>
        Effect.gen(function*() {
          const status = yield* adapter.status
          return {
            ...status,
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
          const groups = new Map<string, Array<ReturnType<typeof instanceBody>>>()
          for (const info of instances) {
            const group = groups.get(info.collector) ?? []
            group.push(instanceBody(info, status))
            groups.set(info.collector, group)
          }
          return [...groups].map(([collector, list]) => ({ collector, instances: list }))
        }))
      .handle("runInstance", ({ path }) =>
        adapter.trigger(path.id).pipe(
          Effect.catchTag("UnknownInstanceError", (error) =>
            Effect.fail(new InstanceNotFound({ message: error.message }))),
          Effect.flatMap((outcome) =>
            outcome._tag === "Cancelled"
              ? Effect.fail(new ServiceUnavailable({ message: `${outcome.instance} was not run: ${outcome.reason}` }))
              : Effect.succeed(outcome)
          )
        ))
      .handle("items", () =>
        // the raw parameters, not the decoded ones: unknown and repeated parameters are errors too
        Effect.flatMap(HttpServerRequest.ParsedSearchParams, (params) =>
          Effect.mapError(
            parseQuery(params),
            (error) =>
              new InvalidQueryParameter({ parameter: error.parameter, message: error.message })
          ).pipe(Effect.flatMap(items.page))))
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
