/**
 * LIVE (a real service process): with `OTEL_EXPORTER_OTLP_ENDPOINT` the
 * service posts its spans as OTLP/HTTP JSON to `<endpoint>/v1/traces` —
 * received here by a small HTTP server standing for an OpenTelemetry
 * collector: a `RayScheduler.run` span per task run and a `RayInfo.fetch`
 * span per fetch, with their attributes, for the service `rayinfo`.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  exitWithin,
  freePort,
  killQuietly,
  root,
  startService,
  temporaryFixture,
  waitFor,
  writeConfig
} from "./support.js"

interface OtlpSpan {
  readonly name: string
  readonly attributes: ReadonlyArray<{ key: string; value: Record<string, unknown> }>
}

describe("LIVE: traces over OTLP", () => {
  const fixture = temporaryFixture("rayinfo-otlp-", (dir) => {
    const feed = path.join(dir, "news.xml")
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), feed)
    return {
      configPath: writeConfig(dir, `  - type: feed\n    name: news\n    feeds: [{ url: ${JSON.stringify(feed)} }]\n`),
      feed
    }
  })

  const received: Array<{ path: string; service: string; spans: Array<OtlpSpan> }> = []
  const collector = http.createServer((request, response) => {
    let body = ""
    request.setEncoding("utf8")
    request.on("data", (chunk: string) => (body += chunk))
    request.on("end", () => {
      try {
        const json = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
            scopeSpans: Array<{ spans: Array<OtlpSpan> }>
          }>
        }
        for (const resourceSpans of json.resourceSpans) {
          received.push({
            path: request.url ?? "",
            service: resourceSpans.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "",
            spans: resourceSpans.scopeSpans.flatMap((scope) => scope.spans)
          })
        }
      } catch {
        received.push({ path: request.url ?? "", service: "unparsable", spans: [] })
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  afterAll(() => new Promise<void>((resolve) => collector.close(() => resolve())))

  it("posts the run and fetch spans to <endpoint>/v1/traces", async () => {
    const { configPath, feed } = fixture()
    const collectorPort = await freePort()
    await new Promise<void>((resolve) => collector.listen(collectorPort, "127.0.0.1", () => resolve()))
    const port = await freePort()
    const service = startService(configPath, port, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}/`
    })
    try {
      const spans = () => received.flatMap((batch) => batch.spans)
      await waitFor("the fetch span at the collector", 60_000, async () => {
        // the exporter posts every few seconds; stop the service once the run is done to flush the rest
        const { status } = await fetch(`http://127.0.0.1:${port}/status`).catch(() => ({ status: 0 }))
        return status === 200 && spans().some((span) => span.name === "RayInfo.fetch") ? true : undefined
      }, service)
      service.child.kill("SIGTERM")
      expect(await exitWithin(service, 30_000)).toBe(0)
      expect(received.every((batch) => batch.path === "/v1/traces" && batch.service === "rayinfo")).toBe(true)
      const attribute = (span: OtlpSpan, key: string) => {
        const value = span.attributes.find((a) => a.key === key)?.value
        return value === undefined ? undefined : Object.values(value)[0]
      }
      const fetchSpan = spans().find((span) => span.name === "RayInfo.fetch")!
      expect(attribute(fetchSpan, "rayinfo.instance")).toBe(`news:${feed}`)
      expect(Number(attribute(fetchSpan, "rayinfo.stored"))).toBe(3)
      const run = spans().find((span) =>
        span.name === "RayScheduler.run" && attribute(span, "ray_scheduler.source") === `news:${feed}`
      )
      expect(run, `spans: ${spans().map((span) => span.name).join(", ")}`).toBeDefined()
      expect(Number(attribute(run!, "ray_scheduler.attempt"))).toBe(1)
    } finally {
      if ((await exitWithin(service, 1_000)) === "hung") killQuietly(service.child.pid)
    }
  }, 120_000)
})
