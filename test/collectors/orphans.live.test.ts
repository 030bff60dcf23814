/**
 * LIVE (real time, real processes): the commands of a service killed with
 * SIGKILL are reaped at its next start. Starts the real entrypoint
 * (`src/main.ts run`) on a configuration with one command collector whose
 * command starts a long-lived grandchild and then sleeps; kills the service
 * with SIGKILL while the command runs; checks that the command and the
 * grandchild survived it (orphans); starts the service again and checks that
 * both are killed; stops it with SIGTERM. Waits are bounded and generous;
 * every process started here is killed at the end, whatever happened.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { isAlive, killAll, readPids } from "./support.js"

const root = path.resolve(import.meta.dirname, "../..")

interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const start = (configPath: string, port: number): Running => {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "run", "--config", configPath], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "Info" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** The process groups recorded in the database `filename` (read with better-sqlite3, read-only). */
const recordedGroups = (filename: string): Array<number> => {
  const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new(
    filename: string,
    options: { readonly readonly: boolean; readonly fileMustExist: boolean }
  ) => {
    prepare(sql: string): { all(): Array<{ readonly pgid: number }> }
    close(): void
  }
  let db
  try {
    db = new Sqlite(filename, { readonly: true, fileMustExist: true })
    return db.prepare("SELECT pgid FROM process_group").all().map((row) => row.pgid)
  } catch {
    return [] // not created or not migrated yet
  } finally {
    db?.close()
  }
}

/**
 * Polls `check` every 100 ms until it holds, for at most `ms`; fails at once
 * (with its output) if `service` exited meanwhile.
 */
const waitFor = async (what: string, ms: number, check: () => boolean, service?: Running): Promise<void> => {
  const deadline = Date.now() + ms
  const output = () => (service === undefined ? "" : `\n--- output ---\n${service.output()}`)
  while (Date.now() < deadline) {
    if (check()) return
    if (service !== undefined && service.child.exitCode !== null) {
      throw new Error(`the service exited (code ${service.child.exitCode}) while waiting for ${what}${output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}${output()}`)
}

/** `promise`, or a failure naming `what` (with the service's output) after `ms`. */
const within = <A>(what: string, ms: number, promise: Promise<A>, output?: () => string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<A>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`timed out waiting for ${what}${output === undefined ? "" : `\n--- output ---\n${output()}`}`)
          ),
        ms
      )
    })
  ]).finally(() => clearTimeout(timer))
}

describe("LIVE: commands left by a killed service", () => {
  let dir: string
  let configPath: string
  let pidsFile: string
  let secondMarker: string

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-orphans-"))
    pidsFile = path.join(dir, "pids")
    secondMarker = path.join(dir, "second-start")
    // first start: a grandchild that outlives everything, then a long sleep; second start: done at once
    const tool = path.join(dir, "tool.sh")
    fs.writeFileSync(
      tool,
      `if [ -e ${JSON.stringify(secondMarker)} ]; then echo '[]'; exit 0; fi
sleep 300 >/dev/null 2>&1 &
echo $! >> ${JSON.stringify(pidsFile)}
echo $$ >> ${JSON.stringify(pidsFile)}
sleep 300
`
    )
    configPath = path.join(dir, "rayinfo.yaml")
    fs.writeFileSync(
      configPath,
      `storage:
  path: ${JSON.stringify(path.join(dir, "data", "rayinfo.db"))}
collectors:
  - type: command
    name: tool
    command: /bin/sh
    args: [${JSON.stringify(tool)}]
    interval: 1 hour
    timeout: 10 minutes
`
    )
  })

  afterAll(() => {
    killAll(readPids(pidsFile))
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("kill -9 leaves the command and its grandchild running; the next start kills them", async () => {
    const services: Array<Running> = []
    try {
      const port = await freePort()
      const first = start(configPath, port)
      services.push(first)
      await waitFor(
        "the command and its grandchild to start",
        120_000,
        () => readPids(pidsFile).length === 2,
        first
      )
      const orphans = readPids(pidsFile)
      // the command runs; its group is recorded (right after the service started it, but not
      // necessarily before the command wrote its pids: a SIGKILL in between would leave it unrecorded)
      const database = path.join(dir, "data", "rayinfo.db")
      await waitFor(
        "the group to be recorded",
        60_000,
        () => recordedGroups(database).includes(orphans[1]!),
        first
      )

      first.child.kill("SIGKILL")
      await within("the killed service to exit", 30_000, first.exited, first.output)
      // nothing could kill them: they run on, orphaned
      for (const pid of orphans) expect(isAlive(pid), `process ${pid} survived the service`).toBe(true)

      fs.writeFileSync(secondMarker, "x")
      const second = start(configPath, port)
      services.push(second)
      await waitFor("the orphans to be killed", 60_000, () => orphans.every((pid) => !isAlive(pid)), second)
      await waitFor("the reaping to be logged", 30_000, () => second.output().includes("Killed the orphaned"), second)
      expect(second.output()).toContain(`Killed the orphaned process group ${orphans[1]} of tool`)

      // the second start's own run (the command prints "[]" at once now) is over: nothing runs at SIGTERM
      await waitFor("the second run to end", 60_000, () => second.output().includes("tool: 0 new"), second)
      second.child.kill("SIGTERM")
      const code = await within("the service to stop on SIGTERM", 60_000, second.exited, second.output)
      expect(code, second.output()).toBe(0)
    } finally {
      for (const service of services) service.child.kill("SIGKILL")
      killAll(readPids(pidsFile))
    }
  }, 300_000)
})
