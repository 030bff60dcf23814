/**
 * The service's configuration: a YAML file decoded with Schema, plus a few
 * environment variables read through Effect's `Config`.
 *
 * Every option, its default and an example are in `rayinfo.example.yaml`
 * and `docs/configuration.md`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as LogLevel from "effect/LogLevel"
import * as LogLevelModule from "effect/LogLevel"
import type * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"

// ---- schemas ---------------------------------------------------------------

const DURATION_LONG = /^(\d+(?:\.\d+)?)\s*(millis?|milliseconds?|seconds?|secs?|minutes?|mins?|hours?|days?|weeks?)$/i
const DURATION_SHORT = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/i
const UNIT_MILLIS: Record<string, number> = {
  ms: 1,
  milli: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000
}

/** Parses "30 minutes", "1 hour", "90s", "1.5h", "500ms" into milliseconds. */
export const parseDurationMillis = (input: string): number | undefined => {
  const m = DURATION_LONG.exec(input.trim()) ?? DURATION_SHORT.exec(input.trim())
  if (m === null) return undefined
  const unit = UNIT_MILLIS[m[2]!.toLowerCase()]
  return unit === undefined ? undefined : Number(m[1]) * unit
}

/**
 * A positive duration written as text: `"30 minutes"`, `"1 hour"`, `"90s"`,
 * `"1.5h"`, `"500ms"` (units: ms, s, m, h, d, w or their English names).
 */
export const DurationString: Schema.Schema<Duration.Duration, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      const millis = parseDurationMillis(input)
      return millis === undefined || millis <= 0
        ? ParseResult.fail(
          new ParseResult.Type(
            ast,
            input,
            `Expected a positive duration such as "30 minutes", "1 hour" or "90s", got ${JSON.stringify(input)}`
          )
        )
        : ParseResult.succeed(Duration.millis(millis))
    },
    encode: (duration) => ParseResult.succeed(Duration.format(duration))
  }
).annotations({ identifier: "Duration" })

const PositiveInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))
const NonEmpty = Schema.NonEmptyTrimmedString

const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => A) =>
  Schema.optionalWith(schema, { default: value })

/** A parameterised job of a command collector. */
export const CommandJobConfig = Schema.Struct({
  /** The parameter (e.g. a search query), passed as one argv element. */
  param: NonEmpty,
  /** How often this job runs. Default: the collector's `interval`. */
  interval: Schema.optional(DurationString)
})

/** A feed of the feed collector. */
export const FeedConfig = Schema.Struct({
  /** An http(s) URL, or a path to a local RSS/Atom file (relative to the working directory). */
  url: NonEmpty,
  /** How often this feed is fetched. Default: the collector's `interval`. */
  interval: Schema.optional(DurationString)
})

/** `type: feed` — RSS 2.0 / Atom feeds, one job per feed. */
export const FeedCollectorConfig = Schema.Struct({
  type: Schema.Literal("feed"),
  name: withDefault(NonEmpty, () => "feed"),
  interval: withDefault(DurationString, () => Duration.minutes(30)),
  concurrency: withDefault(PositiveInt, () => 1),
  timeout: withDefault(DurationString, () => Duration.seconds(30)),
  maxBytes: withDefault(PositiveInt, () => 5 * 1024 * 1024),
  userAgent: withDefault(NonEmpty, () => "RayInfo/0.1"),
  maxRedirects: withDefault(Schema.NonNegativeInt, () => 5),
  retryAfter: withDefault(DurationString, () => Duration.hours(1)),
  debug: withDefault(Schema.Boolean, () => false),
  feeds: Schema.Array(FeedConfig).pipe(
    Schema.minItems(1, { message: () => "Expected at least one feed" })
  )
})
export type FeedCollectorConfig = typeof FeedCollectorConfig.Type

