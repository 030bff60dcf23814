/**
 * `/metrics`: every Effect `Metric` of the process (the scheduler's
 * `SchedulerMetrics`, the service's `AppMetrics`, Effect's own fiber
 * metrics) in Prometheus' text format, through `@effect/opentelemetry`'s
 * metric producer and OpenTelemetry's Prometheus exporter, which serializes
 * on demand (it starts no server of its own). docs/operations.md, "Metrics".
 */
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** The Prometheus text of the process's metrics, read at each scrape. */
export class PrometheusMetrics extends Context.Tag("rayinfo/PrometheusMetrics")<PrometheusMetrics, {
  readonly scrape: Effect.Effect<string>
}>() {}

/** The content type of the text format (version 0.0.4). */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** The exporter registered as the reader of Effect's metrics (service name `rayinfo`), for as long as the layer. */
export const layer: Layer.Layer<PrometheusMetrics> = Layer.scoped(
  PrometheusMetrics,
  Effect.gen(function*() {
    const exporter = new PrometheusExporter({ preventServerStart: true })
    yield* Layer.buildWithScope(
      Metrics.layer(() => exporter).pipe(Layer.provide(Resource.layer({ serviceName: "rayinfo" }))),
      yield* Effect.scope
    )
    const serializer = new PrometheusSerializer()
    return {
      scrape: Effect.promise(() => exporter.collect()).pipe(
        Effect.tap(({ errors }) =>
          errors.length === 0 ? Effect.void : Effect.logWarning("/metrics: some metrics could not be collected", errors)
        ),
        Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
      )
    }
  })
)
