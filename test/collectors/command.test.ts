import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Logger, LogLevel, Option, TestClock } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs"
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
import * as ProcessGroups from "../../src/app/collectors/ProcessGroups.js"
import { collect, collectError, isAlive, killAll, readPids, waitUntil } from "./support.js"

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

/** Builds a command collector and runs `f` with it (process groups recorded in memory). */
const withCollector = <A, E>(
  options: CommandCollector.CommandCollectorOptions,
  f: (collector: Collector) => Effect.Effect<A, E>
) => CommandCollector.make(options).pipe(Effect.flatMap(f), Effect.provide(ProcessGroups.layerMemory))

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

const json = (value: unknown) => JSON.stringify(JSON.stringify(value))

/**
 * Runs `effect`, then kills every pid listed in `file` however it ended
 * (a failed assertion must not leak processes; `try/finally` inside
 * `Effect.gen` does not run when a yielded effect fails).
 */
const cleaningUp = (file: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.ensuring(effect, Effect.sync(() => killAll(readPids(file))))

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

  it.effect("a timeout (TestClock): the process is killed (even if it ignores SIGTERM); CollectorError with stderr", () => {
    const pidFile = join(scratch, "timeout.pid")
    return Effect.gen(function*() {
      const script = `process.on("SIGTERM", () => {}); process.stderr.write("started\\n");` +
        `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`
      const fiber = yield* Effect.fork(runError(nodeScript(script, { timeout: "1 minute" })))
      yield* waitUntil("the command to start", () => readPids(pidFile).length === 1)
      const pid = readPids(pidFile)[0]!
      // not before the timeout
      yield* TestClock.adjust(Duration.subtract(Duration.minutes(1), Duration.millis(1)))
      assert.isTrue(isAlive(pid), "still running 1 ms before the timeout")
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assertCollectorError(error, "timed out after 1m", "started")
      assert.isFalse(isAlive(pid), "the process is gone")
    }).pipe(cleaningUp(pidFile))
  })

  it.live("an interrupted run kills the process at once (even if it ignores SIGTERM)", () => {
    const pidFile = join(scratch, "interrupted.pid")
    return Effect.gen(function*() {
      const script = `process.on("SIGTERM", () => {}); setInterval(() => {}, 1000);` +
        `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid))`
      const fiber = yield* Effect.fork(run(nodeScript(script)))
      yield* waitUntil("the command to start", () => readPids(pidFile).length === 1)
      const interrupted = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("30 seconds"), Effect.option)
      assert.isTrue(Option.isSome(interrupted), "the interruption completed")
      // SIGKILL was sent before the interruption completed; the kernel may take a moment to finish the process
      yield* waitUntil("the process to be gone", () => !isAlive(readPids(pidFile)[0]!))
    }).pipe(cleaningUp(pidFile))
  })

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
      // the command never stops writing: only the kill ends the run (the test's own timeout is the bound)
      const error = yield* runError(nodeScript(script, { maxOutputBytes: 1024 }))
      assertCollectorError(error, "more than 1024 bytes")
    }))

  it.live("a command that cannot be started: CollectorError", () =>
    Effect.gen(function*() {
      const error = yield* runError({ name: "search", command: join(scratch, "no-such-binary") })
      assert.instanceOf(error, CollectorError)
      assert.include(error.message, "could not be started")
    }))
})

/** Options running `sh -c script` (no param). */
const shScript = (
  script: string,
  options: Partial<CommandCollector.CommandCollectorOptions> = {}
): CommandCollector.CommandCollectorOptions => ({ name: "tool", command: "/bin/sh", args: ["-c", script], ...options })

/** Runs `f` with the collector and the in-memory ProcessGroups it records its groups in. */
const withGroups = <A, E>(
  options: CommandCollector.CommandCollectorOptions,
  f: (collector: Collector, groups: ProcessGroups.ProcessGroupsService) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const groups = yield* ProcessGroups.makeMemory()
    const collector = yield* CommandCollector.make(options).pipe(
      Effect.provideService(ProcessGroups.ProcessGroups, groups)
    )
    return yield* f(collector, groups)
  })

