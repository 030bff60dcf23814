import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Logger, LogLevel, Option, Schedule } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import {
  type Collector,
  CollectorError,
  defaultRetryAfter,
  type FetchError,
  RetryableCollectorError
} from "../../src/app/collectors/Collector.js"
import * as CommandCollector from "../../src/app/collectors/command.js"
import { collect, collectError } from "./support.js"

const scratch = realpathSync(mkdtempSync(join(tmpdir(), "rayinfo-command-test-")))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** Options running `node -e script -- param`: the script sees the param as `process.argv[1]`. */
const nodeScript = (
  script: string,
  options: Partial<CommandCollector.CommandCollectorOptions> = {}
): CommandCollector.CommandCollectorOptions => ({
  name: "search",
  command: process.execPath,
  args: ["-e", script, "--", "{param}"],
  ...options
})

/** Builds a command collector and runs `f` with it (NodeContext provides the CommandExecutor). */
const withCollector = <A, E>(
  options: CommandCollector.CommandCollectorOptions,
  f: (collector: Collector) => Effect.Effect<A, E>
) => CommandCollector.make(options).pipe(Effect.flatMap(f), Effect.provide(NodeContext.layer))

const run = (options: CommandCollector.CommandCollectorOptions, param = "query") =>
  withCollector(options, (collector) => collect(collector.fetch(param)))

const runError = (options: CommandCollector.CommandCollectorOptions, param = "query") =>
  withCollector(options, (collector) => collectError(collector.fetch(param)))

const assertCollectorError = (error: FetchError, ...fragments: ReadonlyArray<string>): void => {
  assert.instanceOf(error, CollectorError, error.message)
  assert.include(error.message, `command "${process.execPath}"`)
  for (const fragment of fragments) assert.include(error.message, fragment)
}

const assertRetryable = (error: FetchError, retryAfter: Duration.DurationInput, fragment: string): void => {
  assert.instanceOf(error, RetryableCollectorError, error.message)
  assert.isTrue(Duration.equals((error as RetryableCollectorError).retryAfter, Duration.decode(retryAfter)))
  assert.include(error.message, fragment)
}

