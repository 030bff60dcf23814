/**
 * The service's configuration: a YAML file decoded with Schema, plus a few
 * environment variables read through Effect's `Config` (once, by the
 * entrypoint: {@link Env}). The collectors' options are declared next to
 * each collector (`FeedCollector.Config`, `CommandCollector.Config`, with
 * their defaults) and composed here.
 *
 * Every option, its default and an example are in `rayinfo.example.yaml`
 * and `docs/configuration.md`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as LogLevel from "effect/LogLevel"
import * as LogLevelModule from "effect/LogLevel"
import type * as Option from "effect/Option"
import * as OptionModule from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as os from "node:os"
import * as YAML from "yaml"
import * as Scheduler from "../../scheduler/Scheduler.js"
import { instanceId } from "../collectors/Collector.js"
import * as CommandCollector from "../collectors/command.js"
import * as FeedCollector from "../collectors/feed.js"
import * as Dedup from "../pipeline/Dedup.js"
import { defaultShutdownTimeout } from "../scheduling/CollectorRunner.js"
import { defaultRetryPolicy } from "../scheduling/Timing.js"
import { defaultBusyTimeout } from "../storage/StorageError.js"
import { formatIssues } from "./formatIssues.js"
import {
  IntBetween,
  List,
  Misfire as MisfireSchema,
  NonEmptyProcessString,
  UpTo1Hour,
  UpTo24Days,
  UpTo24Hours,
  withDefault
} from "./schemas.js"

export { DurationString, parseDurationMillis } from "./schemas.js"

// ---- schemas ---------------------------------------------------------------

/** How many runs of each of a collector's jobs may run at once: 1 to 1000. Default: 1. */
const Concurrency = withDefault(IntBetween(1, 1000), () => 1)

/**
 * A configuration section: a map whose keys all have defaults, so that the
 * section itself defaults to its keys' defaults (they are written once, in
 * `fields`).
 */
const section = <Fields extends Schema.Struct.Fields>(fields: Fields) => {
  const struct = Schema.Struct(fields)
  // every key has a default (the schemas of this file need no context)
  const decode = Schema.decodeUnknownSync(struct as unknown as Schema.Schema<Schema.Struct.Type<Fields>>)
  return Schema.optionalWith(struct, { default: () => decode({}) })
}

// The keys of a collector's map, in this order (the order of the messages
// and of docs/configuration.md): `type`, the collector's own options
// (`FeedCollector.Config`, `CommandCollector.Config`), with its timing
// (`interval`, `cron`, `timeZone`) followed by `misfire` and `concurrency`.
const { cron: feedCron, interval: feedInterval, name: feedName, timeZone: feedTimeZone, ...feedOptions } =
  FeedCollector.Config.fields
const {
  args,
  command,
  cron: commandCron,
  interval: commandInterval,
  jobs,
  name: commandName,
  timeZone: commandTimeZone,
  ...commandOptions
} = CommandCollector.Config.fields

/**
 * Runs missed while the service was down or stopped (RayScheduler only):
 * `policy` `coalesce` (default), `all` or `skip`, and `grace`. Applied by
 * `CollectorRunner.instancesOf` when absent, so that the legacy scheduler can
 * tell whether it was given.
 */
const Misfire = Schema.optional(MisfireSchema)

/** `type: feed` — RSS 2.0 / Atom feeds, one job per feed (options: `FeedCollector.Config`). */
export const FeedCollectorConfig = Schema.Struct({
  type: Schema.Literal("feed"),
  name: feedName,
  interval: feedInterval,
  cron: feedCron,
  timeZone: feedTimeZone,
  misfire: Misfire,
  concurrency: Concurrency,
  ...feedOptions
})
export type FeedCollectorConfig = typeof FeedCollectorConfig.Type

/**
 * `type: command` — runs a command once per param and parses its JSON
 * output (options: `CommandCollector.Config`).
 */
export const CommandCollectorConfig = Schema.Struct({
  type: Schema.Literal("command"),
  name: commandName,
  command,
  args,
  jobs,
  interval: commandInterval,
  cron: commandCron,
  timeZone: commandTimeZone,
  misfire: Misfire,
  concurrency: Concurrency,
  ...commandOptions
})
export type CommandCollectorConfig = typeof CommandCollectorConfig.Type

