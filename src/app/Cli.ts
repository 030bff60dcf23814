/**
 * The `rayinfo` command line:
 *
 * - `rayinfo run` — the service (what `npm start` runs)
 * - `rayinfo collectors` — configured jobs and their state
 * - `rayinfo trigger <instance>` — run one job now and print what it stored
 * - `rayinfo check-config` — validate the configuration file, and check
 *   offline that its feed files and commands exist (`config/check.ts`)
 * - `rayinfo items` — print stored items (reads the database read-only)
 *
 * Every command takes `--config <file>`; without it, `RAYINFO_CONFIG`, else
 * `./rayinfo.yaml`.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AppConfig from "./config/AppConfig.js"
import * as ConfigCheck from "./config/check.js"
import { ItemBody, RunResultBody } from "./http/Api.js"
import * as Security from "./http/Security.js"
import { CollectorRunner, formatTiming } from "./scheduling/CollectorRunner.js"
import { SchedulerAdapter } from "./scheduling/SchedulerAdapter.js"
import * as Service from "./Service.js"
import * as ItemsModule from "./storage/Items.js"
import { type Item, Items, parseQuery } from "./storage/Items.js"
import * as Tracing from "./telemetry/Tracing.js"

/** A command failed in a way already explained to the user on stderr; exit code 1. */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string }> {}

const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("configuration file (default: $RAYINFO_CONFIG, else ./rayinfo.yaml)"),
  Options.optional
)

/** Loads the configuration file: `--config`, else `RAYINFO_CONFIG` (read with the environment), else ./rayinfo.yaml. */
const loadConfig = (option: Option.Option<string>) =>
  Effect.gen(function*() {
    const env = yield* AppConfig.Env
    const path = Option.getOrElse(option, () => env.configPath)
    return { path, config: yield* AppConfig.load(path) }
  })

/**
 * Loads the configuration once and runs `f` with the service's core (the
 * runner over the collectors, on storage) built from it; no scheduling, no
 * HTTP server.
 */
const withCore = <A, E>(
  option: Option.Option<string>,
  f: (loaded: { readonly path: string; readonly config: AppConfig.AppConfig }) => Effect.Effect<A, E, CollectorRunner>
) =>
  Effect.flatMap(
    loadConfig(option),
    (loaded) => Effect.flatMap(AppConfig.Env, (env) => Effect.provide(f(loaded), Service.coreLayer(loaded.config, env)))
  )

/** Fails with a message already printed on stderr. */
const explain = (message: string) => Effect.zipRight(Console.error(message), Effect.fail(new CliFailure({ message })))

/**
 * With `USE_RAY_SCHEDULER=false`, fails (explained) when the configuration
 * needs the RayScheduler (`cron`, `misfire`: `AppConfig.legacySchedulerProblems`).
 */
const suitsScheduler = (
  env: AppConfig.Environment,
  loaded: { readonly path: string; readonly config: AppConfig.AppConfig }
) => {
  if (Option.isSome(env.cluster) && !env.useRayScheduler) {
    return explain(
      "RAYINFO_DATABASE_URL (cluster mode) needs the RayScheduler: the legacy scheduler (USE_RAY_SCHEDULER=false) " +
        "cannot share jobs between processes. Unset one of the two."
    )
  }
  const problems = env.useRayScheduler ? [] : AppConfig.legacySchedulerProblems(loaded.config)
  return problems.length === 0 ? Effect.void : explain(
    `Invalid configuration ${loaded.path} for USE_RAY_SCHEDULER=false (the legacy scheduler runs jobs every interval only):\n${
      problems.join("\n")
    }`
  )
}

/**
 * Fails (explained) when the HTTP API would be reachable beyond this
 * machine (`HOST` not a loopback address) without `RAYINFO_API_TOKEN`:
 * anyone reaching the port could trigger runs. Checked before anything is built.
 */
const exposedWithoutToken = (env: AppConfig.Environment) =>
  Security.isLoopbackHost(env.host) || Option.isSome(env.apiToken) ? Effect.void : explain(
    `Refusing to start: HOST=${env.host} is not a loopback address and RAYINFO_API_TOKEN is not set, ` +
      `so anyone who can reach port ${env.port} could trigger runs. Set RAYINFO_API_TOKEN to a long random ` +
      `secret (e.g. the output of \`openssl rand -hex 32\`), or bind to loopback (HOST=127.0.0.1). ` +
      `See docs/operations.md, "Security".`
  )

