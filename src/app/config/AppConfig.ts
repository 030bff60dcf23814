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
import { fileURLToPath } from "node:url"
import * as YAML from "yaml"
import { instanceId } from "../collectors/Collector.js"
import { describeActual, formatIssues } from "./formatIssues.js"

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

const DURATION_EXAMPLES = `"30 minutes", "1 hour" or "90s"`

/** A limit of a duration option: its milliseconds and how messages write it. */
interface DurationLimit {
  readonly millis: number
  readonly text: string
}

const SECOND = 1000
const HOUR = 3_600_000
const DAY = 86_400_000

/**
 * A duration written as text (`"30 minutes"`, `"1 hour"`, `"90s"`, `"1.5h"`,
 * `"500ms"`; units ms, s, m, h, d, w or their English names), positive, at
 * most `max` and, when given, at least `min`.
 */
const durationText = (max: DurationLimit, min?: DurationLimit): Schema.Schema<Duration.Duration, string> =>
  Schema.transformOrFail(
    Schema.String,
    Schema.DurationFromSelf,
    {
      strict: true,
      decode: (input, _, ast) => {
        const millis = parseDurationMillis(input)
        if (millis === undefined || !(millis > 0)) {
          return ParseResult.fail(
            new ParseResult.Type(
              ast,
              input,
              `Expected a positive duration such as ${DURATION_EXAMPLES}, got ${describeActual(input)}`
            )
          )
        }
        if (millis > max.millis || (min !== undefined && millis < min.millis)) {
          const range = min === undefined ? `of at most ${max.text}` : `from ${min.text} to ${max.text}`
          return ParseResult.fail(
            new ParseResult.Type(ast, input, `Expected a duration ${range}, got ${describeActual(input)}`)
          )
        }
        return ParseResult.succeed(Duration.millis(millis))
      },
      encode: (duration) => ParseResult.succeed(Duration.format(duration))
    }
  ).annotations({ identifier: "Duration", description: `a duration such as ${DURATION_EXAMPLES}` })

/**
 * A positive duration written as text: `"30 minutes"`, `"1 hour"`, `"90s"`,
 * `"1.5h"`, `"500ms"` (units: ms, s, m, h, d, w or their English names), of
 * at most 2^53 - 1 milliseconds. The configuration's fields use tighter
 * bounds (see docs/configuration.md).
 */
export const DurationString: Schema.Schema<Duration.Duration, string> = durationText({
  millis: Number.MAX_SAFE_INTEGER,
  text: `${Number.MAX_SAFE_INTEGER} ms`
})

/** How often a job runs: 1 second to 365 days. */
const Interval = durationText({ millis: 365 * DAY, text: "365 days" }, { millis: SECOND, text: "1 second" })
/** A timeout or delay of a run: at most 24 hours. */
const UpTo24Hours = durationText({ millis: 24 * HOUR, text: "24 hours" })
/** At most 1 hour (database lock waits, shutdown). */
const UpTo1Hour = durationText({ millis: HOUR, text: "1 hour" })
/** The dispatcher's longest sleep: at most 24 days (what one timer can wait). */
const UpTo24Days = durationText({ millis: 24 * DAY, text: "24 days" })

/** An integer in `min`..`max` (so no NaN, no Infinity, no 1e400). */
const IntBetween = (min: number, max: number, maxText?: string) => {
  const range = `an integer from ${min} to ${max}${maxText === undefined ? "" : ` (${maxText})`}`
  return Schema.Number.pipe(
    Schema.filter((n) => (Number.isInteger(n) && n >= min && n <= max) || `Expected ${range}, got ${n}`, {
      description: range
    })
  )
}

const GiB = 1024 * 1024 * 1024

/** A non-empty string without leading or trailing spaces. */
const NonEmpty = Schema.String.pipe(
  Schema.filter(
    (s) =>
      (s.length > 0 && s.trim() === s) ||
      `Expected a non-empty string without leading or trailing spaces, got ${describeActual(s)}`,
    {
      description: "a non-empty string"
    }
  )
)

/** A string that can be an argv element or an environment value (no NUL). */
const ProcessString = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\0") || `Expected a string without NUL characters, got ${describeActual(s)}`, {
    description: "a string"
  })
)

/** {@link NonEmpty} and no NUL (a command, a param, a directory). */
const NonEmptyProcessString = NonEmpty.pipe(
  Schema.filter((s) => !s.includes("\0") || `Expected a string without NUL characters, got ${describeActual(s)}`, {
    description: "a non-empty string"
  })
)

