import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer, Option, Redacted, Stream } from "effect"
import * as os from "node:os"
import type { Collector } from "../../src/app/collectors/Collector.js"
import * as AppConfig from "../../src/app/config/AppConfig.js"
import * as CollectorRunner from "../../src/app/scheduling/CollectorRunner.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as Service from "../../src/app/Service.js"
import * as Database from "../../src/app/storage/Database.js"
import { runnerLayer } from "./support.js"

const reason = (text: string) =>
  Effect.map(Effect.either(AppConfig.parse(text, "bad.yaml")), (result) => {
    assert.isTrue(Either.isLeft(result), "expected the configuration to be rejected")
    const error = Either.isLeft(result) ? result.left : undefined
    assert.strictEqual(error?._tag, "ConfigFileError")
    assert.strictEqual(error?.file, "bad.yaml")
    assert.match(error!.message, /^Invalid configuration file bad\.yaml:/)
    return error!.message
  })

const feed = (extra: string) => `collectors:\n  - type: feed\n    feeds: [{ url: a.xml }]\n${extra}`

describe("AppConfig", () => {
  it.effect("the shipped example configuration is valid", () =>
    Effect.gen(function*() {
      const config = yield* AppConfig.load("rayinfo.example.yaml")
      assert.strictEqual(config.collectors.length, 2)
      const [news, search] = config.collectors
      assert.strictEqual(news?.type, "feed")
      assert.strictEqual(search?.type, "command")
      if (search?.type === "command") {
        assert.deepStrictEqual(search.args, ["examples/search-tool.mjs", "{param}"])
        assert.deepStrictEqual(search.jobs.map((j) => j.param), ["effect schedule", "sqlite heap"])
        assert.isTrue(Duration.equals(search.jobs[1]!.interval!, Duration.minutes(2)))
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("fills defaults", () =>
    Effect.gen(function*() {
      const config = yield* AppConfig.parse(feed(""), "min.yaml")
      assert.strictEqual(config.storage.path, "./data/rayinfo.db")
      assert.strictEqual(config.dedup.capacity, 10_000)
      assert.isTrue(Duration.equals(config.scheduler.maxSleep, Duration.minutes(1)))
      const collector = config.collectors[0]!
      assert.strictEqual(collector.name, "feed")
      assert.strictEqual(collector.concurrency, 1)
      // absent in the file (so that `interval` + `cron` can be refused); FeedCollector.make applies 30 minutes
      assert.isUndefined(collector.interval)
      assert.isUndefined(collector.cron)
      assert.isUndefined(collector.misfire)
      const empty = yield* AppConfig.parse("collectors: []", "empty.yaml")
      assert.deepStrictEqual(empty.collectors, [])
    }))

  it.effect("accepts durations in several spellings", () =>
    Effect.gen(function*() {
      for (
        const [text, millis] of [["90s", 90_000], ["1.5h", 5_400_000], ["2 minutes", 120_000], ["1 second", 1000], [
          "1 day",
          86_400_000
        ], ["365 days", 365 * 86_400_000]] as const
      ) {
        const config = yield* AppConfig.parse(feed(`    interval: ${text}\n`), "d.yaml")
        assert.strictEqual(Duration.toMillis(config.collectors[0]!.interval!), millis, text)
      }
      // below the interval's minimum of 1 second: spelled out on a timeout
      const timeout = yield* AppConfig.parse(feed("    timeout: 500ms\n"), "d.yaml")
      assert.strictEqual(Duration.toMillis(timeout.collectors[0]!.timeout), 500)
    }))

  it.effect("a bad value is an error naming the file, the path and what was expected", () =>
    Effect.gen(function*() {
      const message = yield* reason(feed("    interval: soon\n"))
      assert.strictEqual(
        message,
        "Invalid configuration file bad.yaml:\n" +
          "  collectors[0].interval: Expected a positive duration such as \"30 minutes\", \"1 hour\" or \"90s\", got \"soon\""
      )
      assert.match(
        yield* reason(feed("    concurrency: 0\n")),
        /collectors\[0\]\.concurrency: Expected an integer from 1 to 1000, got 0$/
      )
      assert.match(yield* reason(feed("    interval: -5 minutes\n")), /collectors\[0\]\.interval: Expected a positive/)
      // several problems are all reported
      const both = yield* reason(feed("    interval: soon\n    maxBytes: lots\n"))
      assert.match(both, /collectors\[0\]\.interval:/)
      assert.match(both, /collectors\[0\]\.maxBytes:/)
    }))

  it.effect("an unknown key (a typo) is an error naming it", () =>
    Effect.gen(function*() {
      const message = yield* reason(feed("    intervall: 5 minutes\n"))
      assert.match(message, /collectors\[0\]\.intervall: is unexpected, expected: "type" \| "name" \| "interval"/)
    }))

  it.effect("an unknown collector type, a missing field and a YAML syntax error are explained", () =>
    Effect.gen(function*() {
      assert.match(yield* reason("collectors:\n  - type: ftp\n"), /collectors\[0\]\.type: Expected "feed"/)
      assert.match(
        yield* reason("collectors:\n  - type: command\n    name: s\n"),
        /collectors\[0\]\.command: is missing/
      )
      assert.match(yield* reason("collector: []\n"), /collectors: is missing/)
      assert.match(yield* reason("collectors: [\n"), /YAML syntax error/)
      assert.match(yield* reason("storage: { path: a }\nstorage: { path: b }\ncollectors: []"), /YAML syntax error/)
    }))

  it.effect("duplicate collector names and duplicate jobs are rejected", () =>
    Effect.gen(function*() {
      assert.match(
        yield* reason("collectors:\n  - { type: feed, feeds: [{url: a}] }\n  - { type: feed, feeds: [{url: b}] }\n"),
        /collectors\[1\]\.name: collector name "feed" is used twice/
      )
      assert.match(
        yield* reason("collectors:\n  - { type: feed, feeds: [{url: a}, {url: a}] }\n"),
        /collectors\[0\]\.feeds\[1\]: "a" is listed twice/
      )
    }))

  it.effect("a missing file is an error naming it", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(AppConfig.load("does/not/exist.yaml"))
      assert.isTrue(Either.isLeft(result))
      assert.match(Either.isLeft(result) ? result.left.message : "", /does\/not\/exist\.yaml:\ncannot read the file/)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("environment: defaults, and values from the environment", () =>
    Effect.gen(function*() {
      const defaults = yield* AppConfig.environment.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      assert.deepStrictEqual(
        [defaults.port, defaults.host, defaults.configPath, defaults.useRayScheduler],
        [8000, "127.0.0.1", "./rayinfo.yaml", true]
      )
      const set = yield* AppConfig.environment.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([["PORT", "9001"], ["USE_RAY_SCHEDULER", "false"], ["RAYINFO_CONFIG", "x.yaml"], [
              "LOG_LEVEL",
              "Debug"
            ]])
          )
        )
      )
      assert.deepStrictEqual([set.port, set.useRayScheduler, set.configPath], [9001, false, "x.yaml"])
      const bad = yield* Effect.either(
        AppConfig.environment.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PORT", "eighty"]]))))
      )
      assert.isTrue(Either.isLeft(bad))
      assert.match(String(Either.isLeft(bad) ? bad.left : ""), /PORT/)
    }))

  it.effect("environment: LOG_FORMAT is pretty by default, json or logfmt in any case, nothing else", () =>
    Effect.gen(function*() {
      const read = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.either(AppConfig.environment.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))))
      const formatOf = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.map(read(entries), (result) => Either.isRight(result) ? result.right.logFormat : "error")
      assert.deepStrictEqual(
        [
          yield* formatOf([]),
          yield* formatOf([["LOG_FORMAT", "JSON"]]),
          yield* formatOf([["LOG_FORMAT", " logfmt "]]),
          yield* formatOf([["LOG_FORMAT", "Pretty"]])
        ],
        ["pretty", "json", "logfmt", "pretty"]
      )
      const bad = yield* read([["LOG_FORMAT", "yaml"]])
      assert.match(String(Either.isLeft(bad) ? bad.left : ""), /LOG_FORMAT.*Expected pretty, json or logfmt/)
    }))

  it.effect("environment: cluster mode only with RAYINFO_DATABASE_URL; its runner settings and their errors", () =>
    Effect.gen(function*() {
      const read = (entries: ReadonlyArray<[string, string]>) =>
        Effect.either(AppConfig.environment.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))))
      const none = yield* read([])
      assert.isTrue(Either.isRight(none) && Option.isNone(none.right.cluster), "no URL: one process on SQLite")
      const defaults = yield* read([["RAYINFO_DATABASE_URL", " postgres://u:pw@db:5432/rayinfo "]])
      assert.isTrue(Either.isRight(defaults) && Option.isSome(defaults.right.cluster))
      const cluster = Either.isRight(defaults) ? Option.getOrThrow(defaults.right.cluster) : undefined
      assert.strictEqual(Redacted.value(cluster!.databaseUrl), "postgres://u:pw@db:5432/rayinfo")
      assert.strictEqual(String(cluster!.databaseUrl), "<redacted>")
      assert.deepStrictEqual(
        [cluster!.runnerHost, cluster!.runnerPort, Duration.toMillis(cluster!.runnerLease)],
        [os.hostname(), 34431, 35_000]
      )
      const set = yield* read([
        ["RAYINFO_DATABASE_URL", "postgresql://db/rayinfo"],
        ["RAYINFO_RUNNER_HOST", "10.0.0.7"],
        ["RAYINFO_RUNNER_PORT", "40000"],
        ["RAYINFO_RUNNER_LEASE", "10 seconds"]
      ])
      const custom = Either.isRight(set) ? Option.getOrThrow(set.right.cluster) : undefined
      assert.deepStrictEqual(
        [custom?.runnerHost, custom?.runnerPort, custom && Duration.toMillis(custom.runnerLease)],
        ["10.0.0.7", 40000, 10_000]
      )
      const seconds = yield* read([["RAYINFO_DATABASE_URL", "postgres://db/x"], ["RAYINFO_RUNNER_LEASE", "7"]])
      assert.strictEqual(
        Either.isRight(seconds) ? Duration.toMillis(Option.getOrThrow(seconds.right.cluster).runnerLease) : 0,
        7000
      )
      const failures: Array<[ReadonlyArray<[string, string]>, RegExp]> = [
        [
          [["RAYINFO_DATABASE_URL", "sqlite:///x.db"]],
          /RAYINFO_DATABASE_URL.*Expected a PostgreSQL URL.*got the scheme "sqlite:"/
        ],
        [[["RAYINFO_DATABASE_URL", "postgres://db/x"], ["RAYINFO_RUNNER_PORT", "70000"]], /RAYINFO_RUNNER_PORT/],
        [[["RAYINFO_DATABASE_URL", "postgres://db/x"], ["RAYINFO_RUNNER_LEASE", "0 seconds"]], /RAYINFO_RUNNER_LEASE/],
        [[["RAYINFO_DATABASE_URL", "postgres://db/x"], ["RAYINFO_RUNNER_LEASE", "soon"]], /positive duration/]
      ]
      for (const [entries, pattern] of failures) {
        const result = yield* read(entries)
        assert.isTrue(Either.isLeft(result), `accepted ${JSON.stringify(entries)}`)
        assert.match(String(Either.isLeft(result) ? result.left : ""), pattern)
      }
      const secret = yield* read([["RAYINFO_DATABASE_URL", "mysql://u:hunter2@db/x"]])
      assert.notInclude(String(Either.isLeft(secret) ? secret.left : ""), "hunter2", "the URL is not echoed")
    }))
})