const run = Command.make("run", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const env = yield* AppConfig.Env
    yield* exposedWithoutToken(env)
    const loaded = yield* loadConfig(config)
    yield* suitsScheduler(env, loaded)
    const storage = Service.storageLabel(loaded.config, env)
    yield* Effect.logInfo(`configuration ${loaded.path}: ${loaded.config.collectors.length} collector(s)`)
    yield* Effect.gen(function*() {
      // the service layer is built: the lease is held, the API answers, the scheduling runs
      const adapter = yield* SchedulerAdapter
      const lease = yield* Service.ServiceLease
      const runner = yield* CollectorRunner
      yield* Effect.logInfo(
        `${adapter.type} started with ${runner.instances.length} job(s); API on http://${env.host}:${env.port}/status` +
          Option.match(env.cluster, {
            onNone: () => "",
            onSome: (cluster) => `; cluster runner ${Service.runnerAddressOf(cluster)} on ${storage}`
          })
      )
      // runs until interrupted (SIGINT/SIGTERM), unless another process took the database over
      yield* lease.lost
      return yield* explain(
        `Stopping: another process took over the database ${storage} ` +
          `(this one stopped renewing its lease for too long)`
      )
    }).pipe(
      Effect.provide(Service.serviceLayer(loaded.config, env).pipe(Layer.provide(Tracing.layer(env.otlpEndpoint)))),
      Effect.catchTags({
        ServeError: (error) => {
          const reason = error.cause instanceof Error ? error.cause.message : String(error.cause)
          return explain(`Cannot serve the HTTP API on ${env.host}:${env.port}: ${reason} (set PORT / HOST)`)
        },
        LeaseHeldError: (error) =>
          explain(
            `Another RayInfo service is already running on the database ${storage}: ` +
              `${error.holder.description}, since ${new Date(error.holder.acquiredAt).toISOString()}. ` +
              `Two services would both run every job, so this one does not start. Stop the other one first ` +
              `(a service that was killed releases the database at once on the same machine, ` +
              `otherwise when its lease expires at ${new Date(error.holder.expiresAt).toISOString()}).`
          ),
        StorageError: (error) => explain(`Cannot use the database ${storage}: ${error.message}`),
        // opening the database or migrating it (the scheduler's store fails with a StorageError)
        SqlError: (error) => explain(`Cannot use the database ${storage}: ${error.message}`),
        SocketServerError: (error) =>
          explain(
            `Cannot listen for the cluster's other runners: ${error.message} (set RAYINFO_RUNNER_PORT / RAYINFO_RUNNER_HOST)`
          )
      })
    )
  })).pipe(Command.withDescription("run the collector service until SIGINT/SIGTERM"))

const collectors = Command.make(
  "collectors",
  { config: configOption },
  ({ config }) =>
    withCore(config, (loaded) =>
      Effect.gen(function*() {
        const runner = yield* CollectorRunner
        const instances = yield* runner.listInstances
        if (instances.length === 0) return yield* Console.log("no collectors configured")
        for (const i of instances) {
          const last = Option.match(i.lastRunAt, { onNone: () => "never", onSome: DateTime.formatIso })
          yield* Console.log(
            `${i.id}\n  ${formatTiming(i.timing)}, last run ${last}, runs ${i.runCount}, ` +
              `errors ${i.errorCount}` +
              Option.match(i.lastError, { onNone: () => "", onSome: (error) => `, last error: ${error}` })
          )
        }
        yield* Console.log(`${instances.length} job(s) in ${loaded.path}`)
      }))
).pipe(Command.withDescription("list the configured jobs and their state"))

const trigger = Command.make(
  "trigger",
  { config: configOption, instance: Args.text({ name: "instance" }).pipe(Args.withDescription("e.g. feed:./x.xml")) },
  ({ config, instance }) =>
    withCore(config, () =>
      Effect.gen(function*() {
        const runner = yield* CollectorRunner
        const outcome = yield* runner.runInstance(instance).pipe(
          Effect.catchTag("UnknownInstanceError", (error) =>
            Effect.gen(function*() {
              const ids = runner.instances.map((i) => i.id)
              yield* Console.error(`${error.message}. Known instances:\n  ${ids.join("\n  ")}`)
              return yield* new CliFailure({ message: error.message })
            }))
        )
        if (outcome._tag === "Cancelled") return yield* explain(`${instance} was not run: ${outcome.reason}`)
        yield* Console.log(JSON.stringify(Schema.encodeSync(RunResultBody)(outcome), null, 2))
        if (outcome._tag !== "Succeeded") return yield* new CliFailure({ message: outcome.error })
      }))
).pipe(Command.withDescription("run one job now and print what it stored"))

const checkConfig = Command.make("check-config", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* loadConfig(config)
    const { config: app, path } = loaded
    yield* suitsScheduler(yield* AppConfig.Env, loaded)
    yield* ConfigCheck.offline(path, app) // feed files, commands, working directories
    const jobs = app.collectors.reduce(
      (n, c) => n + (c.type === "feed" ? c.feeds.length : Math.max(1, c.jobs.length)),
      0
    )
    yield* Console.log(
      `${path}: OK — ${app.collectors.length} collector(s), ${jobs} job(s), storage ${
        Service.storageLabel(app, yield* AppConfig.Env)
      }`
    )
  })).pipe(Command.withDescription("validate the configuration file; check that feed files and commands exist"))

const textOption = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