/** A collector name: instance ids are `name:param`, so it may not contain ":". */
const CollectorName = NonEmpty.pipe(
  Schema.filter(
    (s) =>
      !s.includes(":") ||
      `Expected a collector name without ":" (instance ids are name:param), got ${describeActual(s)}`,
    { description: "a collector name (no \":\")" }
  )
)

/** An HTTP header value (the User-Agent): no control characters. */
const HeaderValue = Schema.String.pipe(
  Schema.filter(
    (s) =>
      (s.trim().length > 0 && !/[\u0000-\u001f\u007f]/.test(s)) ||
      `Expected a non-empty string without control characters, got ${describeActual(s)}`,
    { description: "a non-empty string without control characters" }
  )
)

/**
 * What is wrong with a feed's `url`, read as the feed collector reads it:
 * `http(s)://` URLs must parse and have a host, `file:` URLs must be local
 * file URLs, other `scheme://` URLs are not supported; anything else is a
 * local path (checked by `check-config`, see `check.ts`).
 */
const feedUrlProblem = (url: string): string | undefined => {
  if (/^https?:\/\//i.test(url)) {
    return Either.try(() => new URL(url)).pipe(
      Either.match({
        onLeft: () => `Expected an http(s) URL with a host, got ${describeActual(url)}`,
        onRight: (parsed) =>
          parsed.hostname === "" ? `Expected an http(s) URL with a host, got ${describeActual(url)}` : undefined
      })
    )
  }
  if (/^file:/i.test(url)) {
    return Either.try(() => fileURLToPath(url)).pipe(
      Either.match({
        onLeft: (error) =>
          `invalid file URL ${describeActual(url)}: ${error instanceof Error ? error.message : String(error)}`,
        onRight: () => undefined
      })
    )
  }
  const scheme = /^([a-z][a-z0-9+.-]+:)\/\//i.exec(url)
  return scheme === null
    ? undefined
    : `unsupported URL scheme "${scheme[1]}" (a feed is an http(s) URL or a local file)`
}

const FeedUrl = NonEmptyProcessString.pipe(
  Schema.filter((url) => feedUrlProblem(url) ?? true, { description: "an http(s) URL or a local file path" })
)

const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>) =>
  Schema.optionalWith(schema, { default: value })

/** `Schema.Array` described as "a list of `what`" in messages. */
const List = <A, I, R>(item: Schema.Schema<A, I, R>, what: string) =>
  Schema.Array(item).annotations({ description: `a list of ${what}` })

/** A parameterised job of a command collector. */
export const CommandJobConfig = Schema.Struct({
  /** The parameter (e.g. a search query), passed as one argv element. */
  param: NonEmptyProcessString,
  /** How often this job runs (1 second to 365 days). Default: the collector's `interval`. */
  interval: Schema.optional(Interval)
}).annotations({ description: `a job (a map with keys "param", "interval")` })

/** A feed of the feed collector. */
export const FeedConfig = Schema.Struct({
  /** An http(s) URL, or a path to a local RSS/Atom file (relative to the working directory). */
  url: FeedUrl,
  /** How often this feed is fetched (1 second to 365 days). Default: the collector's `interval`. */
  interval: Schema.optional(Interval)
}).annotations({ description: `a feed (a map with keys "url", "interval")` })

/** `type: feed` — RSS 2.0 / Atom feeds, one job per feed. */
export const FeedCollectorConfig = Schema.Struct({
  type: Schema.Literal("feed"),
  name: withDefault(CollectorName, () => "feed"),
  interval: withDefault(Interval, () => Duration.minutes(30)),
  concurrency: withDefault(IntBetween(1, 1000), () => 1),
  timeout: withDefault(UpTo24Hours, () => Duration.seconds(30)),
  maxBytes: withDefault(IntBetween(1, GiB, "1 GiB"), () => 5 * 1024 * 1024),
  userAgent: withDefault(HeaderValue, () => "RayInfo/0.1"),
  maxRedirects: withDefault(IntBetween(0, 20), () => 5),
  retryAfter: withDefault(UpTo24Hours, () => Duration.hours(1)),
  debug: withDefault(Schema.Boolean, () => false),
  feeds: List(FeedConfig, "feeds").pipe(Schema.filter((feeds) => feeds.length > 0 || "Expected at least one feed"))
})
export type FeedCollectorConfig = typeof FeedCollectorConfig.Type

/** Extra environment variables of a command: names without "=" or NUL, values without NUL. */
const Environment = Schema.Record({ key: Schema.String, value: ProcessString }).annotations({
  description: "a map of environment variables (NAME: value)"
}).pipe(
  Schema.filter((env) => {
    const bad = Object.keys(env).find((name) => name === "" || name.includes("=") || name.includes("\0"))
    return bad === undefined ||
      `Expected environment variable names without "=" or NUL characters, got ${describeActual(bad)}`
  })
)

