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
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** Whether something can listen on `port` (i.e. nobody holds it). */
const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
const waitFor = async <A>(what: string, ms: number, check: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + ms
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`)
}

/** A live process (not a zombie) with this pid exists. */
const alive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}

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

interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** `npm start` in the repository, in its own process group (so the test can clean up after a failure). */
const npmStart = (env: Record<string, string>): Running => {
  const child = spawn("npm", ["start"], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "Info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  )
  return { child, output: () => output, exited }
}

describe("LIVE: npm start under a process manager", () => {
  let dir: string
  let configPath: string

  beforeAll(() => {
    const build = spawnSync("npm", ["run", "build"], { cwd: root, encoding: "utf8", timeout: 180_000 })
    if (build.status !== 0) {
      throw new Error(`npm run build failed (${build.status}):\n${build.stdout}\n${build.stderr}`)
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-start-"))
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), path.join(dir, "news.xml"))
    configPath = path.join(dir, "rayinfo.yaml")
    fs.writeFileSync(
      configPath,
      `storage: { path: ${JSON.stringify(path.join(dir, "data", "rayinfo.db"))} }
collectors:
  - type: feed
    name: news
    interval: 1 hour
    feeds: [{ url: ${JSON.stringify(path.join(dir, "news.xml"))} }]
`
    )
  }, 200_000)

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("SIGTERM to npm: the service shuts down cleanly, npm exits 0, no orphan, the port is free", async () => {
    const port = await freePort()
    const npm = npmStart({ RAYINFO_CONFIG: configPath, PORT: String(port), HOST: "127.0.0.1" })
    let chain: ReadonlyArray<{ readonly pid: number; readonly cmdline: string }> = []
    try {
      // up, on the temporary configuration (RAYINFO_CONFIG) and the port (PORT)
      await waitFor("/status", 30_000, async () => {
        const response = await fetch(`http://127.0.0.1:${port}/status`)
        const body = await response.json() as { items_total: number }
        return response.status === 200 && body.items_total === 3 ? body : undefined
      })
      chain = descendants(npm.child.pid!)
      expect(chain.some((p) => /main\.(js|ts)\b/.test(p.cmdline)), JSON.stringify(chain)).toBe(true)

      npm.child.kill("SIGTERM")
      const exit = await Promise.race([
        npm.exited,
        new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 30_000))
      ])
      expect(exit, npm.output()).toEqual({ code: 0, signal: null })
      expect(npm.output()).toContain(configPath)

      const orphans = await waitFor("every process of the chain to exit", 10_000, async () => {
        const left = chain.filter((p) => alive(p.pid))
        return left.length === 0 ? left : undefined
      }).catch(() => chain.filter((p) => alive(p.pid)))
      expect(orphans, "processes left running after npm exited").toEqual([])
      expect(await portIsFree(port)).toBe(true)
    } finally {
      try {
        process.kill(-npm.child.pid!, "SIGKILL")
      } catch {
        // the group is gone
      }
      for (const p of chain) {
        if (alive(p.pid)) process.kill(p.pid, "SIGKILL")
      }
    }
  }, 90_000)
})
