import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer } from "effect"
import * as AppConfig from "../../src/app/config/AppConfig.js"
import { SchedulerAdapter } from "../../src/app/scheduling/SchedulerAdapter.js"
import * as Service from "../../src/app/Service.js"
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
      assert.isTrue(Duration.equals(collector.interval, Duration.minutes(30)))
      const empty = yield* AppConfig.parse("collectors: []", "empty.yaml")
      assert.deepStrictEqual(empty.collectors, [])
    }))

  it.effect("accepts durations in several spellings", () =>
    Effect.gen(function*() {
      for (
        const [text, millis] of [["90s", 90_000], ["1.5h", 5_400_000], ["2 minutes", 120_000], ["500ms", 500], [
          "1 day",
          86_400_000
        ]] as const
      ) {
        const config = yield* AppConfig.parse(feed(`    interval: ${text}\n`), "d.yaml")
        assert.strictEqual(Duration.toMillis(config.collectors[0]!.interval), millis, text)
      }
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
        /collectors\[0\]\.concurrency: .*greater than or equal to 1/
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
})

describe("USE_RAY_SCHEDULER picks the adapter", () => {
  const config = AppConfig.parse("collectors: []", "t.yaml")
  const typeWith = (env: ReadonlyArray<readonly [string, string]>) =>
    Effect.gen(function*() {
      const app = yield* config
      const layer = Service.adapterLayer(app).pipe(Layer.provide(runnerLayer([])))
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
})