/** `type: command` — runs a command once per param and parses its JSON output. */
export const CommandCollectorConfig = Schema.Struct({
  type: Schema.Literal("command"),
  name: NonEmpty,
  command: NonEmpty,
  args: withDefault(Schema.Array(Schema.String), () => []),
  jobs: withDefault(Schema.Array(CommandJobConfig), () => []),
  interval: withDefault(DurationString, () => Duration.hours(1)),
  concurrency: withDefault(PositiveInt, () => 1),
  timeout: withDefault(DurationString, () => Duration.seconds(60)),
  maxOutputBytes: withDefault(PositiveInt, () => 10 * 1024 * 1024),
  resultsField: withDefault(NonEmpty, () => "results"),
  keyField: Schema.optional(NonEmpty),
  quotaExitCodes: withDefault(Schema.Array(Schema.Int), () => []),
  quotaField: Schema.optional(NonEmpty),
  retryAfter: withDefault(DurationString, () => Duration.hours(1)),
  cwd: Schema.optional(NonEmpty),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  debug: withDefault(Schema.Boolean, () => false)
})
export type CommandCollectorConfig = typeof CommandCollectorConfig.Type

/** One configured collector. */
export const CollectorConfig = Schema.Union(FeedCollectorConfig, CommandCollectorConfig)
export type CollectorConfig = typeof CollectorConfig.Type

/** The whole configuration file. */
export const AppConfig = Schema.Struct({
  storage: withDefault(
    Schema.Struct({
      /** SQLite database file (created with its directory if missing). */
      path: withDefault(NonEmpty, () => "./data/rayinfo.db"),
      /** How long a statement waits for a lock held by another connection (SQLite `busy_timeout`). */
      busyTimeout: withDefault(DurationString, () => Duration.seconds(10))
    }),
    () => ({ path: "./data/rayinfo.db", busyTimeout: Duration.seconds(10) })
  ),
  retry: withDefault(
    Schema.Struct({
      /** Floor of every retry delay (Retry-After, quota, network and storage errors). */
      minDelay: withDefault(DurationString, () => Duration.seconds(30)),
      /** Cap of every retry delay. Default: the job's interval; never beyond 24 hours. */
      maxDelay: Schema.optional(DurationString)
    }),
    () => ({ minDelay: Duration.seconds(30) })
  ),
  shutdown: withDefault(
    Schema.Struct({
      /** How long SIGINT/SIGTERM waits for running collections before interrupting them. */
      timeout: withDefault(DurationString, () => Duration.seconds(30))
    }),
    () => ({ timeout: Duration.seconds(30) })
  ),
  dedup: withDefault(
    Schema.Struct({
      /** How many recent (source, key) pairs the in-memory dedup remembers. */
      capacity: withDefault(PositiveInt, () => 10_000)
    }),
    () => ({ capacity: 10_000 })
  ),
  scheduler: withDefault(
    Schema.Struct({
      /** Longest single dispatcher sleep (see docs/scheduler.md). */
      maxSleep: withDefault(DurationString, () => Duration.minutes(1))
    }),
    () => ({ maxSleep: Duration.minutes(1) })
  ),
  collectors: Schema.Array(CollectorConfig)
})
export type AppConfig = typeof AppConfig.Type

// ---- loading ---------------------------------------------------------------

/** The configuration file could not be read or is invalid. */
export class ConfigFileError extends Data.TaggedError("ConfigFileError")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid configuration file ${this.file}:\n${this.reason}`
  }
}

const decodeAppConfig = Schema.decodeUnknown(AppConfig, { errors: "all", onExcessProperty: "error" })

/** `collectors[0].interval` */
const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`,
    ""
  ) || "(top level)"

/**
 * One line per problem: `collectors[0].interval: Expected a positive
 * duration ..., got "soon"`. The "or undefined" alternative of optional
 * fields is left out when there is a more useful message for the same path.
 */
const formatIssues = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const byPath = new Map<string, Array<string>>()
  for (const issue of issues) {
    const path = formatPath(issue.path)
    byPath.set(path, [...(byPath.get(path) ?? []), issue.message])
  }
  const lines: Array<string> = []
  for (const [path, messages] of byPath) {
    const useful = messages.filter((m) => !m.startsWith("Expected undefined, actual"))
    for (const message of useful.length > 0 ? useful : messages) lines.push(`  ${path}: ${message}`)
  }
  return lines.join("\n")
}