/** One line of `rayinfo items`: stored time, source, title and link when present, key. */
const itemLine = (item: Item): string => {
  const raw = typeof item.raw === "object" && item.raw !== null && !Array.isArray(item.raw)
    ? item.raw as Readonly<Record<string, unknown>>
    : {}
  const text = (value: unknown) => typeof value === "string" ? value.replace(/\s+/g, " ").trim() : ""
  const title = text(raw.title)
  const link = text(raw.link) || text(raw.url)
  return [DateTime.formatIso(item.storedAt), item.source, title, link === item.key ? "" : link, item.key]
    .filter((part) => part !== "")
    .join("  ")
}

const items = Command.make(
  "items",
  {
    config: configOption,
    source: textOption("source", "only this source (exact instance id, e.g. news:https://x/feed.xml)"),
    collector: textOption("collector", "only this collector's instances (source name or name:<param>)"),
    search: textOption("search", "only items whose key or raw JSON contains this text, ignoring case"),
    since: textOption("since", "only items stored at or after this ISO-8601 instant (no offset means UTC)"),
    until: textOption("until", "only items stored before this ISO-8601 instant"),
    limit: textOption("limit", "how many, 1 to 1000 (default 50)"),
    cursor: textOption("cursor", "continue after the previous page (the cursor it printed)"),
    json: Options.boolean("json").pipe(Options.withDescription("print JSON lines (GET /items' item objects)"))
  },
  (options) =>
    Effect.gen(function*() {
      const query = yield* Effect.catchTag(
        parseQuery({
          source: Option.getOrUndefined(options.source),
          collector: Option.getOrUndefined(options.collector),
          q: Option.getOrUndefined(options.search),
          since: Option.getOrUndefined(options.since),
          until: Option.getOrUndefined(options.until),
          limit: Option.getOrUndefined(options.limit),
          cursor: Option.getOrUndefined(options.cursor)
        }),
        "InvalidItemsQuery",
        (error) => explain(`${error.message} (--${error.parameter === "q" ? "search" : error.parameter})`)
      )
      const { config: app } = yield* loadConfig(options.config)
      const env = yield* AppConfig.Env
      // SQLite: the file opened read-only; PostgreSQL: the service's database, not migrated by this reader
      const itemsLayer = Option.isNone(env.cluster)
        ? ItemsModule.layerReadonly(app.storage.path)
        : ItemsModule.layer.pipe(Layer.provide(Service.databaseLayer(app, env, { migrate: false })))
      const page = yield* Effect.flatMap(Items, (items) => items.page(query)).pipe(
        Effect.provide(itemsLayer),
        Effect.catchTags({
          SqlError: (error) => explain(`Cannot read the items in ${Service.storageLabel(app, env)}: ${error.message}`),
          MigrationError: (error) =>
            explain(`Cannot read the items in ${Service.storageLabel(app, env)}: ${error.message}`)
        })
      )
      for (const item of page.items) {
        yield* Console.log(options.json ? JSON.stringify(Schema.encodeSync(ItemBody)(item)) : itemLine(item))
      }
      // on stderr, so that stdout is only items (one per line)
      if (Option.isSome(page.nextCursor)) {
        yield* Console.error(`more: add --cursor ${page.nextCursor.value}`)
      } else if (page.items.length === 0) {
        yield* Console.error("no items")
      }
    })
).pipe(Command.withDescription("print stored items, newest first (reads the database; works while the service runs)"))

const rayinfo = Command.make("rayinfo").pipe(
  Command.withDescription("RayInfo collector service"),
  Command.withSubcommands([run, collectors, trigger, checkConfig, items])
)

const cli = Command.run(rayinfo, { name: "rayinfo", version: "0.1.0" })

/**
 * The logger of `LOG_FORMAT` in place of Effect's default one (the entry
 * point starts without the pretty logger: `disablePrettyLogger`).
 */
const loggerLayer = (format: AppConfig.LogFormat) =>
  format === "json" ? Logger.json : format === "logfmt" ? Logger.logFmt : Logger.pretty

/**
 * Runs the CLI on `argv`. Known failures (a bad configuration file, an
 * unknown instance) are printed as plain messages; anything else with its
 * cause.
 */
export const main = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const env = yield* AppConfig.environment // the only read of the environment
    return yield* Option.match(env.logLevel, {
      onNone: () => cli(argv),
      onSome: (level) => Logger.withMinimumLogLevel(cli(argv), level)
    }).pipe(Effect.provideService(AppConfig.Env, env), Effect.provide(loggerLayer(env.logFormat)))
  }).pipe(
    Effect.catchTag("ConfigFileError", (error) =>
      Effect.zipRight(Console.error(error.message), Effect.fail(new CliFailure({ message: error.message })))),
    Effect.catchTag("ConfigError", (error) => {
      const message = `Invalid environment: ${String(error)}`
      return Effect.zipRight(Console.error(message), Effect.fail(new CliFailure({ message })))
    }),
    Effect.provide(NodeContext.layer)
  )