/** The problem lines of a rejected configuration (without the header). */
const lines = (text: string) => Effect.map(reason(text), (message) => message.split("\n").slice(1))

describe("AppConfig: every problem is one clean line naming the path and what was expected", () => {
  it.effect("wrong types at every level, null sections, scalars for lists, lists for maps, nested unknown keys", () =>
    Effect.gen(function*() {
      const cases: Array<[string, Array<string>]> = [
        ["storage: { path: 42 }\ncollectors: []", ["  storage.path: Expected a non-empty string, got 42"]],
        ["storage: null\ncollectors: []", [
          "  storage: Expected a map with keys \"path\", \"busyTimeout\", got null"
        ]],
        ["storage: { path: a, extra: 1 }\ncollectors: []", [
          "  storage.extra: is unexpected, expected: \"path\" | \"busyTimeout\""
        ]],
        ["collectors: 5", ["  collectors: Expected a list of collectors, got 5"]],
        ["collectors: { a: 1 }", ["  collectors: Expected a list of collectors, got a map"]],
        ["[]", [
          "  (top level): Expected a map with keys \"storage\", \"retry\", \"shutdown\", \"dedup\", \"scheduler\", \"collectors\", got a list"
        ]],
        ["dedup: [1]\ncollectors: []", ["  dedup: Expected a map with keys \"capacity\", got a list"]],
        ["collectors:\n  - 5\n  - null\n  - [a]\n", [
          "  collectors[0]: Expected a collector (a map with type: feed or type: command), got 5",
          "  collectors[1]: Expected a collector (a map with type: feed or type: command), got null",
          "  collectors[2]: Expected a collector (a map with type: feed or type: command), got a list"
        ]],
        ["collectors:\n  - type: feed\n    feeds: [1, {url: 2}, {url: x, foo: 1}]\n    debug: yes please\n", [
          "  collectors[0].debug: Expected true or false, got \"yes please\"",
          "  collectors[0].feeds[0]: Expected a feed (a map with keys \"url\", \"interval\", \"cron\", \"timeZone\"), got 1",
          "  collectors[0].feeds[1].url: Expected an http(s) URL or a local file path, got 2",
          "  collectors[0].feeds[2].foo: is unexpected, expected: \"url\" | \"interval\" | \"cron\" | \"timeZone\""
        ]],
        ["collectors:\n  - type: feed\n    feeds: a.xml\n", [
          "  collectors[0].feeds: Expected a list of feeds, got \"a.xml\""
        ]],
        [
          "collectors:\n  - type: command\n    name: s\n    command: x\n    args: [1, {a: 1}]\n    env: {A: 1}\n    jobs: 4\n    interval: 5\n",
          [
            "  collectors[0].args[0]: Expected a string, got 1",
            "  collectors[0].args[1]: Expected a string, got a map",
            "  collectors[0].jobs: Expected a list of jobs, got 4",
            "  collectors[0].interval: Expected a duration such as \"30 minutes\", \"1 hour\" or \"90s\", got 5",
            "  collectors[0].env.A: Expected a string, got 1"
          ]
        ],
        [
          "collectors:\n  - type: command\n    name: s\n    command: x\n    jobs: [{ param: a, extra: { deep: 1 } }]\n",
          [
            "  collectors[0].jobs[0].extra: is unexpected, expected: \"param\" | \"interval\" | \"cron\" | \"timeZone\""
          ]
        ],
        ["scheduler: { maxSleep: null }\ncollectors: []", [
          "  scheduler.maxSleep: Expected a duration such as \"30 minutes\", \"1 hour\" or \"90s\", got null"
        ]]
      ]
      for (const [text, expected] of cases) {
        assert.deepStrictEqual(yield* lines(text), expected, text)
      }
    }))

  it.effect("no schema internals in any message, whatever the input", () =>
    Effect.gen(function*() {
      const inputs = [
        "storage: 1\nretry: []\nshutdown: x\ndedup: null\nscheduler: true\ncollectors: {}",
        "collectors:\n  - type: feed\n    name: [x]\n    interval: {a: 1}\n    concurrency: x\n    timeout: []\n" +
        "    maxBytes: null\n    userAgent: 1\n    maxRedirects: 1.5\n    retryAfter: true\n    debug: 1\n    feeds: [[], null, {}]\n",
        "collectors:\n  - type: command\n    name: {}\n    command: []\n    args: a\n    jobs: {x: 1}\n    quotaExitCodes: [x, 1.5]\n" +
        "    quotaField: []\n    keyField: 1\n    cwd: null\n    env: [a]\n    resultsField: {}\n",
        "collectors:\n  - {}\n  - { type: null }\n  - { type: [feed] }\n  - { type: feed, feeds: [{ url: a }], storage: { path: x } }",
        "retry: { minDelay: 1, maxDelay: [] }\nshutdown: { timeout: {} }\nstorage: { busyTimeout: null }\ncollectors: []",
        "\"just a string\"",
        "42",
        "collectors: null"
      ]
      const noise =
        /Encoded side|Type side|<->|ReadonlyArray|Expected undefined|actual|Struct|readonly|NonEmptyTrimmedString|\{ \|/
      for (const text of inputs) {
        const problems = yield* lines(text)
        assert.isAbove(problems.length, 0, text)
        for (const line of problems) {
          assert.match(line, /^ {2}(\(top level\)|[A-Za-z][\w.[\]]*): \S/, `${text} -> ${line}`)
          assert.notMatch(line, noise, `${text} -> ${line}`)
        }
        assert.strictEqual(new Set(problems).size, problems.length, `duplicate lines for ${text}`)
      }
    }))

  it.effect("every clash is reported, not only the first", () =>
    Effect.gen(function*() {
      const problems = yield* lines(
        "collectors:\n  - { type: feed, feeds: [{url: a}, {url: a}, {url: b}, {url: b}] }\n" +
          "  - { type: feed, feeds: [{url: c}] }\n  - { type: feed, feeds: [{url: d}] }\n" +
          "  - { type: command, name: s, command: x, jobs: [{param: q}, {param: q}] }\n"
      )
      assert.deepStrictEqual(problems, [
        "  collectors[0].feeds[1]: \"a\" is listed twice",
        "  collectors[0].feeds[3]: \"b\" is listed twice",
        "  collectors[1].name: collector name \"feed\" is used twice (also collectors[0])",
        "  collectors[2].name: collector name \"feed\" is used twice (also collectors[0])",
        "  collectors[3].jobs[1]: \"q\" is listed twice"
      ])
    }))

  it.effect("feed URLs: http(s) with a host, file: URLs and local paths; other schemes are errors", () =>
    Effect.gen(function*() {
      const url = (u: string) => `collectors:\n  - type: feed\n    feeds: [{ url: ${JSON.stringify(u)} }]\n`
      for (
        const ok of [
          "https://example.org/rss",
          "HTTP://example.org:8080/a?b=c",
          "file:///tmp/x.xml",
          "a.xml",
          "/abs/a.xml"
        ]
      ) {
        yield* AppConfig.parse(url(ok), "ok.yaml")
      }
      assert.deepStrictEqual(yield* lines(url("http://")), [
        "  collectors[0].feeds[0].url: Expected an http(s) URL with a host, got \"http://\""
      ])
      assert.deepStrictEqual(yield* lines(url("https://exa mple.org/")), [
        "  collectors[0].feeds[0].url: Expected an http(s) URL with a host, got \"https://exa mple.org/\""
      ])
      assert.match(
        (yield* lines(url("ftp://example.org/rss")))[0]!,
        /feeds\[0\]\.url: unsupported URL scheme "ftp:" \(a feed is an http\(s\) URL or a local file\)/
      )
      assert.match((yield* lines(url("file://remote-host/x.xml")))[0]!, /feeds\[0\]\.url: invalid file URL/)
    }))
})

describe("AppConfig: instance ids are unambiguous (bug 5)", () => {
  it.effect("collector \"a:b\" with feed \"c\" and collector \"a\" with feed \"b:c\" (both a:b:c) are rejected", () =>
    Effect.gen(function*() {
      const problems = yield* lines(
        "collectors:\n  - { type: feed, name: 'a:b', feeds: [{url: c}] }\n  - { type: feed, name: a, feeds: [{url: 'b:c'}] }\n"
      )
      assert.deepStrictEqual(problems, [
        "  collectors[0].name: Expected a collector name without \":\" (instance ids are name:param), got \"a:b\""
      ])
      const command = yield* lines("collectors:\n  - { type: command, name: 'x:y', command: x }\n")
      assert.match(command[0]!, /collectors\[0\]\.name: Expected a collector name without ":"/)
    }))

  it.effect("defence in depth: crossCheck reports any instance id that two jobs share", () =>
    Effect.gen(function*() {
      const valid = yield* AppConfig.parse(
        "collectors:\n  - { type: feed, name: p, feeds: [{url: c}] }\n  - { type: feed, name: q, feeds: [{url: 'b:c'}] }\n" +
          "  - { type: command, name: r, command: x }\n  - { type: command, name: s, command: x }\n",
        "ok.yaml"
      )
      assert.deepStrictEqual(AppConfig.crossCheck(valid), [])
      const [p, q, r, s] = valid.collectors
      // names the schema would refuse, to reach the last line of defence
      const forged: AppConfig.AppConfig = {
        ...valid,
        collectors: [{ ...p!, name: "a:b" }, { ...q!, name: "a" }, { ...r!, name: "a:b:c" }, { ...s!, name: "s" }]
      }
      assert.deepStrictEqual(AppConfig.crossCheck(forged), [
        "  collectors[1].feeds[0]: instance id \"a:b:c\" is also the id of collectors[0].feeds[0]",
        "  collectors[2]: instance id \"a:b:c\" is also the id of collectors[0].feeds[0]"
      ])
    }))
})

describe("AppConfig: cron, timeZone and misfire (issue 10)", () => {
  const collector = (fields: Partial<Collector>): Collector => ({
    name: "c",
    defaultInterval: Duration.minutes(30),
    fetch: () => Stream.empty,
    ...fields
  })
  const timings = (c: Collector, misfire?: CollectorRunner.JobMisfire) =>
    CollectorRunner.instancesOf([{ collector: c, concurrency: 1, misfire }]).map((i) => [i.id, i.timing, i.misfire])

  it.effect("decode at the collector and the job level; misfire has no default in the file", () =>
    Effect.gen(function*() {
      const config = yield* AppConfig.parse(
        "collectors:\n  - type: feed\n    cron: '*/15 8-18 * * 1-5'\n    timeZone: Europe/Berlin\n" +
          "    misfire: { policy: all, grace: 6 hours }\n" +
          "    feeds: [{ url: a.xml }, { url: b.xml, cron: '0 7 * * *', timeZone: America/New_York }, { url: c.xml, interval: 1h }]\n" +
          "  - type: command\n    name: s\n    command: x\n    misfire: {}\n    jobs: [{ param: q, cron: '0 0 12 * * *' }]\n",
        "ok.yaml"
      )
      const [feeds, command] = config.collectors
      assert.strictEqual(feeds!.cron, "*/15 8-18 * * 1-5")
      assert.strictEqual(feeds!.timeZone, "Europe/Berlin")
      assert.deepStrictEqual(feeds!.misfire, { policy: "all", grace: Duration.hours(6) })
      assert.strictEqual(feeds!.type === "feed" ? feeds!.feeds[1]!.timeZone : undefined, "America/New_York")
      assert.deepStrictEqual(
        command!.misfire,
        { policy: "coalesce" },
        "an empty misfire map: policy coalesce, no grace"
      )
      assert.deepStrictEqual(AppConfig.legacySchedulerProblems(config), [
        "  collectors[0].cron: needs the RayScheduler (USE_RAY_SCHEDULER=true)",
        "  collectors[0].misfire: needs the RayScheduler (USE_RAY_SCHEDULER=true)",
        "  collectors[0].feeds[1].cron: needs the RayScheduler (USE_RAY_SCHEDULER=true)",
        "  collectors[1].misfire: needs the RayScheduler (USE_RAY_SCHEDULER=true)",
        "  collectors[1].jobs[0].cron: needs the RayScheduler (USE_RAY_SCHEDULER=true)"
      ])
      assert.deepStrictEqual(AppConfig.legacySchedulerProblems(yield* AppConfig.parse(feed(""), "ok.yaml")), [])
    }))

  it("a job's timing: its cron, its interval, the collector's cron, the collector's interval; zones from the job, the collector, else UTC", () => {
    const hourly: CollectorRunner.JobTiming = { _tag: "Every", interval: Duration.hours(1) }
    assert.deepStrictEqual(
      timings(
        collector({
          cron: "0 7 * * *",
          timeZone: "Europe/Berlin",
          jobs: [
            { param: "a" },
            { param: "b", interval: Duration.hours(1) },
            { param: "c", cron: "0 8 * * *" },
            { param: "d", cron: "0 9 * * *", timeZone: "Asia/Tokyo" }
          ]
        }),
        { policy: "skip" }
      ),
      [
        ["c:a", { _tag: "Cron", cron: "0 7 * * *", timeZone: "Europe/Berlin" }, { policy: "skip" }],
        ["c:b", hourly, { policy: "skip" }],
        ["c:c", { _tag: "Cron", cron: "0 8 * * *", timeZone: "Europe/Berlin" }, { policy: "skip" }],
        ["c:d", { _tag: "Cron", cron: "0 9 * * *", timeZone: "Asia/Tokyo" }, { policy: "skip" }]
      ]
    )
    assert.deepStrictEqual(timings(collector({ jobs: [{ param: "a", cron: "0 7 * * *" }, { param: "b" }] })), [
      ["c:a", { _tag: "Cron", cron: "0 7 * * *", timeZone: "UTC" }, { policy: "coalesce" }],
      ["c:b", { _tag: "Every", interval: Duration.minutes(30) }, { policy: "coalesce" }]
    ])
    assert.deepStrictEqual(timings(collector({ defaultInterval: Duration.hours(1) })), [["c", hourly, {
      policy: "coalesce"
    }]])
  })

  it.effect("interval with cron at one level, a timeZone without cron, a bad cron, an unknown zone, a bad misfire: one line each", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
        [feed("    interval: 1h\n    cron: '0 * * * *'\n"), [
          "  collectors[0].cron: cannot be combined with interval (a job runs every interval or at cron times)"
        ]],
        ["collectors:\n  - type: feed\n    feeds: [{ url: a.xml, interval: 1h, cron: '0 * * * *' }]\n", [
          "  collectors[0].feeds[0].cron: cannot be combined with interval (a job runs every interval or at cron times)"
        ]],
        [feed("    timeZone: Europe/Berlin\n"), [
          "  collectors[0].timeZone: has no effect: neither the collector nor any of its jobs uses cron"
        ]],
        ["collectors:\n  - { type: command, name: s, command: x, jobs: [{ param: q, timeZone: UTC }] }\n", [
          "  collectors[0].jobs[0].timeZone: has no effect: this job runs every interval, not at cron times"
        ]],
        [feed("    cron: '61 * * * *'\n"), [
          "  collectors[0].cron: Expected a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first): invalid cron expression \"61 * * * *\": Expected a value between 0 and 59"
        ]],
        [feed("    cron: '0 0 31 2 *'\n"), [
          "  collectors[0].cron: Expected a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first): cron expression \"0 0 31 2 *\" never fires"
        ]],
        [feed("    cron: '0 * * * *'\n    timeZone: Mars/Olympus\n"), [
          "  collectors[0].timeZone: Expected an IANA time zone name such as \"Europe/Berlin\" or \"UTC\", got \"Mars/Olympus\""
        ]],
        [feed("    misfire: { policy: later, grace: 0s }\n"), [
          "  collectors[0].misfire.policy: Expected \"coalesce\", \"all\" or \"skip\", got \"later\"",
          "  collectors[0].misfire.grace: Expected a positive duration such as \"30 minutes\", \"1 hour\" or \"90s\", got \"0s\""
        ]],
        [feed("    misfire: { grace: 400 days, when: now }\n"), [
          "  collectors[0].misfire.when: is unexpected, expected: \"policy\" | \"grace\"",
          "  collectors[0].misfire.grace: Expected a duration from 1 second to 365 days, got \"400 days\""
        ]],
        [feed("    misfire: coalesce\n"), [
          "  collectors[0].misfire: Expected a map with keys \"policy\", \"grace\", got \"coalesce\""
        ]]
      ]
      for (const [text, expected] of cases) {
        assert.deepStrictEqual(yield* lines(text), expected, text)
      }
    }))
})

