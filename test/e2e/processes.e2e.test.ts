/**
 * LIVE tests (real processes, real time, generous bounds): processes sharing
 * one database, and the service's shutdown.
 *
 * - a second service on the same database refuses to start, naming the
 *   first; once the first is gone (stopped, or killed with SIGKILL) a new
 *   one starts at once;
 * - `rayinfo trigger` of a job the service is running waits for that run to
 *   end: runs of one job never overlap, across processes;
 * - SIGTERM waits for a running collection up to `shutdown.timeout`, says
 *   so, then interrupts it (its whole process group is killed) and exits 0;
 *   a second SIGINT does that at once;
 * - a manual run dropped by the shutdown is kept in the durable store and
 *   runs after the restart.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  exitWithin,
  freePort,
  getJson,
  isAlive,
  killQuietly,
  rayinfo,
  type Running,
  startService,
  waitFor,
  waitForOutput
} from "./support.js"

let dir: string
const started: Array<Running> = []

/**
 * A search tool that logs `start <pid> <ms>` / `end <pid> <ms>` to its log
 * file, starts a grandchild in its process group (its pid logged as
 * `grandchild <pid>`), ignores SIGTERM, and ends after `ms` milliseconds or
 * as soon as the file `release` exists (`-`: no such file).
 */
const SLOW_TOOL = `import fs from "node:fs"
import { spawn } from "node:child_process"
const [log, ms, release, query] = process.argv.slice(2)
const line = (text) => fs.appendFileSync(log, text + "\\n")
line("start " + process.pid + " " + Date.now())
const grandchild = spawn(process.execPath, ["-e", "setTimeout(() => {}, 300000)"], { stdio: "ignore" })
line("grandchild " + grandchild.pid)
process.on("SIGTERM", () => line("ignoring SIGTERM"))
const deadline = Date.now() + Number(ms)
const poll = setInterval(() => {
  if (Date.now() < deadline && (release === "-" || !fs.existsSync(release))) return
  clearInterval(poll)
  line("end " + process.pid + " " + Date.now())
  grandchild.kill("SIGKILL")
  process.stdout.write(JSON.stringify([{ url: "https://example.org/" + encodeURIComponent(query) + "/" + Date.now() }]))
}, 20)
`

interface Logged {
  readonly starts: Array<{ pid: number; at: number }>
  readonly ends: Array<{ pid: number; at: number }>
  readonly grandchildren: Array<number>
}

const readLog = (file: string): Logged => {
  const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : []
  const pairs = (tag: string) =>
    lines.filter((l) => l.startsWith(`${tag} `)).map((l) => {
      const [, pid, at] = l.split(" ")
      return { pid: Number(pid), at: Number(at) }
    })
  return {
    starts: pairs("start"),
    ends: pairs("end"),
    grandchildren: lines.filter((l) => l.startsWith("grandchild ")).map((l) => Number(l.split(" ")[1]))
  }
}

/**
 * A configuration with one command job running the slow tool for `ms` ms (or
 * until the file `release` exists), and `extra` top-level YAML.
 */
const writeConfig = (name: string, ms: number, extra = "") => {
  const file = path.join(dir, `${name}.yaml`)
  const log = path.join(dir, `${name}.log`)
  const release = path.join(dir, `${name}.release`)
  fs.writeFileSync(
    file,
    `storage:
  path: ${JSON.stringify(path.join(dir, `${name}.db`))}
${extra}
collectors:
  - type: command
    name: slow
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(path.join(dir, "slow-tool.mjs"))}, ${JSON.stringify(log)}, "${ms}", ${
      JSON.stringify(release)
    }, "{param}"]
    interval: 1 hour
    jobs:
      - param: q
`
  )
  return { file, log, release }
}

const service = (configFile: string, port: number) => {
  const running = startService(configFile, port)
  started.push(running)
  return running
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-processes-"))
  fs.writeFileSync(path.join(dir, "slow-tool.mjs"), SLOW_TOOL)
})

afterAll(() => {
  for (const running of started) killQuietly(running.child.pid)
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".log"))) {
    for (const pid of readLog(path.join(dir, file)).grandchildren) killQuietly(pid)
  }
  fs.rmSync(dir, { recursive: true, force: true })
})