describe("command collector: process groups", () => {
  it.live("a grandchild that outlives a successful run (output redirected, in the background) is killed", () => {
    const pids = join(scratch, "survivor-success.pids")
    return Effect.gen(function*() {
      const events = yield* run(shScript(`sleep 300 >/dev/null 2>&1 & echo $! >> ${pids}; echo '[{"id":1}]'`))
      assert.strictEqual(events.length, 1, "the run succeeded")
      const grandchild = readPids(pids)[0]
      assert.isDefined(grandchild)
      // SIGKILL was sent before the run returned; the kernel may take a moment to finish it
      yield* waitUntil("the grandchild to be gone", () => !isAlive(grandchild!))
    }).pipe(cleaningUp(pids))
  })

  it.live("a grandchild that keeps stdout open does not hold the run: it is killed when the command exits", () => {
    const pids = join(scratch, "survivor-stdout.pids")
    return Effect.gen(function*() {
      // the background sleep inherits stdout: without the kill, stdout would stay open for 300 s
      const events = yield* run(shScript(`sleep 300 & echo $! >> ${pids}; echo '[{"id":1}]'`))
      assert.strictEqual(events.length, 1)
      yield* waitUntil("the grandchild to be gone", () => !isAlive(readPids(pids)[0]!))
    }).pipe(cleaningUp(pids))
  })

  it.live("grandchildren are killed after a failed run (non-zero exit, invalid output) too", () => {
    const pids = join(scratch, "survivor-failure.pids")
    return Effect.gen(function*() {
      const failed = yield* runError(shScript(`sleep 300 >/dev/null 2>&1 & echo $! >> ${pids}; exit 3`))
      assert.include(failed.message, "exited with code 3")
      const invalid = yield* runError(shScript(`sleep 300 >/dev/null 2>&1 & echo $! >> ${pids}; echo nope`))
      assert.include(invalid.message, "invalid JSON")
      assert.strictEqual(readPids(pids).length, 2)
      yield* waitUntil("the grandchildren to be gone", () => readPids(pids).every((pid) => !isAlive(pid)))
    }).pipe(cleaningUp(pids))
  })

  it.live("an interrupted run kills the whole group at once, grandchildren included", () => {
    const pids = join(scratch, "interrupted-group.pids")
    return Effect.gen(function*() {
      const script = `trap '' TERM; sleep 300 >/dev/null 2>&1 & echo $! >> ${pids}; echo $$ >> ${pids}; sleep 300`
      const fiber = yield* Effect.fork(run(shScript(script)))
      yield* waitUntil("the command and its grandchild to start", () => readPids(pids).length === 2)
      const interrupted = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("30 seconds"), Effect.option)
      assert.isTrue(Option.isSome(interrupted), "the interruption completed")
      // SIGKILL is sent before the interruption completes: the processes cannot outlive it for long
      yield* waitUntil("the command and its grandchild to be gone", () => readPids(pids).every((pid) => !isAlive(pid)))
    }).pipe(cleaningUp(pids))
  })

  it.live("the group is recorded while the command runs, and forgotten when the run ends", () => {
    const pidFile = join(scratch, "tracked.pid")
    return withGroups(
      shScript(`echo $$ > ${pidFile}; exec sleep 300`, { name: "tracked" }),
      (collector, groups) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(collect(collector.fetch(undefined)))
          yield* waitUntil("the command to start", () => readPids(pidFile).length === 1)
          const pid = readPids(pidFile)[0]!
          // the pid file is written by the command itself, after the record was made
          const tracked = yield* groups.list
          assert.deepStrictEqual(tracked.map((g) => [g.pgid, g.instance]), [[pid, "tracked"]])
          assert.include(tracked[0]!.command, "/bin/sh -c")
          yield* Fiber.interrupt(fiber)
          assert.deepStrictEqual(yield* groups.list, [])
          yield* waitUntil("the command to be gone", () => !isAlive(pid))
        })
    ).pipe(cleaningUp(pidFile))
  })

  it.live("a process that leaves the group (setsid) and holds stdout: CollectorError after the drain grace", () => {
    const pids = join(scratch, "escaped.pids")
    return Effect.gen(function*() {
      // setsid -f: a new session, so the group kill misses it; it keeps stdout open. The command exits
      // only once the escapee wrote its pid, i.e. after it left the group (else the group kill gets it).
      const script = `setsid -f sh -c 'echo $$ >> ${pids}; exec sleep 300'; ` +
        `while [ ! -s ${pids} ]; do sleep 0.05; done; echo '[]'`
      const error = yield* runError(shScript(script))
      assert.instanceOf(error, CollectorError)
      assert.include(error.message, "stdout or stderr was still open 2s later")
      yield* waitUntil("the escaped process to write its pid", () => readPids(pids).length === 1)
    }).pipe(cleaningUp(pids))
  })

  it.live("a param with a NUL byte, or a missing working directory: CollectorError, nothing started", () =>
    Effect.gen(function*() {
      const nul = yield* runError(nodeScript(`console.log("[]")`), "a\u0000b")
      assert.instanceOf(nul, CollectorError)
      assert.include(nul.message, "could not be started")
      const missing = join(scratch, "no-such-dir")
      const cwd = yield* runError(nodeScript(`console.log("[]")`, { cwd: missing }))
      assert.instanceOf(cwd, CollectorError)
      assert.include(cwd.message, `could not be started: working directory ${missing}`)
    }))

  it.live("killed by a signal: CollectorError naming the signal", () =>
    Effect.gen(function*() {
      const error = yield* runError(shScript(`kill -9 $$`))
      assert.instanceOf(error, CollectorError)
      assert.include(error.message, "was terminated by signal SIGKILL")
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