describe("AppConfig: bounds (bug 13)", () => {
  const command = (extra: string) => `collectors:\n  - type: command\n    name: s\n    command: x\n${extra}`

  it.effect("every duration is bounded, with a message", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string]> = [
        [
          feed("    interval: 99999999999999999999 weeks\n"),
          "  collectors[0].interval: Expected a duration from 1 second to 365 days, got \"99999999999999999999 weeks\""
        ],
        [
          feed("    interval: 500ms\n"),
          "  collectors[0].interval: Expected a duration from 1 second to 365 days, got \"500ms\""
        ],
        [
          feed("    interval: 366 days\n"),
          "  collectors[0].interval: Expected a duration from 1 second to 365 days, got \"366 days\""
        ],
        [
          feed("    interval: " + "9".repeat(400) + "s\n"),
          // long values are shortened in messages
          `  collectors[0].interval: Expected a duration from 1 second to 365 days, got "${"9".repeat(75)}..."`
        ],
        [
          "collectors:\n  - type: feed\n    feeds: [{ url: a.xml, interval: 53 weeks }]\n",
          "  collectors[0].feeds[0].interval: Expected a duration from 1 second to 365 days, got \"53 weeks\""
        ],
        [
          command("    jobs: [{ param: q, interval: 0.5s }]\n"),
          "  collectors[0].jobs[0].interval: Expected a duration from 1 second to 365 days, got \"0.5s\""
        ],
        [
          feed("    timeout: 25 hours\n"),
          "  collectors[0].timeout: Expected a duration of at most 24 hours, got \"25 hours\""
        ],
        [
          command("    timeout: 2 days\n"),
          "  collectors[0].timeout: Expected a duration of at most 24 hours, got \"2 days\""
        ],
        [
          feed("    retryAfter: 2d\n"),
          "  collectors[0].retryAfter: Expected a duration of at most 24 hours, got \"2d\""
        ],
        [
          command("    retryAfter: 1w\n"),
          "  collectors[0].retryAfter: Expected a duration of at most 24 hours, got \"1w\""
        ],
        [
          "scheduler: { maxSleep: 25 days }\ncollectors: []",
          "  scheduler.maxSleep: Expected a duration of at most 24 days, got \"25 days\""
        ],
        [
          "storage: { busyTimeout: 61 minutes }\ncollectors: []",
          "  storage.busyTimeout: Expected a duration of at most 1 hour, got \"61 minutes\""
        ],
        [
          "retry: { minDelay: 25h }\ncollectors: []",
          "  retry.minDelay: Expected a duration of at most 24 hours, got \"25h\""
        ],
        [
          "retry: { maxDelay: 2 days }\ncollectors: []",
          "  retry.maxDelay: Expected a duration of at most 24 hours, got \"2 days\""
        ],
        [
          "shutdown: { timeout: 2h }\ncollectors: []",
          "  shutdown.timeout: Expected a duration of at most 1 hour, got \"2h\""
        ],
        [
          "retry: { minDelay: 10 minutes, maxDelay: 5 minutes }\ncollectors: []",
          "  retry.maxDelay: must not be shorter than retry.minDelay (10m), got 5m"
        ]
      ]
      for (const [text, expected] of cases) assert.deepStrictEqual(yield* lines(text), [expected], text)
      // the upper bounds themselves are accepted
      const top = yield* AppConfig.parse(
        "storage: { busyTimeout: 1 hour }\nretry: { minDelay: 24 hours, maxDelay: 24 hours }\nshutdown: { timeout: 1 hour }\n" +
          "scheduler: { maxSleep: 24 days }\n" +
          feed("    interval: 365 days\n    timeout: 24 hours\n    retryAfter: 24 hours\n"),
        "top.yaml"
      )
      assert.strictEqual(Duration.toMillis(top.scheduler.maxSleep), 24 * 86_400_000)
      assert.strictEqual(Duration.toMillis(top.storage.busyTimeout), 3_600_000)
      assert.strictEqual(Duration.toMillis(top.shutdown.timeout), 3_600_000)
      assert.strictEqual(Duration.toMillis(top.retry.minDelay), 86_400_000)
    }))

  it.effect("every number is bounded; 1e400, .nan and .inf cannot sneak in", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string]> = [
        [feed("    concurrency: 1001\n"), "  collectors[0].concurrency: Expected an integer from 1 to 1000, got 1001"],
        [feed("    concurrency: 1.5\n"), "  collectors[0].concurrency: Expected an integer from 1 to 1000, got 1.5"],
        [
          feed("    maxBytes: 1e400\n"),
          "  collectors[0].maxBytes: Expected an integer from 1 to 1073741824 (1 GiB), got Infinity"
        ],
        [
          feed("    maxBytes: 2147483648\n"),
          "  collectors[0].maxBytes: Expected an integer from 1 to 1073741824 (1 GiB), got 2147483648"
        ],
        [feed("    maxRedirects: 21\n"), "  collectors[0].maxRedirects: Expected an integer from 0 to 20, got 21"],
        [feed("    maxRedirects: -1\n"), "  collectors[0].maxRedirects: Expected an integer from 0 to 20, got -1"],
        [feed("    maxRedirects: .nan\n"), "  collectors[0].maxRedirects: Expected an integer from 0 to 20, got NaN"],
        [
          command("    maxOutputBytes: .inf\n"),
          "  collectors[0].maxOutputBytes: Expected an integer from 1 to 1073741824 (1 GiB), got Infinity"
        ],
        [
          command("    quotaExitCodes: [75, 256]\n"),
          "  collectors[0].quotaExitCodes[1]: Expected an integer from 0 to 255, got 256"
        ],
        [
          command("    concurrency: -.inf\n"),
          "  collectors[0].concurrency: Expected an integer from 1 to 1000, got -Infinity"
        ],
        [
          "dedup: { capacity: 1e400 }\ncollectors: []",
          "  dedup.capacity: Expected an integer from 1 to 10000000, got Infinity"
        ],
        [
          "dedup: { capacity: .nan }\ncollectors: []",
          "  dedup.capacity: Expected an integer from 1 to 10000000, got NaN"
        ],
        [
          "dedup: { capacity: 10000001 }\ncollectors: []",
          "  dedup.capacity: Expected an integer from 1 to 10000000, got 10000001"
        ]
      ]
      for (const [text, expected] of cases) assert.deepStrictEqual(yield* lines(text), [expected], text)
      const top = yield* AppConfig.parse(
        "dedup: { capacity: 10000000 }\n" +
          feed("    concurrency: 1000\n    maxBytes: 1073741824\n    maxRedirects: 20\n"),
        "top.yaml"
      )
      assert.strictEqual(top.dedup.capacity, 10_000_000)
    }))

  it.effect("strings handed to a process or an HTTP header cannot carry NUL bytes or line breaks", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* lines(command("    args: [\"a\\0b\"]\n")), [
        "  collectors[0].args[0]: Expected a string without NUL characters, got \"a\\u0000b\""
      ])
      assert.deepStrictEqual(yield* lines(command("    env: { \"A=B\": x }\n")), [
        "  collectors[0].env: Expected environment variable names without \"=\" or NUL characters, got \"A=B\""
      ])
      assert.deepStrictEqual(yield* lines(feed("    userAgent: \"a\\r\\nX-Evil: 1\"\n")), [
        "  collectors[0].userAgent: Expected a non-empty string without control characters, got \"a\\r\\nX-Evil: 1\""
      ])
    }))
})

