/**
 * Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, Effect's spans — one per
 * task run of the scheduler (`RayScheduler.run`) and one per collector fetch
 * (`RayInfo.fetch`), with the HTTP server's and the SQL client's — go to
 * that OpenTelemetry collector over OTLP/HTTP (JSON, `<endpoint>/v1/traces`,
 * service name `rayinfo`), through `@effect/opentelemetry`'s exporter.
 * Unset: no tracer is installed, and the scheduler makes no spans at all.
 * docs/operations.md, "Tracing".
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/** The URL traces are posted to, from the endpoint (a trailing `/` ignored). */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`

/** The OTLP tracer when `endpoint` is set; nothing otherwise. Provide it below the service's layers. */
export const layer = (endpoint: Option.Option<string>): Layer.Layer<never> =>
  Option.match(endpoint, {
    onNone: () => Layer.empty,
    onSome: (url) =>
      OtlpTracer.layer({ url: tracesUrl(url), resource: { serviceName: "rayinfo" } }).pipe(
        Layer.provide(NodeHttpClient.layer),
        Layer.provide(OtlpSerialization.layerJson)
      )
  })
