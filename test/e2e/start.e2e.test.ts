/**
 * LIVE (real processes, real time): `npm start`, the documented start
 * command, under a process manager. `docker stop` and systemd send SIGTERM to
 * the process they started — here `npm` itself. The service must receive the
 * signal, shut down cleanly, and npm must exit 0 with no process of the
 * chain left behind (no orphan holding the port and the database).
 *
 * `npm start` runs the built JavaScript (`dist/`), so this test builds first
 * (`npm run build`): it never runs a stale build. POSIX only (/proc).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import {
  feedCollector,
  freePort,
  getJson,
  isRunning,
  killQuietly,
  orHung,
  portIsFree,
  root,
  runToEnd,
  spawnProcess,
  temporaryFixture,
  waitFor,
  writeConfig
} from "./support.js"

/** The pids and command lines of every descendant of `pid`, from /proc. */
const descendants = (pid: number): ReadonlyArray<{ readonly pid: number; readonly cmdline: string }> => {
  const parents = new Map<number, number>()
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
    } catch {
      // exited meanwhile
    }
  }
  const found: Array<{ pid: number; cmdline: string }> = []
  const visit = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue
      let cmdline = ""
      try {
        cmdline = fs.readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0").join(" ").trim()
      } catch {
        // exited meanwhile
      }
      found.push({ pid: child, cmdline })
      visit(child)
    }
  }
  visit(pid)
  return found
}

describe("LIVE: npm start under a process manager", () => {
  beforeAll(async () => {
    const build = await runToEnd("npm", ["run", "build"], { timeoutMs: 180_000 })
    if (build.code !== 0) {
      throw new Error(`npm run build failed (${build.code}):\n${build.stdout}\n${build.stderr}`)
    }
  }, 200_000)

  const fixture = temporaryFixture("rayinfo-start-", (dir) => {
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), path.join(dir, "news.xml"))
    const configPath = writeConfig(dir, feedCollector([path.join(dir, "news.xml")], "1 hour"))
    return { configPath }
  })

  it("SIGTERM to npm: the service shuts down cleanly, npm exits 0, no orphan, the port is free", async () => {
    const { configPath } = fixture()
    const port = await freePort()
    // in its own process group, so that the test can clean up after a failure
    const npm = spawnProcess("npm", ["start"], { RAYINFO_CONFIG: configPath, PORT: String(port), HOST: "127.0.0.1" }, {
      detached: true
    })
    let chain: ReadonlyArray<{ readonly pid: number; readonly cmdline: string }> = []
    try {
      // up, on the temporary configuration (RAYINFO_CONFIG) and the port (PORT)
      await waitFor("/status", 30_000, async () => {
        const { body, status } = await getJson(port, "/status")
        return status === 200 && body.items_total === 3 ? body : undefined
      })
      chain = descendants(npm.child.pid!)
      expect(chain.some((p) => /main\.(js|ts)\b/.test(p.cmdline)), JSON.stringify(chain)).toBe(true)

      npm.child.kill("SIGTERM")
      expect(await orHung(npm.ended, 30_000), npm.output()).toEqual({ code: 0, signal: null })
      expect(npm.output()).toContain(configPath)

      const orphans = await waitFor("every process of the chain to exit", 10_000, async () => {
        const left = chain.filter((p) => isRunning(p.pid))
        return left.length === 0 ? left : undefined
      }).catch(() => chain.filter((p) => isRunning(p.pid)))
      expect(orphans, "processes left running after npm exited").toEqual([])
      expect(await portIsFree(port)).toBe(true)
    } finally {
      killQuietly(-npm.child.pid!)
      for (const p of chain) killQuietly(p.pid)
    }
  }, 90_000)
})