describe("AppConfig: YAML aliases (bug 13)", () => {
  it.effect("an unresolved alias is a ConfigFileError, not a crash", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* lines("a: &x 1\nstorage: { path: *y }\ncollectors: []"), [
        "  YAML error: alias *y refers to no anchor (an anchor &y must come before it)"
      ])
    }))

  it.effect("more than 100 alias uses, or aliases that expand too much, are a ConfigFileError", () =>
    Effect.gen(function*() {
      const many = (n: number) =>
        `x-feed: &f { url: a.xml }\ncollectors:\n  - type: feed\n    feeds: [${Array(n).fill("*f").join(", ")}]\n`
      assert.deepStrictEqual(yield* lines(many(101)), [
        "  YAML error: more than 100 alias uses (*name); write the values out instead"
      ])
      // a "billion laughs" document: few alias uses, a huge expansion
      let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
      for (let i = 1; i < 9; i++) {
        const prev = String.fromCharCode(96 + i)
        const next = String.fromCharCode(97 + i)
        laughs += `${next}: &${next} [${Array(10).fill(`*${prev}`).join(", ")}]\n`
      }
      const expanded = yield* lines(laughs + "collectors: []\n")
      assert.strictEqual(expanded.length, 1)
      assert.match(expanded[0]!, /^ {2}YAML error: aliases expand to too much data/)
    }))
})