/** One configured collector. */
export const CollectorConfig = Schema.Union(FeedCollectorConfig, CommandCollectorConfig).annotations({
  description: "a collector (a map with type: feed or type: command)"
})
export type CollectorConfig = typeof CollectorConfig.Type

/** The whole configuration file. Each default is the one of the module that uses the option. */
export const AppConfig = Schema.Struct({
  storage: section({
    /** SQLite database file (created with its directory if missing). */
    path: withDefault(NonEmptyProcessString, () => "./data/rayinfo.db"),
    /** How long a statement waits for a lock held by another process; at most 1 hour. */
    busyTimeout: withDefault(UpTo1Hour, () => defaultBusyTimeout)
  }),
  retry: section({
    /** Floor of every retry delay (Retry-After, quota, network and storage errors); at most 24 hours. */
    minDelay: withDefault(UpTo24Hours, () => defaultRetryPolicy.minDelay),
    /** Cap of every retry delay. Default: the job's interval; never beyond 24 hours. */
    maxDelay: Schema.optional(UpTo24Hours)
  }),
  shutdown: section({
    /** How long SIGINT/SIGTERM waits for running collections before interrupting them; at most 1 hour. */
    timeout: withDefault(UpTo1Hour, () => defaultShutdownTimeout)
  }),
  dedup: section({
    /** How many recent (source, key) pairs the in-memory dedup remembers (1 to 10,000,000). */
    capacity: withDefault(IntBetween(1, 10_000_000), () => Dedup.defaultCapacity)
  }),
  scheduler: section({
    /** Longest single dispatcher sleep (see docs/scheduler.md); at most 24 days. */
    maxSleep: withDefault(UpTo24Days, () => Scheduler.defaultMaxSleep)
  }),
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

/** A configured job: its param, where it is configured, and its own timing keys (none for a collector without jobs). */
interface JobEntry {
  readonly param: string | undefined
  readonly where: string
  readonly timing: { readonly interval?: unknown; readonly cron?: string | undefined; readonly timeZone?: unknown }
}

/** The instance ids of a collector's jobs with where each is configured. */
const jobsOf = (collector: CollectorConfig, i: number): ReadonlyArray<JobEntry> =>
  collector.type === "feed"
    ? collector.feeds.map((feed, j) => ({ param: feed.url, where: `collectors[${i}].feeds[${j}]`, timing: feed }))
    : collector.jobs.length === 0
    ? [{ param: undefined, where: `collectors[${i}]`, timing: {} }]
    : collector.jobs.map((job, j) => ({ param: job.param, where: `collectors[${i}].jobs[${j}]`, timing: job }))

/**
 * The timing keys' problems at one collector: `interval` and `cron` at one
 * level, and a `timeZone` that no cron time uses.
 */
const timingProblems = (collector: CollectorConfig, i: number, jobs: ReadonlyArray<JobEntry>): Array<string> => {
  const problems: Array<string> = []
  const both = "cannot be combined with interval (a job runs every interval or at cron times)"
  if (collector.cron !== undefined && collector.interval !== undefined) {
    problems.push(`  collectors[${i}].cron: ${both}`)
  }
  let usesCron = false
  for (const { timing, where } of jobs) {
    if (timing.cron !== undefined && timing.interval !== undefined) problems.push(`  ${where}.cron: ${both}`)
    const cron = timing.cron !== undefined || (timing.interval === undefined && collector.cron !== undefined)
    usesCron ||= cron
    if (timing.timeZone !== undefined && !cron) {
      problems.push(`  ${where}.timeZone: has no effect: this job runs every interval, not at cron times`)
    }
  }
  if (collector.timeZone !== undefined && !usesCron) {
    problems.push(`  collectors[${i}].timeZone: has no effect: neither the collector nor any of its jobs uses cron`)
  }
  return problems
}

/**
 * Checks what the schema cannot, and returns every problem as a line:
 * collector names are unique, no feed or job is listed twice in a collector,
 * every job has its own instance id (`name` or `name:param`; a last line of
 * defence, as names cannot contain ":"), `interval` and `cron` are not both
 * given at one level, a `timeZone` is used by some cron time, and
 * `retry.maxDelay` is not shorter than `retry.minDelay`.
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
    const jobs = jobsOf(collector, i)
    problems.push(...timingProblems(collector, i, jobs))
    const params = new Set<string>()
    for (const { param, where } of jobs) {
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

/**
 * What the legacy scheduler (`USE_RAY_SCHEDULER=false`) cannot do, one line
 * each: it runs every job every interval, so `cron` (at any level) and
 * `misfire` need the RayScheduler. Empty: the configuration suits it.
 */
export const legacySchedulerProblems = (config: AppConfig): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const needs = "needs the RayScheduler (USE_RAY_SCHEDULER=true)"
  for (const [i, collector] of config.collectors.entries()) {
    if (collector.cron !== undefined) problems.push(`  collectors[${i}].cron: ${needs}`)
    if (collector.misfire !== undefined) problems.push(`  collectors[${i}].misfire: ${needs}`)
    for (const { timing, where } of jobsOf(collector, i)) {
      if (timing.cron !== undefined) problems.push(`  ${where}.cron: ${needs}`)
    }
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

/**
 * How the service writes its logs: `pretty` (colours when stdout is a
 * terminal, one block per entry), `json` (one JSON object per line) or
 * `logfmt` (one `key=value` line per entry).
 */
export type LogFormat = "pretty" | "json" | "logfmt"

/** `LOG_FORMAT`: `pretty`, `json` or `logfmt`, any case; anything else is an error naming the variable. */
export const logFormat: Config.Config<LogFormat> = Config.string("LOG_FORMAT").pipe(
  Config.mapOrFail((value) => {
    const word = value.trim().toLowerCase()
    return word === "pretty" || word === "json" || word === "logfmt"
      ? Either.right<LogFormat>(word)
      : Either.left(ConfigError.InvalidData([], `Expected pretty, json or logfmt, got ${JSON.stringify(value)}`))
  }),
  Config.withDefault<LogFormat>("pretty"),
  Config.withDescription("log format: pretty, json or logfmt")
)

/** `OTEL_EXPORTER_OTLP_ENDPOINT`: an http(s) URL, e.g. `http://localhost:4318` (traces go to `/v1/traces` under it). */
export const otlpEndpoint: Config.Config<Option.Option<string>> = Config.option(
  Config.string("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
    Config.mapOrFail((value) => {
      const text = value.trim()
      let ok = false
      try {
        const url = new URL(text)
        ok = (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
      } catch {
        ok = false
      }
      return ok
        ? Either.right(text)
        : Either.left(
          ConfigError.InvalidData(
            [],
            `Expected an http(s) URL such as http://localhost:4318, got ${JSON.stringify(value)}`
          )
        )
    })
  )
).pipe(Config.withDescription("OpenTelemetry collector for traces (OTLP/HTTP)"))

/** Settings read from the environment. */
export interface Environment {
  readonly port: number
  readonly host: string
  readonly configPath: string
  readonly useRayScheduler: boolean
  readonly logLevel: Option.Option<LogLevel.LogLevel>
  /** `LOG_FORMAT`: how log lines look. Default: `pretty`. */
  readonly logFormat: LogFormat
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: where traces go (OTLP/HTTP); none: no tracing. */
  readonly otlpEndpoint: Option.Option<string>
  /**
   * `RAYINFO_API_TOKEN`: the bearer token the HTTP API's mutations need,
   * and with which reads show full error texts; never printed. None: the
   * mutations are open (on loopback only: `rayinfo run` refuses a
   * non-loopback `HOST` without it).
   */
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  /** The cluster's settings when `RAYINFO_DATABASE_URL` is set; none: one process on the embedded SQLite. */
  readonly cluster: Option.Option<ClusterEnvironment>
}

/**
 * Cluster mode (`RAYINFO_DATABASE_URL`): all storage in PostgreSQL and the
 * process a runner of the cluster (docs/cluster.md, "RayInfo on a cluster").
 */
export interface ClusterEnvironment {
  /** `RAYINFO_DATABASE_URL`: a `postgres://` or `postgresql://` URL. */
  readonly databaseUrl: Redacted.Redacted<string>
  /** `RAYINFO_RUNNER_HOST`: how the other runners reach this one. Default: the machine's host name. */
  readonly runnerHost: string
  /** `RAYINFO_RUNNER_PORT`: the runner's port (it listens on every interface). Default: 34431. */
  readonly runnerPort: number
  /**
   * `RAYINFO_RUNNER_LEASE`: how long a runner's shard locks last without
   * renewal, i.e. how soon the jobs of a runner that died move to the
   * others. Default: 35 seconds (@effect/cluster's default).
   */
  readonly runnerLease: Duration.Duration
}

/** The runner port's default: @effect/cluster's own default runner port. */
export const defaultRunnerPort = 34431

/** The shard lease's default: @effect/cluster's `shardLockExpiration` default. */
export const defaultRunnerLease = Duration.seconds(35)

/** `RAYINFO_DATABASE_URL`: a PostgreSQL URL (its password never printed). */
const databaseUrl: Config.Config<Redacted.Redacted<string>> = Config.string("RAYINFO_DATABASE_URL").pipe(
  Config.mapOrFail((url) => {
    const text = url.trim()
    return /^postgres(ql)?:\/\/[^\s]+$/.test(text)
      ? Either.right(Redacted.make(text))
      : Either.left(
        ConfigError.InvalidData(
          [],
          "Expected a PostgreSQL URL (postgres://user@host:5432/database or postgresql://...), got " +
            // the scheme only: the rest may hold a password
            (/^[a-z][a-z0-9+.-]*:/i.exec(text)?.[0] === undefined
              ? "a value without a URL scheme"
              : `the scheme ${JSON.stringify(/^[a-z][a-z0-9+.-]*:/i.exec(text)![0])}`)
        )
      )
  })
)

/** A positive duration, e.g. `10 seconds`, `500 millis` or a number of seconds. */
const positiveDuration = (name: string): Config.Config<Duration.Duration> =>
  Config.string(name).pipe(Config.mapOrFail((value) => {
    const text = value.trim()
    const decoded = /^\d+(\.\d+)?$/.test(text)
      ? Duration.decodeUnknown(`${text} seconds`)
      : Duration.decodeUnknown(text)
    return decoded._tag === "Some" && Duration.greaterThan(decoded.value, Duration.zero) &&
        Duration.isFinite(decoded.value)
      ? Either.right(decoded.value)
      : Either.left(
        ConfigError.InvalidData(
          [],
          `Expected a positive duration (e.g. 10 seconds, 500 millis), got ${JSON.stringify(value)}`
        )
      )
  }))

/** The cluster's environment variables; none without `RAYINFO_DATABASE_URL`. */
export const clusterEnvironment: Config.Config<Option.Option<ClusterEnvironment>> = Config.option(databaseUrl).pipe(
  Config.withDescription("PostgreSQL URL: all storage there, and this process a cluster runner"),
  Config.zipWith(
    Config.all({
      runnerHost: Config.string("RAYINFO_RUNNER_HOST").pipe(
        Config.withDefault(os.hostname()),
        Config.withDescription("how the other runners reach this one (cluster mode)")
      ),
      runnerPort: Config.port("RAYINFO_RUNNER_PORT").pipe(
        Config.withDefault(defaultRunnerPort),
        Config.withDescription("the runner's port (cluster mode)")
      ),
      runnerLease: positiveDuration("RAYINFO_RUNNER_LEASE").pipe(
        Config.withDefault(defaultRunnerLease),
        Config.withDescription("how soon a dead runner's jobs move to the others (cluster mode)")
      )
    }),
    (url, runner) => OptionModule.map(url, (databaseUrl) => ({ databaseUrl, ...runner }))
  )
)

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

/**
 * `RAYINFO_API_TOKEN`: a secret, non-empty, of printable ASCII without
 * spaces (it travels as `Authorization: Bearer <token>`), read as a
 * `Redacted` (as `Config.redacted` does, but with a message saying what is
 * wrong; the messages never quote it).
 */
export const apiToken: Config.Config<Option.Option<Redacted.Redacted<string>>> = Config.option(
  Config.string("RAYINFO_API_TOKEN").pipe(
    Config.mapOrFail((token) =>
      /^[\x21-\x7e]+$/.test(token)
        ? Either.right(Redacted.make(token))
        : Either.left(
          ConfigError.InvalidData(
            [],
            token === ""
              ? "Expected a token, got an empty value (unset the variable to run without one)"
              : "Expected a token of printable ASCII characters without spaces (it is sent as Authorization: Bearer <token>)"
          )
        )
    )
  )
).pipe(Config.withDescription("bearer token of the HTTP API's mutations (and of full error texts)"))

/**
 * The environment, read once by the entrypoint (`Cli.main`, from
 * {@link environment}) and provided to the commands.
 */
export class Env extends Context.Tag("rayinfo/Environment")<Env, Environment>() {}

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
  ),
  logFormat,
  otlpEndpoint,
  apiToken,
  cluster: clusterEnvironment
})
