/**
 * Support for the LIVE tests (real processes, real time): start the real
 * entrypoint (or any command) with its output captured, run the CLI to its
 * end, temporary directories and configurations, wait for something with a
 * generous bound, free ports, process liveness, cleanup. No test here may
 * depend on the speed of the machine: waits are for events, with bounds far
 * above what a busy machine needs.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"

/** The repository's root. */
export const root = path.resolve(import.meta.dirname, "../..")

/** A TCP port that was free a moment ago on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** How a process ended: its exit code, or the signal that killed it (the other one is null). */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running child process with its output so far. */
export interface Running {
  readonly child: ChildProcess
  /** stdout and stderr, interleaved. */
  readonly output: () => string
  /** The exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  /** The exit code and the signal, when the signal matters. */
  readonly ended: Promise<Ended>
}

/** Options of {@link spawnProcess}. */
export interface SpawnOptions {
  /** Starts the process in its own process group (`-pid` then names the group). Default: false. */
  readonly detached?: boolean
}

/** Runs `command args` in the repository root, capturing its output; `LOG_LEVEL` is Info unless `env` sets it. */
export const spawnProcess = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  options: SpawnOptions = {}
): Running => {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "Info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false
  })
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const ended = new Promise<Ended>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  return { child, output: () => output, exited: ended.then(({ code }) => code), ended }
}

/** The arguments of `node` that run the CLI from source (`src/main.ts` through tsx). */
const fromSource = ["--import", "tsx", "src/main.ts"]

/** Runs the `rayinfo` CLI from source (`src/main.ts` through tsx) with `args`. */
export const rayinfo = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Running =>
  spawnProcess(process.execPath, [...fromSource, ...args], env)

/** What a finished command printed, and its exit code (null when it was killed). */
export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `command args` to its end and collects its output, without blocking
 * the test worker (a synchronous spawn would stall vitest's own messages
 * while it runs); it is killed after `timeoutMs` (a generous bound).
 */
export const runToEnd = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: Record<string, string>; readonly timeoutMs: number }
): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/**
 * Runs the `rayinfo` CLI from source with `args` to its end; it is killed
 * after 60 s (a generous bound). `LOG_LEVEL` is warning unless `env` sets
 * it, so stderr holds the command's own messages.
 */
export const runRayinfo = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Finished> =>
  runToEnd(process.execPath, [...fromSource, ...args], { env: { LOG_LEVEL: "warning", ...env }, timeoutMs: 60_000 })

/** Starts the service (`rayinfo run`) on `configPath`, serving on 127.0.0.1:`port`. */
export const startService = (configPath: string, port: number, env: Record<string, string> = {}): Running =>
  rayinfo(["run", "--config", configPath], { PORT: String(port), HOST: "127.0.0.1", ...env })

/**
 * A temporary directory for the tests of the calling `describe` block (or
 * file): a `beforeAll` hook makes it (named `prefix` and a random suffix) and
 * runs `setup` on it; an `afterAll` hook runs `cleanup` (default: nothing)
 * and then removes the directory with its contents. Returns a getter, for the
 * tests, of what `setup` returned.
 */
export const temporaryFixture = <A>(
  prefix: string,
  setup: (dir: string) => A,
  cleanup: (fixture: A) => void = () => {}
): () => A => {
  let dir: string | undefined
  let fixture: { readonly value: A } | undefined
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    fixture = { value: setup(dir) }
  })
  afterAll(() => {
    try {
      if (fixture !== undefined) cleanup(fixture.value)
    } finally {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
    }
  })
  return () => {
    if (fixture === undefined) throw new Error(`the temporary fixture ${prefix} is not set up (read it in a test)`)
    return fixture.value
  }
}

/**
 * A configuration (YAML) storing in `database`, with `collectors`: the items
 * of the YAML list `collectors:`, each starting with `  - `.
 */
export const configYaml = (database: string, collectors: string): string =>
  `storage: { path: ${JSON.stringify(database)} }
collectors:
${collectors}`

/**
 * One feed collector, `news`, over the local feed files `feeds` (an item of
 * {@link configYaml}'s `collectors`); `interval` is its interval (default:
 * not given, the collector's default).
 */
export const feedCollector = (feeds: ReadonlyArray<string>, interval?: string): string =>
  `  - type: feed
    name: news
${interval === undefined ? "" : `    interval: ${interval}\n`}    feeds: [${
    feeds.map((url) => `{ url: ${JSON.stringify(url)} }`).join(", ")
  }]
`

/** Copies the example feed files (examples/feeds) into `dir`; their paths there. */
export const copyExampleFeeds = (dir: string): Array<string> =>
  ["rayinfo-news.xml", "effect-notes.atom"].map((file) => {
    const target = path.join(dir, file)
    fs.copyFileSync(path.join(root, "examples/feeds", file), target)
    return target
  })

/**
 * Writes the configuration `dir/rayinfo.yaml`, storing in
 * `dir/data/rayinfo.db`, with `collectors` (as in {@link configYaml});
 * returns its path.
 */
export const writeConfig = (dir: string, collectors: string): string => {
  const file = path.join(dir, "rayinfo.yaml")
  fs.writeFileSync(file, configYaml(path.join(dir, "data", "rayinfo.db"), collectors))
  return file
}

/**
 * Polls `check` every 100 ms until it returns a value, for at most `ms`.
 * With `running` (default: none), fails at once if that process exited
 * meanwhile, and either failure shows its output.
 */
export const waitFor = async <A>(
  what: string,
  ms: number,
  check: () => Promise<A | undefined>,
  running?: Running
): Promise<A> => {
  const deadline = Date.now() + ms
  const output = () => (running === undefined ? "" : `\n--- output ---\n${running.output()}`)
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (running !== undefined && (running.child.exitCode !== null || running.child.signalCode !== null)) {
      const how = running.child.exitCode !== null ? `code ${running.child.exitCode}` : running.child.signalCode
      throw new Error(`the process exited (${how}) while waiting for ${what}${output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}${output()}`)
}

/** Waits until `running`'s output matches `pattern`. */
export const waitForOutput = (running: Running, pattern: RegExp, ms = 30_000) =>
  waitFor(`output ${pattern}`, ms, async () => pattern.test(running.output()) ? true : undefined).catch((error) => {
    throw new Error(`${(error as Error).message}\n--- output ---\n${running.output()}`)
  })

/** What `promise` resolves to, or "hung" if it has not resolved after `ms`. */
export const orHung = <A>(promise: Promise<A>, ms: number): Promise<A | "hung"> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([promise, new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms)))])
    .finally(() => clearTimeout(timer))
}

/** The exit code of `running`, or "hung" if it is still running after `ms`. */
export const exitWithin = (running: Running, ms: number) => orHung(running.exited, ms)

/** GET `route` on 127.0.0.1:`port` as JSON. */
export const getJson = async (port: number, route: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${route}`)
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

/**
 * Whether process `pid` is running: it exists and is not a zombie (from
 * /proc; POSIX only).
 */
export { isAlive as isRunning } from "../collectors/support.js"

/** Whether a process with this pid exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Whether something can listen on `port` of 127.0.0.1 (i.e. nobody holds it). */
export const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/**
 * Kills `pid` with SIGKILL if it still runs (cleanup after a failed test); a
 * negative pid names a process group.
 */
export const killQuietly = (pid: number | undefined) => {
  if (pid === undefined) return
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
}
