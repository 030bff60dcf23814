/**
 * LIVE end-to-end test (real time, real processes): starts the real
 * entrypoint (`src/main.ts run`) as a child process on a temporary
 * configuration (local feed + a local command), waits for items in SQLite
 * and on `/status`, sends SIGTERM during a running collection, checks a
 * clean exit, then restarts and checks that it resumes instead of re-running
 * every job. Bounded waits; a few seconds in total.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { exitWithin, freePort, getJson, root, startService, temporaryFixture, waitFor, writeConfig } from "./support.js"

interface InstanceJson {
  readonly id: string
  readonly run_count: number
  readonly next_run_at: string
  readonly last_run_at: string
}

describe("LIVE: the service end to end", () => {
  const fixture = temporaryFixture("rayinfo-e2e-", (dir) => {
    const marker = path.join(dir, "slow-started")
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), path.join(dir, "news.xml"))
    // A search tool that takes a while, and says when it started.
    fs.writeFileSync(
      path.join(dir, "slow-search.mjs"),
      `import fs from "node:fs"
fs.writeFileSync(${JSON.stringify(marker)}, "x")
setTimeout(() => {
  process.stdout.write(JSON.stringify({ results: [{ url: "https://example.org/" + encodeURIComponent(process.argv[2]), title: process.argv[2] }] }))
}, 1500)
`
    )
    const configPath = writeConfig(
      dir,
      `  - type: feed
    name: news
    interval: 1 hour
    feeds:
      - url: ${JSON.stringify(path.join(dir, "news.xml"))}
  - type: command
    name: search
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(path.join(dir, "slow-search.mjs"))}, "{param}"]
    interval: 1 hour
    jobs:
      - param: "a; rm -rf / #"
`
    )
    return { dir, configPath, marker }
  })

  it("runs, stores items, reports /status, exits cleanly on SIGTERM, and resumes after a restart", async () => {
    const { configPath, dir, marker } = fixture()
    const port = await freePort()
    const first = startService(configPath, port)
    try {
      // the feed job stores its 3 items
      const status = await waitFor("items on /status", 20_000, async () => {
        const { body } = await getJson(port, "/status")
        return (body.items_total as number) >= 3 ? body : undefined
      })
      expect(status.scheduler_type).toBe("RayScheduler")
      expect(status.scheduler_running).toBe(true)
      expect(status.registered_jobs).toBe(2)
      expect(typeof status.timestamp).toBe("string")

      // the slow command is running now: SIGTERM must let it finish
      await waitFor("the slow command to start", 10_000, async () => fs.existsSync(marker) ? true : undefined)
      first.child.kill("SIGTERM")
      expect(await exitWithin(first, 15_000), first.output()).toBe(0)
      expect(first.output()).toContain("search:a; rm -rf / #: 1 new")
      expect(fs.existsSync(path.join(dir, "data", "rayinfo.db"))).toBe(true)
    } finally {
      first.child.kill("SIGKILL")
    }

    // restart: both jobs ran moments ago with a 1 hour interval, so nothing re-runs
    fs.rmSync(marker)
    const second = startService(configPath, port)
    try {
      const collectors = await waitFor("/collectors after restart", 20_000, async () => {
        const { body, status } = await getJson(port, "/collectors")
        return status === 200
          ? body as unknown as ReadonlyArray<{ collector: string; instances: Array<InstanceJson> }>
          : undefined
      })
      const instances = collectors.flatMap((c) => c.instances)
      expect(instances.map((i) => i.id).sort()).toEqual(["news:" + path.join(dir, "news.xml"), "search:a; rm -rf / #"])
      for (const instance of instances) {
        expect(instance.run_count).toBe(1)
        const next = Date.parse(instance.next_run_at)
        const last = Date.parse(instance.last_run_at)
        // the stored schedule goes on: its next occurrence is one interval after the first one, which the
        // run started a moment after (the grid is made of occurrence instants, `last_run_at` is a run's start)
        expect(next - last).toBeLessThanOrEqual(3_600_000)
        expect(next - last).toBeGreaterThan(3_590_000)
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
      const { body } = await getJson(port, "/status")
      expect((body.runs as Record<string, number>).started).toBe(0)
      expect(body.items_total).toBe(4)
      expect(fs.existsSync(marker)).toBe(false)

      // a manual trigger runs the job now and reports it; an unknown id is a 404
      const run = await fetch(
        `http://127.0.0.1:${port}/instances/${encodeURIComponent("news:" + path.join(dir, "news.xml"))}/run`,
        {
          method: "POST"
        }
      )
      expect(run.status).toBe(200)
      expect(await run.json()).toMatchObject({ outcome: "succeeded", received: 3, stored: 0 })
      const missing = await fetch(`http://127.0.0.1:${port}/instances/nope/run`, { method: "POST" })
      expect(missing.status).toBe(404)

      second.child.kill("SIGINT")
      expect(await second.exited, second.output()).toBe(0)
    } finally {
      second.child.kill("SIGKILL")
    }
  }, 90_000)
})
