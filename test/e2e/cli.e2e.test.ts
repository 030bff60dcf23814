/**
 * LIVE: the `rayinfo` CLI as a user runs it (child processes of the real
 * entrypoint): check-config, trigger, collectors; exit codes and messages.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")

const run = (env: Record<string, string>, args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, LOG_LEVEL: "warning", ...env }
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const rayinfo = (...args: Array<string>) => run({}, args)

describe("LIVE: the rayinfo CLI", () => {
  let dir: string
  let good: string
  let bad: string
  let feedPath: string

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-cli-"))
    feedPath = path.join(dir, "news.xml")
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), feedPath)
    good = path.join(dir, "good.yaml")
    fs.writeFileSync(
      good,
      `storage: { path: ${JSON.stringify(path.join(dir, "db", "rayinfo.db"))} }
collectors:
  - type: feed
    name: news
    feeds: [{ url: ${JSON.stringify(feedPath)} }]
`
    )
    bad = path.join(dir, "bad.yaml")
    fs.writeFileSync(bad, "collectors:\n  - type: feed\n    feeds: [{ url: x.xml }]\n    interval: soon\n")
  })

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("check-config: OK on a good file; exit 1 naming the file, path and expectation on a bad one", () => {
    const ok = rayinfo("check-config", "--config", good)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain("OK — 1 collector(s), 1 job(s)")
    const ko = rayinfo("check-config", "--config", bad)
    expect(ko.code).toBe(1)
    expect(ko.stderr).toContain(`Invalid configuration file ${bad}:`)
    expect(ko.stderr).toContain("collectors[0].interval: Expected a positive duration")
    expect(ko.stderr).not.toContain("at ") // no stack trace for a known problem
  }, 60_000)

  it("an invalid environment variable stops the command with a message naming it", () => {
    const bad = run({ USE_RAY_SCHEDULER: "maybe" }, ["check-config", "--config", good])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("Invalid environment: (Invalid data at USE_RAY_SCHEDULER")
    const level = run({ LOG_LEVEL: "loud" }, ["check-config", "--config", good])
    expect(level.code).toBe(1)
    expect(level.stderr).toContain("Expected a log level")
  }, 60_000)

  it("trigger runs one job and prints what it stored; collectors shows its state; unknown ids exit 1", () => {
    const id = `news:${feedPath}`
    const first = rayinfo("trigger", id, "--config", good)
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({ instance: id, outcome: "succeeded", received: 3, stored: 3 })
    const again = rayinfo("trigger", id, "--config", good)
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "succeeded", received: 3, stored: 0 })

    const list = rayinfo("collectors", "--config", good)
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toContain(id)
    expect(list.stdout).toMatch(/runs 2, errors 0/)

    const unknown = rayinfo("trigger", "news:nope", "--config", good)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain(`No collector instance "news:nope". Known instances:\n  ${id}`)
  }, 90_000)
})