/** `type: command` — runs a command once per param and parses its JSON output. */
export const CommandCollectorConfig = Schema.Struct({
  type: Schema.Literal("command"),
  name: CollectorName,
  command: NonEmptyProcessString,
  args: withDefault(List(ProcessString, "strings"), () => []),
  jobs: withDefault(List(CommandJobConfig, "jobs"), () => []),
  interval: withDefault(Interval, () => Duration.hours(1)),
  concurrency: withDefault(IntBetween(1, 1000), () => 1),
  timeout: withDefault(UpTo24Hours, () => Duration.seconds(60)),
  maxOutputBytes: withDefault(IntBetween(1, GiB, "1 GiB"), () => 10 * 1024 * 1024),
  resultsField: withDefault(NonEmpty, () => "results"),
  keyField: Schema.optional(NonEmpty),
  quotaExitCodes: withDefault(List(IntBetween(0, 255), "exit codes"), () => []),
  quotaField: Schema.optional(NonEmpty),
  retryAfter: withDefault(UpTo24Hours, () => Duration.hours(1)),
  cwd: Schema.optional(NonEmptyProcessString),
  env: Schema.optional(Environment),
  debug: withDefault(Schema.Boolean, () => false)
})
export type CommandCollectorConfig = typeof CommandCollectorConfig.Type

/** One configured collector. */
export const CollectorConfig = Schema.Union(FeedCollectorConfig, CommandCollectorConfig).annotations({
  description: "a collector (a map with type: feed or type: command)"
})
export type CollectorConfig = typeof CollectorConfig.Type

/** The whole configuration file. */
export const AppConfig = Schema.Struct({
  storage: withDefault(
    Schema.Struct({
      /** SQLite database file (created with its directory if missing). */
      path: withDefault(NonEmptyProcessString, () => "./data/rayinfo.db"),
      /** How long a statement waits for a lock held by another process (SQLite `busy_timeout`); at most 1 hour. */
      busyTimeout: withDefault(UpTo1Hour, () => Duration.seconds(10))
    }),
    () => ({ path: "./data/rayinfo.db", busyTimeout: Duration.seconds(10) })
  ),
  retry: withDefault(
    Schema.Struct({
      /** Floor of every retry delay (Retry-After, quota, network and storage errors); at most 24 hours. */
      minDelay: withDefault(UpTo24Hours, () => Duration.seconds(30)),
      /** Cap of every retry delay. Default: the job's interval; never beyond 24 hours. */
      maxDelay: Schema.optional(UpTo24Hours)
    }),
    () => ({ minDelay: Duration.seconds(30) })
  ),
  shutdown: withDefault(
    Schema.Struct({
      /** How long SIGINT/SIGTERM waits for running collections before interrupting them; at most 1 hour. */
      timeout: withDefault(UpTo1Hour, () => Duration.seconds(30))
    }),
    () => ({ timeout: Duration.seconds(30) })
  ),
  dedup: withDefault(
    Schema.Struct({
      /** How many recent (source, key) pairs the in-memory dedup remembers (1 to 10,000,000). */
      capacity: withDefault(IntBetween(1, 10_000_000), () => 10_000)
    }),
    () => ({ capacity: 10_000 })
  ),
  scheduler: withDefault(
    Schema.Struct({
      /** Longest single dispatcher sleep (see docs/scheduler.md); at most 24 days. */
      maxSleep: withDefault(UpTo24Days, () => Duration.minutes(1))
    }),
    () => ({ maxSleep: Duration.minutes(1) })
  ),
  collectors: List(CollectorConfig, "collectors")
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

/** The instance ids of a collector's jobs with where each is configured. */
const jobsOf = (
  collector: CollectorConfig,
  i: number
): ReadonlyArray<{ readonly param: string | undefined; readonly where: string }> =>
  collector.type === "feed"
    ? collector.feeds.map((feed, j) => ({ param: feed.url, where: `collectors[${i}].feeds[${j}]` }))
    : collector.jobs.length === 0
    ? [{ param: undefined, where: `collectors[${i}]` }]
    : collector.jobs.map((job, j) => ({ param: job.param, where: `collectors[${i}].jobs[${j}]` }))

/**
 * Checks what the schema cannot, and returns every problem as a line:
 * collector names are unique, no feed or job is listed twice in a collector,
 * every job has its own instance id (`name` or `name:param`; a last line of
 * defence, as names cannot contain ":"), and `retry.maxDelay` is not
 * shorter than `retry.minDelay`.
 */
export const crossCheck = (config: AppConfig): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const names = new Map<string, number>()
  const ids = new Map<string, string>()
  for (const [i, collector] of config.collectors.entries()) {
    const first = names.get(collector.name)
    if (first !== undefined) {
      problems.push(
        `  collectors[${i}].name: collector name ${
          JSON.stringify(collector.name)
        } is used twice (also collectors[${first}])`
      )
      continue
    }
    names.set(collector.name, i)
    const params = new Set<string>()
    for (const { param, where } of jobsOf(collector, i)) {
      if (param !== undefined) {
        if (params.has(param)) {
          problems.push(`  ${where}: ${JSON.stringify(param)} is listed twice`)
          continue
        }
        params.add(param)
      }
      const id = instanceId(collector.name, param)
      const other = ids.get(id)
      if (other !== undefined) problems.push(`  ${where}: instance id ${JSON.stringify(id)} is also the id of ${other}`)
      else ids.set(id, where)
    }
  }
  const { maxDelay, minDelay } = config.retry
  if (maxDelay !== undefined && Duration.lessThan(maxDelay, minDelay)) {
    problems.push(
      `  retry.maxDelay: must not be shorter than retry.minDelay (${Duration.format(minDelay)}), got ${
        Duration.format(maxDelay)
      }`
    )
  }
  return problems
}

/** Alias uses a file may have; more is refused (and so is a huge expansion). */
const MAX_ALIASES = 100

/** The YAML document as plain data, or a message saying why it cannot be read. */
const readYaml = (text: string): Either.Either<unknown, string> => {
  const parsed = Either.try(() => YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true }))
  if (Either.isLeft(parsed)) return Either.left(`YAML syntax error: ${String(parsed.left)}`)
  const doc = parsed.right
  if (doc.errors.length > 0) return Either.left(`YAML syntax error: ${doc.errors.map((e) => e.message).join("\n")}`)
  let aliases = 0
  YAML.visit(doc, {
    Alias: () => {
      aliases++
    }
  })
  if (aliases > MAX_ALIASES) {
    return Either.left(`  YAML error: more than ${MAX_ALIASES} alias uses (*name); write the values out instead`)
  }
  return Either.try({
    try: (): unknown => doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {},
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      const unresolved = /^Unresolved alias.*: (.*)$/.exec(message)
      if (unresolved !== null) {
        const name = unresolved[1]!
        return `  YAML error: alias *${name} refers to no anchor (an anchor &${name} must come before it)`
      }
      if (/alias count/i.test(message)) {
        return `  YAML error: aliases expand to too much data (a resource exhaustion guard); write the values out instead`
      }
      return `  YAML error: ${message}`
    }
  })
}

