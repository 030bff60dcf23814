/**
 * The HTTP API in process: the real handlers and router on a test server
 * (ephemeral port), over the RayScheduler adapter (not started) with
 * scripted collectors and in-memory storage. Responses are decoded with the API's own schemas.
 */
import { HttpApiBuilder, HttpClient, HttpClientResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Schema } from "effect"
import { Duration, Effect, Layer } from "effect"
import { CollectorsJson, RunResultJson, StatusJson } from "../../src/app/http/Api.js"
import { RayInfoApi } from "../../src/app/http/Api.js"
import { GroupsLive } from "../../src/app/http/ApiLive.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import { adapterLayer, itemsStub, type RunRecord, scriptedCollector } from "./support.js"

const runs: Array<RunRecord> = []
const ItemsStub = itemsStub(42)

const TestServer = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(GroupsLive))),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provideMerge(
    adapterLayer(RaySchedulerAdapter.layerNotStarted({ maxSleep: "1 hour" }), [
      scriptedCollector({ name: "feed", intervalMinutes: 30, params: ["https://a.example/rss", "b.xml"], runs }),
      scriptedCollector({ name: "search", intervalMinutes: 60, params: ["q"], runs, script: () => ({ events: 2 }) })
    ])
  ),
  Layer.provideMerge(ItemsStub)
)

const getJson = <A, I>(schema: Schema.Schema<A, I>, path: string) =>
  Effect.flatMap(HttpClient.get(path), HttpClientResponse.schemaBodyJson(schema))

describe("HTTP API", () => {
  it.layer(TestServer, { timeout: "30 seconds" })((it) => {
    it.effect("GET /status reports the scheduler, its counters and the item count", () =>
      Effect.gen(function*() {
        const status = yield* getJson(StatusJson, "/status")
        assert.strictEqual(status.scheduler_type, "RayScheduler")
        assert.strictEqual(status.scheduler_running, false)
        assert.strictEqual(status.registered_jobs, 3)
        assert.strictEqual(status.items_total, 42)
        assert.match(status.message, /RayScheduler/)
        assert.isNotNull(status.scheduler)
        assert.strictEqual(Number.isNaN(Date.parse(status.timestamp)), false)
        assert.isNull(status.cluster, "one process on SQLite: no cluster section")
      }))

    it.effect("GET /collectors groups instances by collector", () =>
      Effect.gen(function*() {
        const groups = yield* getJson(CollectorsJson, "/collectors")
        assert.deepStrictEqual(groups.map((g) => [g.collector, g.instances.map((i) => i.id)]), [
          ["feed", ["feed:https://a.example/rss", "feed:b.xml"]],
          ["search", ["search:q"]]
        ])
        const first = groups[0]!.instances[0]!
        assert.strictEqual(first.param, "https://a.example/rss")
        assert.strictEqual(first.interval_seconds, 1800)
        assert.strictEqual(first.run_count, 0)
        assert.isNull(first.last_run_at)
      }))

    it.effect("POST /instances/:id/run runs the job (URL-encoded id) and returns its result", () =>
      Effect.gen(function*() {
        const response = yield* HttpClient.post(`/instances/${encodeURIComponent("search:q")}/run`)
        assert.strictEqual(response.status, 200)
        const result = yield* HttpClientResponse.schemaBodyJson(RunResultJson)(response)
        assert.strictEqual(result.instance, "search:q")
        assert.strictEqual(result.outcome, "succeeded")
        assert.strictEqual(result.stored, 2)
        const groups = yield* getJson(CollectorsJson, "/collectors")
        assert.strictEqual(groups[1]!.instances[0]!.run_count, 1)
        const withSlashes = yield* HttpClient.post(`/instances/${encodeURIComponent("feed:https://a.example/rss")}/run`)
        assert.strictEqual(withSlashes.status, 200)
      }))

    it.effect("POST /instances/:id/run with an unknown id is a 404 naming it", () =>
      Effect.gen(function*() {
        const response = yield* HttpClient.post("/instances/nope/run")
        assert.strictEqual(response.status, 404)
        const body = yield* response.json
        assert.deepStrictEqual(body, { _tag: "InstanceNotFound", message: "No collector instance \"nope\"" })
      }))

    it.effect("an unknown route is a 404", () =>
      Effect.gen(function*() {
        const response = yield* HttpClient.get("/nothing-here")
        assert.strictEqual(response.status, 404)
      }))
  })
})

