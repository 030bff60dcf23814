/**
 * LIVE (a real service process): `GET /metrics` after known work — two feed
 * jobs that each ran once at start, then one manual run — has the expected
 * values of the service's and the scheduler's metrics, and passes
 * `promtool check metrics` (Debian's `prometheus` package; `.ci/run`
 * installs it). Without promtool the check is skipped with a reason, and
 * fails under `CI=true`.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import {
  copyExampleFeeds,
  exitWithin,
  feedCollector,
  freePort,
  getJson,
  killQuietly,
  startService,
  temporaryFixture,
  waitFor,
  writeConfig
} from "./support.js"

const promtool = spawnSync("promtool", ["--version"]).status === 0
if (!promtool) {
  const reason = "promtool is not on PATH (install Debian's prometheus package)"
  if (process.env.CI === "true") throw new Error(`${reason}, and CI=true: CI must check the metrics format`)
  console.warn(`SKIPPED (the promtool check only): ${reason}`)
}

/** The value of the sample `name` whose labels include `labels`; undefined if there is none. */
const sample = (text: string, name: string, labels: Record<string, string>): number | undefined => {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const open = line.indexOf("{")
    const close = line.lastIndexOf("}")
    const set = open === -1 ? "" : line.slice(open + 1, close)
    if (Object.entries(labels).every(([key, value]) => set.includes(`${key}=${JSON.stringify(value)}`))) {
      return Number(line.slice(close === -1 ? name.length : close + 1).trim())
    }
  }
  return undefined
}

describe("LIVE: /metrics", () => {
  const fixture = temporaryFixture("rayinfo-metrics-", (dir) => {
    const feeds = copyExampleFeeds(dir)
    const configPath = writeConfig(dir, feedCollector(feeds, "1 hour"))
    return { configPath, feeds }
  })

  it("counts runs, items and scheduler outcomes, in a format promtool accepts", async () => {
    const { configPath, feeds } = fixture()
    const port = await freePort()
    const service = startService(configPath, port)
    try {
      await waitFor("both feeds run once", 30_000, async () => {
        const { body } = await getJson(port, "/status")
        return (body.runs as { succeeded: number }).succeeded >= 2 ? true : undefined
      }, service)
      const manual = await fetch(`http://127.0.0.1:${port}/instances/${encodeURIComponent(`news:${feeds[0]}`)}/run`, {
        method: "POST"
      })
      expect(manual.status).toBe(200)
      const { body: status } = await getJson(port, "/status")

      const response = await fetch(`http://127.0.0.1:${port}/metrics`)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/)
      const text = await response.text()

      // the service: 3 runs of the news collector (2 scheduled, 1 manual), the items /status counts
      expect(sample(text, "rayinfo_collector_runs_total", { collector: "news", outcome: "succeeded" })).toBe(3)
      expect(sample(text, "rayinfo_collector_runs_total", { collector: "news", outcome: "failed" })).toBeUndefined()
      expect(sample(text, "rayinfo_items_stored_total", { collector: "news" })).toBe(status.items_total)
      expect(sample(text, "rayinfo_fetch_errors_total", { collector: "news" })).toBeUndefined()
      // the scheduler: each feed's scheduled run succeeded, nothing is pending before its next hour
      for (const feed of feeds) {
        const source = `news:${feed}`
        expect(sample(text, "ray_scheduler_task_runs_total", { source, outcome: "succeeded" }), source).toBe(1)
        expect(sample(text, "ray_scheduler_task_lateness_seconds_count", { source }), source).toBe(1)
        expect(sample(text, "ray_scheduler_task_run_duration_seconds_count", { source }), source).toBe(1)
        expect(sample(text, "ray_scheduler_tasks_running", { source }), source).toBe(0)
      }
      // the manual run is a task of its own source
      expect(
        sample(text, "ray_scheduler_task_runs_total", { source: `:manual:news:${feeds[0]}`, outcome: "succeeded" })
      )
        .toBe(1)

      if (promtool) {
        const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
        expect(check.status, `promtool check metrics:\n${check.stdout}${check.stderr}`).toBe(0)
      }
    } finally {
      service.child.kill("SIGTERM")
      if ((await exitWithin(service, 30_000)) === "hung") killQuietly(service.child.pid)
    }
  }, 120_000)
})