describe("USE_RAY_SCHEDULER picks the adapter", () => {
  const config = AppConfig.parse("collectors: []", "t.yaml")
  const typeWith = (env: ReadonlyArray<readonly [string, string]>) =>
    Effect.gen(function*() {
      const app = yield* config
      const environment = yield* AppConfig.environment
      // the RayScheduler's durable store lives in the service's database
      const layer = Service.adapterLayer(app, environment).pipe(
        Layer.provide(Layer.merge(runnerLayer([]), Layer.orDie(Database.layerMemory)))
      )
      const adapter = yield* Effect.provide(SchedulerAdapter, layer)
      return adapter.type
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(env))), Effect.scoped)

  it.effect("default: RayScheduler; false: LegacyScheduler; nonsense: a ConfigError", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* typeWith([]), "RayScheduler")
      assert.strictEqual(yield* typeWith([["USE_RAY_SCHEDULER", "true"]]), "RayScheduler")
      assert.strictEqual(yield* typeWith([["USE_RAY_SCHEDULER", "false"]]), "LegacyScheduler")
      const bad = yield* Effect.either(typeWith([["USE_RAY_SCHEDULER", "maybe"]]))
      assert.isTrue(Either.isLeft(bad))
      assert.match(String(Either.isLeft(bad) ? bad.left : ""), /USE_RAY_SCHEDULER/)
    }))

  it.effect("accepts exactly what the docs say: true or false, in any case; anything else names the variable", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* typeWith([["USE_RAY_SCHEDULER", "TRUE"]]), "RayScheduler")
      assert.strictEqual(yield* typeWith([["USE_RAY_SCHEDULER", "False"]]), "LegacyScheduler")
      for (const value of ["yes", "no", "1", "0", "on", "off", "y", "n", "", "truthy"]) {
        const viaLayer = yield* Effect.either(typeWith([["USE_RAY_SCHEDULER", value]]))
        assert.isTrue(Either.isLeft(viaLayer), `adapterLayer accepted ${JSON.stringify(value)}`)
        const viaEnvironment = yield* Effect.either(
          AppConfig.environment.pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["USE_RAY_SCHEDULER", value]])))
          )
        )
        assert.isTrue(Either.isLeft(viaEnvironment), `environment accepted ${JSON.stringify(value)}`)
        const message = String(Either.isLeft(viaEnvironment) ? viaEnvironment.left : "")
        assert.include(message, "USE_RAY_SCHEDULER")
        assert.include(message, `Expected true or false, got ${JSON.stringify(value)}`)
      }
    }))
})
