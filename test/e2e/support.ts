/**
 * Support for the LIVE tests (real processes, real time): start the real
 * entrypoint, wait for something with a generous bound, free ports, process
 * liveness. No test here may depend on the speed of the machine: waits are
 * for events, with bounds far above what a busy machine needs.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"

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

/** A running child process with its output so far. */
export interface Running {
  readonly child: ChildProcess
  /** stdout and stderr, interleaved. */
  readonly output: () => string
  /** The exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
}

/** Runs `command args` in the repository root, capturing its output. */
export const spawnProcess = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Running => {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "Info", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** Runs the `rayinfo` CLI from source (`src/main.ts` through tsx) with `args`. */
export const rayinfo = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Running =>
  spawnProcess(process.execPath, ["--import", "tsx", "src/main.ts", ...args], env)

/** Starts the service (`rayinfo run`) on `configPath`, serving on 127.0.0.1:`port`. */
export const startService = (configPath: string, port: number, env: Record<string, string> = {}): Running =>
  rayinfo(["run", "--config", configPath], { PORT: String(port), HOST: "127.0.0.1", ...env })

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
export const waitFor = async <A>(what: string, ms: number, check: () => Promise<A | undefined>): Promise<A> => {
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

/** Waits until `running`'s output matches `pattern`. */
export const waitForOutput = (running: Running, pattern: RegExp, ms = 30_000) =>
  waitFor(`output ${pattern}`, ms, async () => pattern.test(running.output()) ? true : undefined).catch((error) => {
    throw new Error(`${(error as Error).message}\n--- output ---\n${running.output()}`)
  })

/** The exit code of `running`, or "hung" if it is still running after `ms`. */
export const exitWithin = (running: Running, ms: number) =>
  Promise.race([running.exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), ms))])

/** GET `route` on 127.0.0.1:`port` as JSON. */
export const getJson = async (port: number, route: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${route}`)
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

/** Whether a process with this pid exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Kills `pid` with SIGKILL if it still runs (cleanup after a failed test). */
export const killQuietly = (pid: number | undefined) => {
  if (pid === undefined) return
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
}
