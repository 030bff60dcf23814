/**
 * LIVE: the `rayinfo` CLI as a user runs it (child processes of the real
 * entrypoint): check-config, trigger, collectors, run's start-up checks;
 * exit codes and messages.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import {
  configYaml,
  exitWithin,
  feedCollector,
  freePort,
  rayinfo as startRayinfo,
  root,
  runRayinfo,
  temporaryFixture,
  waitFor
} from "./support.js"

const rayinfo = (...args: Array<string>) => runRayinfo(args)

describe("LIVE: the rayinfo CLI", () => {
  const fixture = temporaryFixture("rayinfo-cli-", (dir) => {
    const feedPath = path.join(dir, "news.xml")
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), feedPath)
    const good = path.join(dir, "good.yaml")
    fs.writeFileSync(good, configYaml(path.join(dir, "db", "rayinfo.db"), feedCollector([feedPath])))
    const bad = path.join(dir, "bad.yaml")
    fs.writeFileSync(bad, "collectors:\n  - type: feed\n    feeds: [{ url: x.xml }]\n    interval: soon\n")
    return { dir, feedPath, good, bad }
  })

  it("check-config: OK on a good file; exit 1 naming the file, path and expectation on a bad one", async () => {
    const { bad, good } = fixture()
    const ok = await rayinfo("check-config", "--config", good)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain("OK — 1 collector(s), 1 job(s)")
    const ko = await rayinfo("check-config", "--config", bad)
    expect(ko.code).toBe(1)
    expect(ko.stderr).toContain(`Invalid configuration file ${bad}:`)
    expect(ko.stderr).toContain("collectors[0].interval: Expected a positive duration")
    expect(ko.stderr).not.toContain("at ") // no stack trace for a known problem
  }, 60_000)

  it(
    "check-config: colliding instance ids, an unresolved YAML alias and an absurd interval exit 1 with one clean line",
    async () => {
      const { dir, feedPath } = fixture()
      const write = (name: string, text: string) => {
        const file = path.join(dir, name)
        fs.writeFileSync(file, text)
        return file
      }
      const cases: Array<[string, string]> = [
        [
          write(
            "colliding.yaml",
            `collectors:\n  - { type: feed, name: "a:b", feeds: [{ url: c }] }\n  - { type: feed, name: a, feeds: [{ url: "b:c" }] }\n`
          ),
          `  collectors[0].name: Expected a collector name without ":" (instance ids are name:param), got "a:b"`
        ],
        [
          write("alias.yaml", "x: &x 1\ncollectors: *nope\n"),
          "  YAML error: alias *nope refers to no anchor (an anchor &nope must come before it)"
        ],
        [
          write(
            "forever.yaml",
            `collectors:\n  - type: feed\n    feeds: [{ url: ${
              JSON.stringify(feedPath)
            } }]\n    interval: 99999999999999999999 weeks\n`
          ),
          `  collectors[0].interval: Expected a duration from 1 second to 365 days, got "99999999999999999999 weeks"`
        ]
      ]
      for (const [file, line] of cases) {
        const result = await rayinfo("check-config", "--config", file)
        expect(result.code, result.stdout).toBe(1)
        expect(result.stderr.trim()).toBe(`Invalid configuration file ${file}:\n${line}`)
      }
    },
    90_000
  )

  it("check-config: missing feed files, commands and directories are all listed (offline checks)", async () => {
    const { dir, feedPath } = fixture()
    const file = path.join(dir, "offline.yaml")
    const missing = path.join(dir, "missing.xml")
    fs.writeFileSync(
      file,
      `collectors:
  - type: feed
    feeds: [{ url: ${JSON.stringify(feedPath)} }, { url: ${JSON.stringify(missing)} }]
  - type: command
    name: search
    command: no-such-search-tool-on-path
  - type: command
    name: local
    command: ./tool.sh
    cwd: ${JSON.stringify(path.join(dir, "nowhere"))}
  - type: command
    name: node
    command: node
`
    )
    const result = await rayinfo("check-config", "--config", file)
    expect(result.code, result.stdout).toBe(1)
    const lines = result.stderr.trim().split("\n")
    expect(lines[0]).toBe(`Invalid configuration file ${file}:`)
    expect(lines.slice(1)).toEqual([
      `  collectors[0].feeds[1].url: file not found: ${missing}`,
      expect.stringMatching(/^ {2}collectors\[1\]\.command: "no-such-search-tool-on-path" not found on PATH \(/),
      `  collectors[2].cwd: directory not found: ${path.join(dir, "nowhere")}`
    ])
  }, 60_000)

  it("an invalid environment variable stops the command with a message naming it", async () => {
    const { good } = fixture()
    const bad = await runRayinfo(["check-config", "--config", good], { USE_RAY_SCHEDULER: "maybe" })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("Invalid environment: (Invalid data at USE_RAY_SCHEDULER")
    // the docs say true or false: "yes" is not silently read as true
    const yes = await runRayinfo(["check-config", "--config", good], { USE_RAY_SCHEDULER: "yes" })
    expect(yes.code).toBe(1)
    expect(yes.stderr).toContain(
      `Invalid environment: (Invalid data at USE_RAY_SCHEDULER: "Expected true or false, got "yes"")`
    )
    const level = await runRayinfo(["check-config", "--config", good], { LOG_LEVEL: "loud" })
    expect(level.code).toBe(1)
    expect(level.stderr).toContain("Expected a log level")
    // cluster mode: a URL that is not PostgreSQL's, and the legacy scheduler, are refused before anything starts
    const mysql = await runRayinfo(["check-config", "--config", good], {
      RAYINFO_DATABASE_URL: "mysql://u:secret@h/db"
    })
    expect(mysql.code).toBe(1)
    expect(mysql.stderr).toContain("Invalid data at RAYINFO_DATABASE_URL")
    expect(mysql.stderr).toContain("Expected a PostgreSQL URL")
    expect(mysql.stderr, "the URL's password is not printed").not.toContain("secret")
    const legacy = await runRayinfo(["run", "--config", good], {
      RAYINFO_DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
      USE_RAY_SCHEDULER: "false"
    })
    expect(legacy.code).toBe(1)
    expect(legacy.stderr).toContain("RAYINFO_DATABASE_URL (cluster mode) needs the RayScheduler")
  }, 60_000)

  it(
    "a cron job: collectors prints its timing; with the legacy scheduler run and check-config refuse it, naming the key",
    async () => {
      const { dir, feedPath } = fixture()
      const file = path.join(dir, "cron.yaml")
      fs.writeFileSync(
        file,
        `storage: { path: ${JSON.stringify(path.join(dir, "cron", "rayinfo.db"))} }\n` +
          `collectors:\n  - type: feed\n    name: news\n    cron: "0 7 * * *"\n    timeZone: Europe/Berlin\n` +
          `    feeds: [{ url: ${JSON.stringify(feedPath)} }]\n`
      )
      const list = await rayinfo("collectors", "--config", file)
      expect(list.code, list.stderr).toBe(0)
      expect(list.stdout).toContain(`news:${feedPath}\n  cron "0 7 * * *" (Europe/Berlin), last run never`)
      for (const command of ["run", "check-config"]) {
        const legacy = await runRayinfo([command, "--config", file], { USE_RAY_SCHEDULER: "false" })
        expect(legacy.code, command).toBe(1)
        expect(legacy.stderr, command).toContain(
          `Invalid configuration ${file} for USE_RAY_SCHEDULER=false (the legacy scheduler runs jobs every interval only):\n` +
            "  collectors[0].cron: needs the RayScheduler (USE_RAY_SCHEDULER=true)"
        )
      }
      expect((await rayinfo("check-config", "--config", file)).code, "fine for the RayScheduler").toBe(0)
    },
    60_000
  )

  it("trigger runs one job and prints what it stored; collectors shows its state; unknown ids exit 1", async () => {
    const { feedPath, good } = fixture()
    const id = `news:${feedPath}`
    const first = await rayinfo("trigger", id, "--config", good)
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({ instance: id, outcome: "succeeded", received: 3, stored: 3 })
    const again = await rayinfo("trigger", id, "--config", good)
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "succeeded", received: 3, stored: 0 })

    const list = await rayinfo("collectors", "--config", good)
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toContain(id)
    expect(list.stdout).toMatch(/runs 2, errors 0/)

    const unknown = await rayinfo("trigger", "news:nope", "--config", good)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain(`No collector instance "news:nope". Known instances:\n  ${id}`)
  }, 90_000)

  it(
    "run refuses a non-loopback HOST without RAYINFO_API_TOKEN, before building anything; and an empty token",
    async () => {
      const { dir, feedPath } = fixture()
      const database = path.join(dir, "exposed", "rayinfo.db")
      const file = path.join(dir, "exposed.yaml")
      fs.writeFileSync(file, configYaml(database, feedCollector([feedPath])))
      const port = await freePort()
      for (const host of ["0.0.0.0", "::", "192.168.1.10"]) {
        const result = await runRayinfo(["run", "--config", file], { HOST: host, PORT: String(port) })
        expect(result.code, result.stdout).toBe(1)
        expect(result.stderr).toContain(
          `Refusing to start: HOST=${host} is not a loopback address and RAYINFO_API_TOKEN is not set`
        )
        expect(result.stderr).not.toContain("at ") // a known problem: no stack trace
      }
      expect(fs.existsSync(path.dirname(database)), "no database was opened").toBe(false)

      const empty = await runRayinfo(["run", "--config", file], {
        HOST: "0.0.0.0",
        PORT: String(port),
        RAYINFO_API_TOKEN: ""
      })
      expect(empty.code).toBe(1)
      expect(empty.stderr).toContain("Invalid environment")
      expect(empty.stderr).toContain("RAYINFO_API_TOKEN")
      expect(fs.existsSync(path.dirname(database))).toBe(false)
    },
    90_000
  )

  it("run on a non-loopback HOST with a token: mutations need the token, which is never printed", async () => {
    const { dir, feedPath } = fixture()
    const file = path.join(dir, "token.yaml")
    fs.writeFileSync(file, configYaml(path.join(dir, "token", "rayinfo.db"), feedCollector([feedPath], "1 hour")))
    const port = await freePort()
    const token = "e2e-token-5f0c1d2a9b8e7f6a"
    const service = startRayinfo(["run", "--config", file], {
      HOST: "0.0.0.0",
      PORT: String(port),
      RAYINFO_API_TOKEN: token,
      LOG_LEVEL: "debug"
    })
    try {
      const base = `http://127.0.0.1:${port}`
      await waitFor("/status", 30_000, async () => (await fetch(`${base}/status`)).ok || undefined, service)
      const run = `${base}/instances/${encodeURIComponent(`news:${feedPath}`)}/run`
      const refused = await fetch(run, { method: "POST" })
      expect(refused.status).toBe(401)
      expect(await refused.text()).toBe("")
      expect((await fetch(run, { method: "POST", headers: { authorization: "Bearer wrong" } })).status).toBe(401)
      const accepted = await fetch(run, { method: "POST", headers: { authorization: `Bearer ${token}` } })
      expect(accepted.status).toBe(200)
      expect(await accepted.json()).toMatchObject({ outcome: "succeeded" })
      service.child.kill("SIGINT")
      expect(await exitWithin(service, 30_000), service.output()).toBe(0)
      expect(service.output()).not.toContain(token)
    } finally {
      service.child.kill("SIGKILL")
    }
  }, 90_000)
})