/**
 * Parses and validates configuration text (YAML or JSON). `file` is used in
 * messages. Every problem is reported, one line each: first what the schema
 * finds (types, unknown keys, bounds); when there is none, the checks across
 * fields ({@link crossCheck}).
 */
export const parse = (text: string, file: string): Effect.Effect<AppConfig, ConfigFileError> =>
  Effect.gen(function*() {
    const raw = readYaml(text)
    if (Either.isLeft(raw)) return yield* new ConfigFileError({ file, reason: raw.left })
    const config = yield* decodeAppConfig(raw.right).pipe(
      Effect.mapError((error) => new ConfigFileError({ file, reason: formatIssues(error).join("\n") }))
    )
    const problems = crossCheck(config)
    if (problems.length > 0) return yield* new ConfigFileError({ file, reason: problems.join("\n") })
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

/**
 * `USE_RAY_SCHEDULER`: `true` (the default) selects the heap-based
 * RayScheduler, `false` the legacy interval scheduler. Exactly these two
 * words, in any case, with surrounding spaces ignored; anything else
 * (`yes`, `1`, `on`, an empty value...) is an error naming the variable.
 */
export const useRayScheduler: Config.Config<boolean> = Config.string("USE_RAY_SCHEDULER").pipe(
  Config.mapOrFail((value) => {
    const word = value.trim().toLowerCase()
    return word === "true"
      ? Either.right(true)
      : word === "false"
      ? Either.right(false)
      : Either.left(ConfigError.InvalidData([], `Expected true or false, got ${JSON.stringify(value)}`))
  }),
  Config.withDefault(true),
  Config.withDescription("true: the heap-based RayScheduler; false: the legacy interval scheduler")
)

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
  useRayScheduler,
  logLevel: Config.option(logLevelConfig("LOG_LEVEL")).pipe(
    Config.withDescription("minimum log level: all, trace, debug, info, warning, error, fatal, none")
  )
})
