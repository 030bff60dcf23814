/**
 * The scheduler's endpoints in the RayInfo API (`/scheduler/...`, the
 * library's `SchedulerApi` groups), through the real server layer
 * (`ApiLive.serveLayer`: access rules, `/openapi.json`, `/docs`) on a test
 * server: reads open, mutations behind `Security.MutationGuard`, dead
 * letters' error texts summarised without the token, 503 without a core
 * scheduler. The core scheduler is an in-memory one provided next to the
 * adapter (under `TestClock`).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Layer, Option, Redacted } from "effect"
import * as ApiLive from "../../src/app/http/ApiLive.js"
import * as LegacySchedulerAdapter from "../../src/app/scheduling/LegacySchedulerAdapter.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { Task } from "../../src/scheduler/Task.js"
import * as TaskConsumer from "../../src/scheduler/TaskConsumer.js"
import { settle } from "../support.js"
import { type AdapterLayer, adapterLayer, itemsStub, scriptedCollector } from "./support.js"

const TOKEN = "s3cret-token-0123456789abcdef"

const ItemsStub = itemsStub()

/** What the `leaky` consumer's tasks fail with: a command path and its stderr (a secret). */
const LEAKY_ERROR = `command "/opt/private/bin/search" exited with code 2; stderr: API_KEY=abc123 rejected`

interface Options {
  readonly token?: string
  /** Default: the RayScheduler adapter, not started. */
  readonly adapter?: AdapterLayer
  /** Provide a core scheduler to the API (default true). */
  readonly scheduler?: boolean
}

/**
 * The service's API on a test server, over an adapter with one scripted
 * collector and (unless `options.scheduler` is false) a started in-memory
 * core `Scheduler` with a consumer `leaky` whose tasks fail with
 * {@link LEAKY_ERROR}. Returns the scheduler and the client's context.
 */
const server = (options: Options = {}) =>
  Effect.gen(function*() {
    const registry = yield* ConsumerRegistry.make
    yield* Effect.orDie(Effect.flatMap(
      TaskConsumer.make({ name: "leaky", consume: () => Effect.fail(new Error(LEAKY_ERROR)) }),
      registry.register
    ))
    const scheduler = yield* Scheduler.make().pipe(Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry))
    const context = yield* Layer.build(
      ApiLive.serveLayer({
        host: "127.0.0.1",
        token: Option.map(Option.fromNullable(options.token), Redacted.make)
      }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest),
        Layer.provideMerge(
          adapterLayer(options.adapter ?? RaySchedulerAdapter.layerNotStarted({ maxSleep: "1 hour" }), [
            scriptedCollector({ name: "search", intervalMinutes: 60, params: ["q"], runs: [] })
          ])
        ),
        Layer.provideMerge(ItemsStub),
        Layer.provideMerge(
          options.scheduler === false ? Layer.empty : Layer.succeed(Scheduler.Scheduler, scheduler)
        )
      )
    ).pipe(Effect.orDie)
    return { scheduler, context }
  })

const call = (method: "GET" | "POST", path: string, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const request = (method === "GET" ? HttpClientRequest.get(path) : HttpClientRequest.post(path)).pipe(
      HttpClientRequest.setHeaders(headers)
    )
    const response = yield* HttpClient.execute(request)
    return { status: response.status, headers: response.headers, text: yield* response.text }
  }).pipe(Effect.orDie)

const get = (path: string, headers?: Record<string, string>) => call("GET", path, headers)
const post = (path: string, headers?: Record<string, string>) => call("POST", path, headers)
const bearer = { authorization: `Bearer ${TOKEN}` }

/** Every scheduler mutation, on the task `t`, the source `s` and the dead letter `t`. */
const MUTATIONS = [
  "/scheduler/tasks/t/cancel",
  "/scheduler/tasks/t/reschedule",
  "/scheduler/sources/s/pause",
  "/scheduler/sources/s/resume",
  "/scheduler/dead-letters/t/replay",
  "/scheduler/dead-letters/purge"
]

