/**
 * LIVE (a real service process): `LOG_FORMAT=json` and `logfmt` make every
 * log line machine-readable, and expected errors — a missing feed file, a
 * refused connection — are one line each with the system's reason
 * (`ENOENT`, `ECONNREFUSED`), no stack trace. An unknown format is refused.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import {
  exitWithin,
  freePort,
  killQuietly,
  runRayinfo,
  startService,
  temporaryFixture,
  waitForOutput,
  writeConfig
} from "./support.js"

/** A closed port on 127.0.0.1: connecting to it is refused. */
const closedPort = 1

describe("LIVE: log formats", () => {
  /** A configuration of its own (its own database: every job runs at start) per format. */
  const fixture = temporaryFixture("rayinfo-logs-", (dir) => (format: string) => {
    const own = path.join(dir, format)
    fs.mkdirSync(own, { recursive: true })
    const missing = JSON.stringify(path.join(dir, "missing.xml"))
    return writeConfig(
      own,
      `  - type: feed
    name: news
    interval: 1 hour
    feeds: [{ url: ${missing} }, { url: "http://127.0.0.1:${closedPort}/feed.xml" }]
`
    )
  })

  const runFor = async (format: string) => {
    const port = await freePort()
    const service = startService(fixture()(format), port, { LOG_FORMAT: format, LOG_LEVEL: "info" })
    try {
      await waitForOutput(service, /ENOENT[\s\S]*ECONNREFUSED|ECONNREFUSED[\s\S]*ENOENT/, 30_000)
    } finally {
      service.child.kill("SIGTERM")
      if ((await exitWithin(service, 30_000)) === "hung") killQuietly(service.child.pid)
    }
    return service.output().split("\n").filter((line) => line.trim() !== "")
  }

  it("json: one JSON object per line; the expected errors are one line each, with their reason", async () => {
    const lines = await runFor("json")
    const entries = lines.map((line) => {
      try {
        return JSON.parse(line) as { message: string; logLevel: string }
      } catch {
        throw new Error(`not a JSON line: ${line}`)
      }
    })
    expect(entries.every((entry) => typeof entry.message === "string" && typeof entry.logLevel === "string")).toBe(
      true
    )
    const missing = entries.filter((entry) => entry.message.includes("ENOENT"))
    const refused = entries.filter((entry) => entry.message.includes("ECONNREFUSED"))
    expect(missing.map((entry) => entry.logLevel)).toEqual(["ERROR"])
    expect(refused.map((entry) => entry.logLevel)).toEqual(["WARN"])
    for (const entry of [...missing, ...refused]) {
      expect(entry.message).not.toContain("\n")
      expect(entry.message).not.toContain("node_modules")
    }
    expect(lines.join("\n")).not.toMatch(/^\s+at /m)
  }, 90_000)

  it("logfmt: key=value lines", async () => {
    const lines = await runFor("logfmt")
    for (const line of lines) expect(line).toMatch(/^timestamp=\S+ level=[A-Z]+ fiber=#\d+ message=/)
    expect(lines.filter((line) => line.includes("ECONNREFUSED"))).toHaveLength(1)
  }, 90_000)

  it("an unknown LOG_FORMAT stops the command, naming the variable", async () => {
    const bad = await runRayinfo(["check-config", "--config", fixture()("xml")], { LOG_FORMAT: "xml" })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(`Invalid data at LOG_FORMAT: "Expected pretty, json or logfmt, got "xml""`)
  }, 60_000)
})