/** Checks what the schema cannot: unique collector names and unique jobs. */
const checkUnique = (config: AppConfig): string | undefined => {
  const names = new Set<string>()
  for (const [i, collector] of config.collectors.entries()) {
    if (names.has(collector.name)) {
      return `  collectors[${i}].name: collector name ${JSON.stringify(collector.name)} is used twice`
    }
    names.add(collector.name)
    const params = collector.type === "feed" ? collector.feeds.map((f) => f.url) : collector.jobs.map((j) => j.param)
    const seen = new Set<string>()
    for (const [j, param] of params.entries()) {
      if (seen.has(param)) {
        const field = collector.type === "feed" ? "feeds" : "jobs"
        return `  collectors[${i}].${field}[${j}]: ${JSON.stringify(param)} is listed twice`
      }
      seen.add(param)
    }
  }
  return undefined
}

/** Parses and validates configuration text (YAML or JSON). `file` is used in messages. */
export const parse = (text: string, file: string): Effect.Effect<AppConfig, ConfigFileError> =>
  Effect.gen(function*() {
    const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true })
    if (doc.errors.length > 0) {
      return yield* new ConfigFileError({
        file,
        reason: `YAML syntax error: ${doc.errors.map((e) => e.message).join("\n")}`
      })
    }
    const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {}
    const config = yield* decodeAppConfig(raw).pipe(
      Effect.mapError((error) => new ConfigFileError({ file, reason: formatIssues(error) }))
    )
    const duplicate = checkUnique(config)
    if (duplicate !== undefined) return yield* new ConfigFileError({ file, reason: duplicate })
    return config
  })

/** Reads and validates the configuration file. */
export const load = (file: string): Effect.Effect<AppConfig, ConfigFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => new ConfigFileError({ file, reason: `cannot read the file: ${error.message}` }))
    )
    return yield* parse(text, file)
  })

// ---- environment -----------------------------------------------------------

/** Settings read from the environment. */
export interface Environment {
  readonly port: number
  readonly host: string
  readonly configPath: string
  readonly useRayScheduler: boolean
  readonly logLevel: Option.Option<LogLevel.LogLevel>
}

const LOG_LEVELS: Record<string, LogLevel.LogLevel> = {
  all: LogLevelModule.All,
  trace: LogLevelModule.Trace,
  debug: LogLevelModule.Debug,
  info: LogLevelModule.Info,
  warn: LogLevelModule.Warning,
  warning: LogLevelModule.Warning,
  error: LogLevelModule.Error,
  fatal: LogLevelModule.Fatal,
  none: LogLevelModule.None,
  off: LogLevelModule.None
}

/** A log level by name, case-insensitive: all, trace, debug, info, warn(ing), error, fatal, none / off. */
const logLevelConfig = (name: string): Config.Config<LogLevel.LogLevel> =>
  Config.string(name).pipe(Config.mapOrFail((value) => {
    const level = LOG_LEVELS[value.trim().toLowerCase()]
    return level === undefined
      ? Either.left(
        ConfigError.InvalidData(
          [],
          `Expected a log level (${Object.keys(LOG_LEVELS).join(", ")}), got ${JSON.stringify(value)}`
        )
      )
      : Either.right(level)
  }))

/** The environment variables the service reads, with their defaults. */
export const environment: Config.Config<Environment> = Config.all({
  port: Config.port("PORT").pipe(
    Config.withDefault(8000),
    Config.withDescription("HTTP port of the status API")
  ),
  host: Config.string("HOST").pipe(
    Config.withDefault("127.0.0.1"),
    Config.withDescription("address the HTTP API binds to")
  ),
  configPath: Config.string("RAYINFO_CONFIG").pipe(
    Config.withDefault("./rayinfo.yaml"),
    Config.withDescription("path of the YAML configuration file")
  ),
  useRayScheduler: Config.boolean("USE_RAY_SCHEDULER").pipe(
    Config.withDefault(true),
    Config.withDescription("true: the heap-based RayScheduler; false: the legacy interval scheduler")
  ),
  logLevel: Config.option(logLevelConfig("LOG_LEVEL")).pipe(
    Config.withDescription("minimum log level: all, trace, debug, info, warning, error, fatal, none")
  )
})
