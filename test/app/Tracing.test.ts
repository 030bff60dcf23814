/**
 * Spans, captured with OpenTelemetry's in-memory exporter (through
 * `@effect/opentelemetry`'s `NodeSdk`): the scheduler makes one
 * `RayScheduler.run` span per task run (source, task id, attempt,
 * lateness), the consumer's spans are its children, a failed run's span is
 * an error; the RayInfo service makes one `RayInfo.fetch` span per collector
 * fetch (collector, job, what it stored), under the run's span. Without a
 * tracer of its own the scheduler makes no spans. Under the `TestClock`.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Schedule, TestClock } from "effect"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import { tracingEnabled } from "../../src/scheduler/internal/consumer.js"
import { setup, taskAt } from "../support.js"
import { adapterLayer, type RunRecord, scriptedCollector } from "./support.js"

/** A tracer provider exporting to `exporter`, as a layer (a tracer of its own: the scheduler traces). */
const tracing = (exporter: InMemorySpanExporter) =>
  NodeSdk.layer(() => ({
    resource: { serviceName: "rayinfo-test" },
    spanProcessor: new SimpleSpanProcessor(exporter)
  }))

const attributesOf = (exporter: InMemorySpanExporter, name: string) =>
  exporter.getFinishedSpans().filter((span) => span.name === name).map((span) => span.attributes)

describe("Tracing", () => {
  it.scoped("a span per task run: source, task id, attempt, lateness; the consumer's spans under it; failures", () => {
    const exporter = new InMemorySpanExporter()
    return Effect.gen(function*() {
      assert.isTrue(yield* tracingEnabled, "NodeSdk installs a tracer of its own")
      const { scheduler } = yield* setup([{
        name: "traced",
        retry: Schedule.recurs(1),
        consume: (task) =>
          (task.args as { fail?: boolean }).fail === true
            ? Effect.fail("broken")
            : Effect.withSpan(Effect.sleep("1 second"), "consumer.work")
      }])
      const ok = yield* taskAt("traced", 2000)
      const bad = yield* taskAt("traced", 2000, { fail: true })
      yield* scheduler.submitAll([ok, bad])
      yield* TestClock.adjust("2500 millis") // due at 2 s: both start on time (concurrency 1: one after the other)
      yield* TestClock.adjust("10 seconds")
      const runs = exporter.getFinishedSpans().filter((span) => span.name === "RayScheduler.run")
      const okRun = runs.filter((span) => span.attributes["ray_scheduler.task_id"] === ok.id)
      const badRuns = runs.filter((span) => span.attributes["ray_scheduler.task_id"] === bad.id)
      assert.strictEqual(okRun.length, 1)
      assert.deepStrictEqual(badRuns.map((span) => span.attributes["ray_scheduler.attempt"]), [1, 2])
      assert.strictEqual(okRun[0]!.attributes["ray_scheduler.source"], "traced")
      assert.strictEqual(typeof okRun[0]!.attributes["ray_scheduler.lateness_ms"], "number")
      assert.deepStrictEqual(badRuns.map((span) => span.status.code), [2, 2], "a failed run's span is an error")
      assert.strictEqual(okRun[0]!.status.code !== 2, true)
      const work = exporter.getFinishedSpans().find((span) => span.name === "consumer.work")
      assert.isDefined(work)
      assert.strictEqual(work!.parentSpanContext?.spanId, okRun[0]!.spanContext().spanId, "the consumer's span")
    }).pipe(Effect.provide(tracing(exporter)))
  })

  it.scoped("without a tracer of its own, no run spans are made", () =>
    Effect.gen(function*() {
      assert.isFalse(yield* tracingEnabled)
    }))

  it.scoped("RayInfo: a RayInfo.fetch span per collector fetch, with what it stored, under the run's span", () => {
    const exporter = new InMemorySpanExporter()
    const runs: Array<RunRecord> = []
    const collector = scriptedCollector({
      name: "news",
      intervalMinutes: 60,
      params: ["a"],
      runs,
      script: () => ({ ms: 100, events: 3, outcome: "ok" })
    })
    return Effect.gen(function*() {
      const adapter = yield* SchedulerAdapter
      yield* adapter.start
      yield* TestClock.adjust("1 second")
      const fetches = attributesOf(exporter, "RayInfo.fetch")
      assert.deepStrictEqual(fetches, [{
        "rayinfo.collector": "news",
        "rayinfo.instance": "news:a",
        "rayinfo.received": 3,
        "rayinfo.stored": 3,
        "rayinfo.duplicates": 0
      }])
      const fetch = exporter.getFinishedSpans().find((span) => span.name === "RayInfo.fetch")!
      const run = exporter.getFinishedSpans().find((span) =>
        span.name === "RayScheduler.run" && span.attributes["ray_scheduler.source"] === "news:a"
      )
      assert.isDefined(run)
      // the fetch runs inside the run (the runner's fiber may add spans between them): same trace
      assert.strictEqual(fetch.spanContext().traceId, run!.spanContext().traceId)
    }).pipe(
      Effect.provide(Layer.fresh(adapterLayer(RaySchedulerAdapter.layerNotStarted(), [collector]))),
      Effect.provide(tracing(exporter))
    )
  })
})
