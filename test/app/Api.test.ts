/**
 * The HTTP API in process: the real handlers and router on a test server
 * (ephemeral port), over the RayScheduler adapter (not started) with
 * scripted collectors and in-memory storage. Responses are decoded with the API's own schemas.
 */
import { HttpApiBuilder, HttpClient, HttpClientResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Schema } from "effect"
import { Effect, Layer, Option } from "effect"
import { CollectorsJson, RunResultJson, StatusJson } from "../../src/app/http/Api.js"
import { RayInfoApi } from "../../src/app/http/Api.js"
import { StatusGroupLive } from "../../src/app/http/ApiLive.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import { Items } from "../../src/app/storage/Items.js"
import { adapterLayer, type RunRecord, scriptedCollector } from "./support.js"

const runs: Array<RunRecord> = []
const ItemsStub = Layer.succeed(Items, {
  count: Effect.succeed(42),
  countBySource: Effect.succeed([]),
  recent: () => Effect.succeed([]),
  page: () => Effect.succeed({ items: [], nextCursor: Option.none() })
})

const TestServer = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(StatusGroupLive))),
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