/** A started RayScheduler (real clock): a job that asks to be retried at every run, and a cron job. */
const StartedServer = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(GroupsLive))),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provideMerge(
    adapterLayer(RaySchedulerAdapter.layer({ maxSleep: "1 hour" }), [
      scriptedCollector({
        name: "quota",
        intervalMinutes: 60,
        runs: [],
        script: () => ({ outcome: "retry", retryAfter: Duration.minutes(5) })
      }),
      scriptedCollector({
        name: "daily",
        intervalMinutes: 60,
        cron: "0 7 * * *",
        timeZone: "America/New_York",
        runs: []
      })
    ])
  ),
  Layer.provideMerge(ItemsStub)
)

/** `effect` again every 20 ms until `done` holds, for at most 20 seconds (real time). */
const waitFor = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean): Effect.Effect<A, E | Error, R> =>
  Effect.flatMap(
    effect,
    (a) => done(a) ? Effect.succeed(a) : Effect.zipRight(Effect.sleep("20 millis"), waitFor(effect, done))
  ).pipe(
    Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("waited 20 seconds in vain") })
  )

describe("HTTP API: schedules (issue 10)", () => {
  it.live(
    "GET /collectors shows each job's schedule, its next run and a waiting retry; /status the scheduler's counters",
    () =>
      Effect.gen(function*() {
        // the interval job runs at start (real time): wait for its outcome, with a generous bound
        const groups = yield* waitFor(
          getJson(CollectorsJson, "/collectors"),
          (groups) => groups[0]!.instances[0]!.last_outcome !== null
        )
        const quota = groups.find((g) => g.collector === "quota")!.instances[0]!
        assert.strictEqual(quota.interval_seconds, 3600)
        assert.deepStrictEqual(quota.schedule, {
          id: "quota",
          every_seconds: 3600,
          cron: null,
          time_zone: null,
          misfire: { policy: "coalesce", grace_seconds: null },
          runs: 1,
          skipped_overlap: 0,
          skipped_missed: 0
        })
        assert.strictEqual(quota.last_outcome?.outcome, "retry")
        const retryAt = Date.parse(quota.retry_at!)
        // 5 minutes after the failure was handed to the scheduler, a moment after the run ended (real time)
        const after = retryAt - (Date.parse(quota.last_outcome!.at) + 5 * 60_000)
        assert.isTrue(after >= 0 && after < 60_000, `${after} ms after run end + 5 minutes`)
        assert.strictEqual(quota.next_run_at, quota.retry_at, "the retry comes before the next hourly run")

        const daily = groups.find((g) => g.collector === "daily")!.instances[0]!
        assert.isNull(daily.interval_seconds, "a cron job has no interval")
        assert.deepStrictEqual(daily.schedule, {
          id: "daily",
          every_seconds: null,
          cron: "0 7 * * *",
          time_zone: "America/New_York",
          misfire: { policy: "coalesce", grace_seconds: null },
          runs: 0,
          skipped_overlap: 0,
          skipped_missed: 0
        })
        assert.isNull(daily.retry_at)
        const next = new Date(daily.next_run_at!)
        assert.include([11, 12], next.getUTCHours(), "07:00 in New York (EDT or EST)")
        assert.strictEqual(next.getUTCMinutes(), 0)
        assert.isTrue(next.getTime() > Date.now() && next.getTime() <= Date.now() + 86_400_000, daily.next_run_at!)

        const status = yield* getJson(StatusJson, "/status")
        assert.deepStrictEqual(
          [status.scheduler?.retried, status.scheduler?.dead_letters, status.scheduler?.clock_jumps],
          [1, 0, 0]
        )
        assert.strictEqual(status.pending_tasks, 1, "the waiting retry")
      }).pipe(Effect.provide(StartedServer)),
    30_000
  )
})