/** Whether a process with this pid exists (signal 0 checks without sending). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const json = (value: unknown) => JSON.stringify(JSON.stringify(value))

describe("command collector: output", () => {
  it.live("an array of results: one event each, keyed by url / link / id, else a hash of the JSON", () =>
    Effect.gen(function*() {
      const results = [
        { url: "https://a.example/1", title: "A", link: "https://ignored.example" },
        { link: "https://b.example/2", title: "B" },
        { id: 7, title: "C" },
        { title: "D", tags: ["x"] }
      ]
      const events = yield* run(nodeScript(`console.log(${json(results)})`, { debug: true }), "effect ts")
      assert.deepStrictEqual(events.map((e) => e.key), [
        "https://a.example/1",
        "https://b.example/2",
        "7",
        `sha256:${createHash("sha256").update("{\"tags\":[\"x\"],\"title\":\"D\"}").digest("hex")}`
      ])
      assert.deepStrictEqual(events.map((e) => e.raw), results)
      assert.isTrue(events.every((e) => e.source === "search:effect ts" && e.debug))
    }))

  it.live("an object with a results array (resultsField, default \"results\"); keyField", () =>
    Effect.gen(function*() {
      const output = { total: 2, results: [{ url: "https://a", title: "t1" }, { url: "https://b", title: "t2" }] }
      const events = yield* run(nodeScript(`console.log(${json(output)})`))
      assert.deepStrictEqual(events.map((e) => e.key), ["https://a", "https://b"])
      assert.isFalse(events[0]!.debug)

      const custom = { items: [{ url: "https://a", title: "t1" }] }
      const byTitle = yield* run(
        nodeScript(`console.log(${json(custom)})`, { resultsField: "items", keyField: "title" })
      )
      assert.deepStrictEqual(byTitle.map((e) => e.key), ["t1"])
    }))

  it.live("results that are not JSON objects are skipped with a warning; the run succeeds", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) {
          logs.push(Array.isArray(message) ? message.join(" ") : String(message))
        }
      })
      const events = yield* run(nodeScript(`console.log(${json([1, "x", null, [], { url: "https://ok" }])})`)).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.deepStrictEqual(events.map((e) => e.key), ["https://ok"])
      assert.strictEqual(logs.length, 1)
      assert.include(logs[0]!, "skipped 4 of 5 results")
    }))

  it.live("an empty results array is a run without events", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* run(nodeScript(`console.log("[]")`)), [])
      assert.deepStrictEqual(yield* run(nodeScript(`console.log('{"results":[]}')`)), [])
    }))
})

describe("command collector: failures", () => {
  it.live("a non-zero exit: CollectorError with the command name and the tail of stderr", () =>
    Effect.gen(function*() {
      const script = `process.stderr.write("x".repeat(5000) + "\\nFATAL: index missing\\n"); process.exit(3)`
      const error = yield* runError(nodeScript(script))
      assertCollectorError(error, "exited with code 3", "FATAL: index missing")
      assert.isBelow(error.message.length, 800, "only the tail of stderr is quoted")
      assert.strictEqual(error.instance, "search:query")
    }))

  it.live("a timeout: the process is killed (even if it ignores SIGTERM); CollectorError with stderr", () =>
    Effect.gen(function*() {
      const pidFile = join(scratch, "timeout.pid")
      const script = `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));` +
        `process.on("SIGTERM", () => {}); process.stderr.write("started\\n"); setInterval(() => {}, 1000)`
      const start = performance.now()
      const error = yield* runError(nodeScript(script, { timeout: "300 millis" }))
      const millis = performance.now() - start
      assertCollectorError(error, "timed out", "started")
      assert.isBelow(millis, 3000)
      const pid = Number(readFileSync(pidFile, "utf8"))
      assert.isFalse(isAlive(pid), "the process is gone")
    }))

  it.live("an interrupted run kills the process at once (even if it ignores SIGTERM)", () =>
    Effect.gen(function*() {
      const pidFile = join(scratch, "interrupted.pid")
      const script = `process.on("SIGTERM", () => {}); setInterval(() => {}, 1000);` +
        `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid))`
      const fiber = yield* Effect.fork(run(nodeScript(script)))
      // wait (polling, a few ms at a time) until the process is up
      yield* Effect.sync(() => existsSync(pidFile)).pipe(
        Effect.repeat({ until: (exists) => exists, schedule: Schedule.spaced("10 millis") })
      )
      const interrupted = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("3 seconds"), Effect.option)
      const pid = Number(readFileSync(pidFile, "utf8"))
      const alive = isAlive(pid)
      if (alive) process.kill(pid, "SIGKILL") // clean up after a regression instead of leaking the process
      assert.isTrue(Option.isSome(interrupted), "the interruption completed")
      assert.isFalse(alive, "the process is gone")
    }))

  it.live("invalid JSON: CollectorError with stderr", () =>
    Effect.gen(function*() {
      const error = yield* runError(nodeScript(`console.error("warning: degraded"); console.log("not json")`))
      assertCollectorError(error, "invalid JSON", "warning: degraded")
      assertCollectorError(yield* runError(nodeScript(``)), "invalid JSON", "stderr: (empty)")
    }))

  it.live("JSON that is neither an array nor an object with the results array: CollectorError", () =>
    Effect.gen(function*() {
      assertCollectorError(yield* runError(nodeScript(`console.log('{"items":[]}')`)), "\"results\" array")
      assertCollectorError(yield* runError(nodeScript(`console.log('42')`)), "neither an array")
    }))

  it.live("stdout over maxOutputBytes: killed, CollectorError", () =>
    Effect.gen(function*() {
      const script = `const chunk = "x".repeat(65536); const write = () => { while (process.stdout.write(chunk)); ` +
        `process.stdout.once("drain", write) }; write()`
      const start = performance.now()
      const error = yield* runError(nodeScript(script, { maxOutputBytes: 1024 }))
      assertCollectorError(error, "more than 1024 bytes")
      assert.isBelow(performance.now() - start, 3000)
    }))

  it.live("a command that cannot be started: CollectorError", () =>
    Effect.gen(function*() {
      const error = yield* runError({ name: "search", command: join(scratch, "no-such-binary") })
      assert.instanceOf(error, CollectorError)
      assert.include(error.message, "could not be started")
    }))
})

describe("command collector: quota", () => {
  it.live("an exit code in quotaExitCodes: RetryableCollectorError (default retryAfter, or the option)", () =>
    Effect.gen(function*() {
      const script = `console.error("quota exhausted for today"); process.exit(75)`
      assertRetryable(
        yield* runError(nodeScript(script, { quotaExitCodes: [75] })),
        defaultRetryAfter,
        "quota exhausted for today"
      )
      assertRetryable(
        yield* runError(nodeScript(script, { quotaExitCodes: [75], retryAfter: "15 minutes" })),
        Duration.minutes(15),
        "quota exit code 75"
      )
      // not listed: an ordinary failure
      assertCollectorError(yield* runError(nodeScript(script)), "exited with code 75")
    }))

  it.live("a truthy quotaField in the output object: RetryableCollectorError", () =>
    Effect.gen(function*() {
      const exceeded = { quota_exceeded: true, results: [{ url: "https://a" }] }
      assertRetryable(
        yield* runError(nodeScript(`console.log(${json(exceeded)})`, { quotaField: "quota_exceeded" })),
        defaultRetryAfter,
        "quota_exceeded"
      )
      // also with a non-zero exit
      const failed = `console.log(${json({ quota_exceeded: 1 })}); process.exit(2)`
      assertRetryable(yield* runError(nodeScript(failed, { quotaField: "quota_exceeded" })), defaultRetryAfter, "quota")
      // falsy: a normal run
      const fine = { quota_exceeded: false, results: [{ url: "https://a" }] }
      const events = yield* run(nodeScript(`console.log(${json(fine)})`, { quotaField: "quota_exceeded" }))
      assert.strictEqual(events.length, 1)
    }))
})

describe("command collector: argv", () => {
  const printArgv = `console.log(JSON.stringify([{ id: "argv", argv: process.argv.slice(1) }]))`

  it.live("a param with shell metacharacters is exactly one argv element, and nothing is executed", () =>
    Effect.gen(function*() {
      const marker = join(scratch, "pwned")
      const param = `"; rm -rf / #$(whoami) && echo pwned; touch ${marker} $(touch ${marker}) \`touch ${marker}\` ` +
        `| tee ${marker} > ${marker} & 'quoted' \\ \n newline * ?`
      const events = yield* run(nodeScript(printArgv), param)
      assert.deepStrictEqual(events.map((e) => e.raw), [{ id: "argv", argv: [param] }])
      assert.strictEqual(events[0]!.source, `search:${param}`)
      assert.isFalse(existsSync(marker), "no shell ran the param")
    }))

  it.live("\"{param}\" is replaced in place; without it the param is appended; without param it is dropped", () =>
    Effect.gen(function*() {
      const inPlace = yield* run(
        { ...nodeScript(printArgv), args: ["-e", printArgv, "--", "--query", "{param}", "--limit", "5"] },
        "a b"
      )
      assert.deepStrictEqual(inPlace[0]!.raw, { id: "argv", argv: ["--query", "a b", "--limit", "5"] })
      const appended = yield* run({ ...nodeScript(printArgv), args: ["-e", printArgv, "--", "--json"] }, "a b")
      assert.deepStrictEqual(appended[0]!.raw, { id: "argv", argv: ["--json", "a b"] })
      const noParam = yield* withCollector(nodeScript(printArgv), (collector) => collect(collector.fetch(undefined)))
      assert.deepStrictEqual(noParam[0]!.raw, { id: "argv", argv: [] })
      assert.strictEqual(noParam[0]!.source, "search")
    }))

  it.live("cwd and env are passed to the command", () =>
    Effect.gen(function*() {
      const script =
        `console.log(JSON.stringify([{ id: "env", cwd: process.cwd(), v: process.env.RAYINFO_TEST ?? null }]))`
      const events = yield* run(nodeScript(script, { cwd: scratch, env: { RAYINFO_TEST: "yes" } }))
      assert.deepStrictEqual(events[0]!.raw, { id: "env", cwd: scratch, v: "yes" })
    }))

  it("buildArgs", () => {
    assert.deepStrictEqual(CommandCollector.buildArgs(["search", "{param}", "--json"], "q"), ["search", "q", "--json"])
    assert.deepStrictEqual(CommandCollector.buildArgs(["search", "--json"], "q"), ["search", "--json", "q"])
    assert.deepStrictEqual(CommandCollector.buildArgs(["{param}x", "{param}"], "q"), ["{param}x", "q"])
    assert.deepStrictEqual(CommandCollector.buildArgs(["search", "{param}"], undefined), ["search"])
  })

  it.live("jobs and intervals: each job's own, else the default (1 hour)", () =>
    withCollector(
      { name: "mes", command: "mes", args: ["search"], jobs: [{ param: "a" }, { param: "b", interval: "10 minutes" }] },
      (collector) =>
        Effect.sync(() => {
          assert.strictEqual(collector.name, "mes")
          assert.isTrue(Duration.equals(collector.defaultInterval, Duration.hours(1)))
          assert.deepStrictEqual(collector.jobs?.map((job) => job.param), ["a", "b"])
          assert.isUndefined(collector.jobs?.[0]?.interval)
          assert.isTrue(Duration.equals(collector.jobs![1]!.interval!, Duration.minutes(10)))
        })
    ))
})