describe("RayInfo API: the scheduler's endpoints", () => {
  it.scoped("are mounted: reads open without the token, every mutation needs it (401, empty body)", () =>
    Effect.gen(function*() {
      const { context, scheduler } = yield* server({ token: TOKEN })
      yield* scheduler.submit(yield* Task.create({ id: "t", source: "s", scheduleAt: DateTime.unsafeMake(3_600_000) }))
      yield* Effect.gen(function*() {
        const tasks = yield* get("/scheduler/tasks")
        assert.strictEqual(tasks.status, 200)
        assert.deepStrictEqual(JSON.parse(tasks.text).tasks.map((i: { task: { id: string } }) => i.task.id), ["t"])
        for (
          const path of [
            "/scheduler/tasks/t",
            "/scheduler/sources",
            "/scheduler/dead-letters",
            "/scheduler/schedules",
            "/scheduler/stats"
          ]
        ) {
          assert.strictEqual((yield* get(path)).status, 200, path)
        }

        for (const path of MUTATIONS) {
          const refused = yield* post(path)
          assert.deepStrictEqual([refused.status, refused.text], [401, ""], path)
          assert.strictEqual(refused.headers["www-authenticate"], "Bearer")
        }
        for (const path of MUTATIONS) {
          const wrong = yield* post(path, { authorization: `Bearer ${TOKEN.slice(0, -1)}x` })
          assert.deepStrictEqual([wrong.status, wrong.text], [401, ""], `${path} with a wrong token`)
        }
        assert.strictEqual((yield* get("/scheduler/tasks/t")).status, 200, "t is still pending")
        assert.deepStrictEqual(JSON.parse((yield* get("/scheduler/sources")).text).sources[0].paused, false)

        // with the token; a cross-site Origin is still refused
        const crossSite = yield* post("/scheduler/sources/s/pause", { ...bearer, origin: "http://evil.example" })
        assert.strictEqual(crossSite.status, 403)
        assert.strictEqual((yield* post("/scheduler/sources/s/pause", bearer)).status, 204)
        assert.deepStrictEqual(JSON.parse((yield* get("/scheduler/sources")).text).sources, [
          {
            source: "s",
            paused: true,
            stats: {
              submitted: 1,
              started: 0,
              succeeded: 0,
              failed: 0,
              dropped: 0,
              in_flight: 0,
              pending: 1,
              duplicates: 0,
              cancelled: 0,
              retried: 0,
              lateness: { count: 0, total_ms: 0, mean_ms: 0, max_ms: 0 }
            }
          }
        ])
        assert.strictEqual((yield* post("/scheduler/tasks/t/cancel", bearer)).status, 204)
        assert.strictEqual((yield* get("/scheduler/tasks/t")).status, 404)
        const unknown = yield* post("/scheduler/tasks/t/cancel", bearer)
        assert.deepStrictEqual([unknown.status, JSON.parse(unknown.text)._tag], [404, "TaskNotFound"])
        // the right token reaches every mutation's handler (its own answer: done, not found, bad body)
        for (const path of MUTATIONS) {
          const reached = yield* post(path, bearer)
          assert.include([200, 204, 400, 404, 409], reached.status, `${path} with the token: ${reached.text}`)
        }
      }).pipe(Effect.provide(context))
    }))

  it.scoped("dead letters' error texts are summarised without the token, in full with it", () =>
    Effect.gen(function*() {
      const { context, scheduler } = yield* server({ token: TOKEN })
      yield* scheduler.submit(yield* Task.create({ id: "d", source: "leaky" }))
      yield* settle
      yield* Effect.gen(function*() {
        const errorOf = (text: string) => JSON.parse(text).dead_letters.map((l: { error: string }) => l.error)
        const open = errorOf((yield* get("/scheduler/dead-letters")).text)
        assert.deepStrictEqual(open, ["Error: command \"<path>\" exited with code 2"])
        assert.deepStrictEqual(errorOf((yield* get("/scheduler/dead-letters", bearer)).text), [`Error: ${LEAKY_ERROR}`])
      }).pipe(Effect.provide(context))
    }))

  it.scoped("GET /openapi.json lists the service's and the scheduler's paths; GET /docs answers HTML", () =>
    Effect.gen(function*() {
      const { context } = yield* server()
      yield* Effect.gen(function*() {
        const openapi = yield* get("/openapi.json")
        assert.strictEqual(openapi.status, 200)
        assert.match(openapi.headers["content-type"] ?? "", /application\/json/)
        const spec = JSON.parse(openapi.text)
        assert.strictEqual(spec.info.title, "RayInfo")
        assert.includeMembers(Object.keys(spec.paths), [
          "/status",
          "/collectors",
          "/instances/{id}/run",
          "/items",
          "/metrics",
          "/scheduler/tasks",
          "/scheduler/tasks/{id}",
          "/scheduler/tasks/{id}/cancel",
          "/scheduler/tasks/{id}/reschedule",
          "/scheduler/sources",
          "/scheduler/sources/{source}/pause",
          "/scheduler/sources/{source}/resume",
          "/scheduler/dead-letters",
          "/scheduler/dead-letters/{id}/replay",
          "/scheduler/dead-letters/purge",
          "/scheduler/schedules",
          "/scheduler/stats"
        ])
        // the mutations declare the bearer token; the scheduler's reads show 503 among their responses
        assert.deepStrictEqual(spec.paths["/scheduler/tasks/{id}/cancel"].post.security, [{ bearer: [] }])
        assert.include(Object.keys(spec.paths["/scheduler/stats"].get.responses), "503")

        const docs = yield* get("/docs")
        assert.strictEqual(docs.status, 200)
        assert.match(docs.headers["content-type"] ?? "", /text\/html/)
        assert.include(docs.text, "SwaggerUIBundle")
        assert.include(docs.text, "/scheduler/dead-letters")
      }).pipe(Effect.provide(context))
    }))

  it.scoped("with the legacy scheduler (USE_RAY_SCHEDULER=false) they answer 503 saying why", () =>
    Effect.gen(function*() {
      const { context } = yield* server({ adapter: LegacySchedulerAdapter.layerNotStarted, scheduler: false })
      yield* Effect.gen(function*() {
        for (const reply of [yield* get("/scheduler/stats"), yield* post("/scheduler/sources/s/pause")]) {
          assert.strictEqual(reply.status, 503)
          assert.deepStrictEqual(JSON.parse(reply.text), {
            _tag: "SchedulerUnavailable",
            message:
              "The scheduler API needs the RayScheduler: this service runs the legacy scheduler (USE_RAY_SCHEDULER=false)"
          })
        }
        assert.strictEqual((yield* get("/status")).status, 200, "the rest of the API answers")
      }).pipe(Effect.provide(context))
    }))

  it.scoped("with the RayScheduler, they serve the adapter's own core scheduler: the jobs are its sources", () =>
    Effect.gen(function*() {
      const { context } = yield* server({ scheduler: false, token: TOKEN })
      yield* Effect.gen(function*() {
        // the scripted job's schedule, declared by the adapter's start, is on the adapter's scheduler
        const adapter = yield* SchedulerAdapter
        yield* adapter.start
        yield* settle
        const schedules = yield* get("/scheduler/schedules")
        assert.strictEqual(schedules.status, 200, schedules.text)
        assert.include(schedules.text, "search:q")
        const paused = yield* post("/scheduler/sources/search%3Aq/pause", bearer)
        assert.strictEqual(paused.status, 204, paused.text)
        const pausedNow = yield* Effect.flatMap(
          Effect.fromNullable(Option.getOrUndefined(adapter.scheduler)),
          (scheduler) => scheduler.paused
        ).pipe(Effect.orDie)
        assert.isTrue(pausedNow.has("search:q"), "the pause reached the adapter's scheduler")
      }).pipe(Effect.provide(context))
    }))
})