describe("LIVE: processes sharing a database", () => {
  it("a second service on the same database refuses to start; after the first is gone one starts at once", async () => {
    const { file } = writeConfig("two", 100)
    const [portA, portB] = [await freePort(), await freePort()]
    const first = service(file, portA)
    await waitFor("the first service's /status", 30_000, async () => (await getJson(portA, "/status")).body)

    const second = service(file, portB)
    expect(await exitWithin(second, 30_000), second.output()).toBe(1)
    expect(second.output()).toMatch(
      new RegExp(
        `Another RayInfo service is already running on the database .*two\\.db: the RayInfo service \\(pid ${first.child.pid} on .*, API http://127\\.0\\.0\\.1:${portA}\\)`
      )
    )
    expect((await getJson(portA, "/status")).status, "the first one is untouched").toBe(200)

    // killed without a chance to release its lease: the next service takes over at once (same machine)
    first.child.kill("SIGKILL")
    await first.exited
    const third = service(file, portB)
    await waitFor("the third service's /status", 30_000, async () => (await getJson(portB, "/status")).body)
    expect(third.output()).toMatch(/taking over service: its holder \(the RayInfo service \(pid \d+/)
    third.child.kill("SIGTERM")
    expect(await exitWithin(third, 30_000), third.output()).toBe(0)
  }, 120_000)

  it("rayinfo trigger waits for the service's run of the same job: runs never overlap", async () => {
    const { file, log, release } = writeConfig("overlap", 120_000)
    const port = await freePort()
    const running = service(file, port)
    await waitFor("the service's run to start", 30_000, async () => readLog(log).starts.length === 1 ? true : undefined)

    const trigger = rayinfo(["trigger", "slow:q", "--config", file])
    started.push(trigger)
    await waitForOutput(trigger, /slow:q is being run by a scheduled run of slow:q \(pid \d+ on .*\); waiting/)
    expect(readLog(log).starts.length, "the trigger waits: no second run yet").toBe(1)
    fs.writeFileSync(release, "")
    expect(await exitWithin(trigger, 60_000), trigger.output()).toBe(0)
    expect(trigger.output()).toContain(`"outcome": "succeeded"`)

    const { ends, starts } = readLog(log)
    expect(starts.length).toBe(2)
    expect(ends.length).toBe(2)
    expect(starts[1]!.at, "the trigger's run started after the service's run ended").toBeGreaterThanOrEqual(
      ends[0]!.at
    )
    running.child.kill("SIGTERM")
    expect(await exitWithin(running, 30_000), running.output()).toBe(0)
  }, 120_000)
})

describe("LIVE: shutdown", () => {
  const expectGone = (pids: ReadonlyArray<number>) =>
    waitFor(
      "the command and its grandchild to be gone",
      20_000,
      async () => pids.every((pid) => !isAlive(pid)) || undefined
    )

  it(
    "SIGTERM waits up to shutdown.timeout for a running collection, then kills its process group; exit 0",
    async () => {
      const { file, log } = writeConfig("timeout", 120_000, "shutdown:\n  timeout: 2 seconds")
      const port = await freePort()
      const running = service(file, port)
      await waitFor("the command to start", 30_000, async () => readLog(log).grandchildren.length === 1 || undefined)
      const { grandchildren, starts } = readLog(log)
      // a manual run queued behind the running one: dropped at shutdown, it does not hold the shutdown up
      const queued = fetch(`http://127.0.0.1:${port}/instances/${encodeURIComponent("slow:q")}/run`, { method: "POST" })
        .then((response) => response.status, (error: Error) => error.message)
      await waitFor("the manual run to be queued", 30_000, async () => {
        const { body } = await getJson(port, "/collectors")
        const [group] = body as unknown as ReadonlyArray<{ instances: ReadonlyArray<{ manual_run_queued: boolean }> }>
        return group?.instances[0]?.manual_run_queued === true ? true : undefined
      })
      running.child.kill("SIGTERM")
      await waitForOutput(running, /waiting up to 2s for 1 running collection\(s\): slow:q/)
      await waitForOutput(running, /interrupting 1 running collection\(s\) after 2s: slow:q/)
      expect(await exitWithin(running, 30_000), running.output()).toBe(0)
      await expectGone([starts[0]!.pid, grandchildren[0]!])
      expect(await queued, "the queued manual run is dropped: 503").toBe(503)
      expect(readLog(log).starts.length, "the queued manual run never ran").toBe(1)
    },
    120_000
  )

  it("a manual run the shutdown dropped is kept in the durable store: it runs after the restart", async () => {
    const { file, log, release } = writeConfig("kept", 120_000, "shutdown:\n  timeout: 2 seconds")
    const port = await freePort()
    const first = service(file, port)
    await waitFor("the command to start", 30_000, async () => readLog(log).grandchildren.length === 1 || undefined)
    const queued = fetch(`http://127.0.0.1:${port}/instances/${encodeURIComponent("slow:q")}/run`, { method: "POST" })
      .then(async (response) => ({ status: response.status, body: await response.json() as { message?: string } }))
    await waitFor("the manual run to be queued", 30_000, async () => {
      const { body } = await getJson(port, "/collectors")
      const [group] = body as unknown as ReadonlyArray<{ instances: ReadonlyArray<{ manual_run_queued: boolean }> }>
      return group?.instances[0]?.manual_run_queued === true ? true : undefined
    })
    first.child.kill("SIGTERM")
    expect(await exitWithin(first, 30_000), first.output()).toBe(0)
    const dropped = await queued
    expect(dropped.status).toBe(503)
    expect(dropped.body.message).toContain("the trigger is kept and runs when the service starts again")
    expect(readLog(log).starts.length, "the manual run did not run").toBe(1)

    // the restart runs the job's first run (the interrupted one recorded nothing) and the kept manual run
    fs.writeFileSync(release, "")
    const second = service(file, port)
    await waitFor("two runs after the restart", 30_000, async () => readLog(log).ends.length === 2 || undefined)
    const status = await waitFor("/status", 30_000, async () => {
      const { body } = await getJson(port, "/status")
      return (body.runs as Record<string, number>).succeeded === 2 ? body : undefined
    })
    expect((status.runs as Record<string, number>).started).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(readLog(log).starts.length, "and no more").toBe(3)
    second.child.kill("SIGTERM")
    expect(await exitWithin(second, 30_000), second.output()).toBe(0)
  }, 120_000)

  it("a second SIGINT interrupts the running collection at once (no orphans), exit 0", async () => {
    const { file, log } = writeConfig("twice", 120_000, "shutdown:\n  timeout: 1 hour")
    const port = await freePort()
    const running = service(file, port)
    await waitFor("the command to start", 30_000, async () => readLog(log).grandchildren.length === 1 || undefined)
    const { grandchildren, starts } = readLog(log)
    running.child.kill("SIGINT")
    await waitForOutput(running, /waiting up to 1h for 1 running collection\(s\): slow:q/)
    running.child.kill("SIGINT")
    await waitForOutput(running, /interrupting 1 running collection\(s\) at once \(second signal\): slow:q/)
    expect(await exitWithin(running, 30_000), running.output()).toBe(0)
    await expectGone([starts[0]!.pid, grandchildren[0]!])
  }, 120_000)
})
