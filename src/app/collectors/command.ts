/**
 * The `command` collector: runs a local command (a search tool such as
 * `mes search`) once per job param — e.g. one job per search query — and
 * reads the JSON it prints as events.
 *
 * The command is run directly from an argv array, never through a shell: the
 * param is always exactly one argv element, whatever it contains.
 *
 * Each run has a process group of its own (the command's pid is its id),
 * recorded in {@link ProcessGroups} while it runs. The whole group — the
 * command and whatever it started — is killed with `SIGKILL` when the run
 * ends: after a success as after a failure, a timeout or an interruption
 * (at once, without waiting for anything). What a crashed service left is
 * killed by `ProcessGroups` at the next start.
 *
 * A run, step by step: spawn (interruptible) → wait for the exit (or for
 * stdout to pass `maxOutputBytes`), all under `timeout` → kill the group →
 * read the pipes to their end (at most {@link drainGrace}) → scan the
 * output and parse its results in slices, letting the event loop run
 * between slices (a 10 MiB output never blocks it for long) → emit the
 * events in chunks of {@link resultsPerSlice}, again yielding between
 * chunks, so the pipeline that stores them does not hold the event loop
 * either.
 */
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scheduler from "effect/Scheduler"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { JsonObject } from "../../scheduler/Task.js"
import { describeActual } from "../config/formatIssues.js"
import {
  CollectorName,
  CronExpression,
  GiB,
  IntBetween,
  Interval,
  List,
  NonEmpty,
  NonEmptyProcessString,
  ProcessString,
  TimeZone,
  UpTo24Hours,
  withDefault
} from "../config/schemas.js"
import {
  type Collector,
  CollectorError,
  defaultRetryAfter,
  type FetchError,
  instanceId,
  type RawEvent,
  RetryableCollectorError
} from "./Collector.js"
import { OutputScanner, parseJson } from "./internal/outputScanner.js"
import * as Process from "./internal/process.js"
import { canonicalJson, sha256Hex } from "./internal/util.js"
import { ProcessGroups } from "./ProcessGroups.js"

/** A job of the command collector: one param (e.g. a search query). */
export interface CommandJob {
  /** Passed to the command as one argv element (see {@link CommandCollectorOptions.args}). */
  readonly param: string
  /** How often the job runs. Default: the collector's timing. Not with `cron`. */
  readonly interval?: Duration.DurationInput | undefined
  /** Cron times of the job. Default: the collector's timing. Not with `interval`. */
  readonly cron?: string | undefined
  /** The IANA time zone of the job's cron times. Default: the collector's `timeZone`, else UTC. */
  readonly timeZone?: string | undefined
}

/** Options of {@link make}. */
export interface CommandCollectorOptions {
  /** The collector's name; instance ids are `name` or `name:param`. Required. */
  readonly name: string
  /** The executable: a name looked up in `PATH`, or a path. Required. */
  readonly command: string
  /**
   * Arguments. An element exactly equal to `"{param}"` is replaced by the
   * job's param; if no element is `"{param}"`, the param is appended as the
   * last argument. Without a param (a collector without jobs) `"{param}"`
   * elements are dropped. Never interpreted by a shell. Default: `[]`.
   */
  readonly args?: ReadonlyArray<string> | undefined
  /** Parameterised jobs. Default: none — the command runs as one job without param. */
  readonly jobs?: ReadonlyArray<CommandJob> | undefined
  /** Default interval of the jobs. Default: 1 hour (unless `cron` is given). */
  readonly interval?: Duration.DurationInput | undefined
  /** Cron times of the jobs instead of an interval (5 fields, or 6 with seconds first). */
  readonly cron?: string | undefined
  /** The IANA time zone of cron times. Default: UTC. */
  readonly timeZone?: string | undefined
  /** Limit on one run; the process (and its process group) is killed beyond it. Default: 60 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Largest stdout accepted, in bytes; the process is killed beyond it. Default: 10 MiB (10 485 760). */
  readonly maxOutputBytes?: number | undefined
  /** Field holding the results when the output is a JSON object. Default: `"results"`. */
  readonly resultsField?: string | undefined
  /**
   * Field of a result used as its event key (a non-empty string or a number).
   * Default: the first present of `"url"`, `"link"`, `"id"`. A result without
   * it is keyed by the SHA-256 of its JSON (keys sorted).
   */
  readonly keyField?: string | undefined
  /** Exit codes meaning "quota exceeded": the run is retryable. Default: `[]`. */
  readonly quotaExitCodes?: ReadonlyArray<number> | undefined
  /**
   * Field of the output JSON object that, when truthy, means "quota exceeded":
   * the run is retryable. Default: none.
   */
  readonly quotaField?: string | undefined
  /** `retryAfter` of the retryable error on quota. Default: {@link defaultRetryAfter} (1 hour). */
  readonly retryAfter?: Duration.DurationInput | undefined
  /** Working directory of the command. Default: the process's. */
  readonly cwd?: string | undefined
  /** Environment variables added to (overriding) the process's environment. Default: none. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Marks every event as fetched in debug mode (`RawEvent.debug`). Default: `false`. */
  readonly debug?: boolean | undefined
}

/** Defaults of {@link CommandCollectorOptions}, used by {@link make} and by {@link Config}. */
export const defaults = {
  args: [],
  jobs: [],
  interval: Duration.hours(1),
  timeout: Duration.seconds(60),
  maxOutputBytes: 10 * 1024 * 1024,
  resultsField: "results",
  /** Without `keyField`: the first of these fields present in a result. */
  keyFields: ["url", "link", "id"],
  quotaExitCodes: [],
  retryAfter: defaultRetryAfter,
  debug: false
} as const

/** A job as configured: a {@link CommandJob}. */
export const CommandJobConfig = Schema.Struct({
  /** The parameter (e.g. a search query), passed as one argv element. */
  param: NonEmptyProcessString,
  /** How often this job runs (1 second to 365 days). Default: the collector's `interval`. */
  interval: Schema.optional(Interval),
  /** Cron times of this job instead of an interval (5 fields, or 6 with seconds first). */
  cron: Schema.optional(CronExpression),
  /** The IANA time zone of the cron times. Default: the collector's `timeZone`, else UTC. */
  timeZone: Schema.optional(TimeZone)
}).annotations({ description: `a job (a map with keys "param", "interval", "cron", "timeZone")` })

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

/**
 * The collector's options as configured (`type: command` in the
 * configuration file): every {@link CommandCollectorOptions} field, bounded,
 * with its default from {@link defaults}. Its decoded value is what
 * {@link make} takes.
 */
export const Config = Schema.Struct({
  name: CollectorName,
  command: NonEmptyProcessString,
  args: withDefault(List(ProcessString, "strings"), () => defaults.args),
  jobs: withDefault(List(CommandJobConfig, "jobs"), () => defaults.jobs),
  /** How often the jobs run. Default: {@link defaults}' `interval`, unless `cron` is given (not both). */
  interval: Schema.optional(Interval),
  /** Cron times of the jobs instead of an interval (5 fields, or 6 with seconds first). */
  cron: Schema.optional(CronExpression),
  /** The IANA time zone of cron times (the collector's and its jobs'). Default: UTC. */
  timeZone: Schema.optional(TimeZone),
  timeout: withDefault(UpTo24Hours, () => defaults.timeout),
  maxOutputBytes: withDefault(IntBetween(1, GiB, "1 GiB"), () => defaults.maxOutputBytes),
  resultsField: withDefault(NonEmpty, () => defaults.resultsField),
  keyField: Schema.optional(NonEmpty),
  quotaExitCodes: withDefault(List(IntBetween(0, 255), "exit codes"), () => defaults.quotaExitCodes),
  quotaField: Schema.optional(NonEmpty),
  retryAfter: withDefault(UpTo24Hours, () => defaults.retryAfter),
  cwd: Schema.optional(NonEmptyProcessString),
  env: Schema.optional(Environment),
  debug: withDefault(Schema.Boolean, () => defaults.debug)
})

/** The collector's options as configured. */
export type Config = typeof Config.Type
/** Bytes of stderr kept, and characters of it quoted in error messages. */
const STDERR_KEEP_BYTES = 4096
const STDERR_TAIL_CHARS = 500
/** Characters of the command line kept in its {@link ProcessGroups} record. */
const RECORDED_COMMAND_CHARS = 200

/**
 * How long stdout and stderr may stay open once the command exited and its
 * group was killed: only a process that left the group (`setsid`) can hold
 * them that long. Beyond it the run fails. 2 seconds.
 */
export const drainGrace: Duration.Duration = Duration.seconds(2)

/** Results parsed between two turns of the event loop: 1000 (about 1–3 ms of work). */
export const resultsPerSlice = 1000

/**
 * Events emitted between two turns of the event loop: 100 (the pipeline's
 * default batch: its work on them — one transaction — runs in one turn).
 */
export const eventsPerChunk = 100

/** Characters of output scanned between two turns of the event loop: 1 Mi. */
const SCAN_SLICE_CHARS = 1024 * 1024

/**
 * Runs its tasks from `setImmediate`: an effect yielding on it lets the
 * event loop handle pending I/O (an HTTP request, a finished query) before
 * it goes on. (`Effect.yieldNow` on the default scheduler resumes from a
 * microtask, which lets other fibers run but not the event loop.)
 */
const eventLoopScheduler = Scheduler.make((task) => void setImmediate(task))

/** Lets the event loop run (a macrotask turn), then goes on. */
const yieldToEventLoop: Effect.Effect<void> = Effect.withScheduler(Effect.yieldNow(), eventLoopScheduler)

/**
 * The argv of a run: `"{param}"` elements replaced by `param` (or appended
 * if there is none); without param, `"{param}"` elements are dropped.
 */
export const buildArgs = (args: ReadonlyArray<string>, param: string | undefined): Array<string> => {
  if (param === undefined) return args.filter((arg) => arg !== "{param}")
  return args.includes("{param}") ? args.map((arg) => (arg === "{param}" ? param : arg)) : [...args, param]
}

const isJsonObject = Schema.is(JsonObject)

/** A failure inside the timed part of a run; becomes a CollectorError with the stderr tail. */
class RunFailure extends Data.TaggedError("RunFailure")<{
  readonly reason: string
  /** The pipes were already waited for (and stayed open): no point waiting again. */
  readonly drained?: boolean
}> {}

/**
 * Makes the command collector. Its {@link ProcessGroups} service is
 * captured here, so `fetch` needs none.
 *
 * The command must print JSON on stdout: an array of results, or an object
 * whose `resultsField` is one. Each result that is a JSON object becomes a
 * {@link RawEvent} (`raw` = the result as printed). **Bad results** (not an
 * object) are skipped with a warning in the log; they do not fail the run.
 *
 * A run fails with
 * - {@link RetryableCollectorError} (`retryAfter` option) when the exit code
 *   is in `quotaExitCodes`, or the output object has `quotaField` truthy;
 * - {@link CollectorError} otherwise on a non-zero exit or a signal, a
 *   timeout, stdout over `maxOutputBytes`, output that is not JSON or has no
 *   results array, pipes held open beyond {@link drainGrace} after the
 *   exit, or a command that cannot be started. The message has the command
 *   name and the last 500 characters of its stderr.
 *
 * Whatever the outcome, the command's process group is killed (`SIGKILL`)
 * before the run ends.
 */
export const make = (
  options: CommandCollectorOptions
): Effect.Effect<Collector, never, ProcessGroups> =>
  Effect.gen(function*() {
    const groups = yield* ProcessGroups

    const name = options.name
    const args = options.args ?? defaults.args
    const timeout = Duration.decode(options.timeout ?? defaults.timeout)
    const maxOutputBytes = options.maxOutputBytes ?? defaults.maxOutputBytes
    const resultsField = options.resultsField ?? defaults.resultsField
    const keyFields = options.keyField === undefined ? defaults.keyFields : [options.keyField]
    const quotaExitCodes = options.quotaExitCodes ?? defaults.quotaExitCodes
    const quotaField = options.quotaField
    const retryAfter = Duration.decode(options.retryAfter ?? defaults.retryAfter)
    const debug = options.debug ?? defaults.debug
    const label = `command "${options.command}"`

    const keyOf = (result: JsonObject): string => {
      for (const field of keyFields) {
        const value = result[field]
        if (typeof value === "string" && value !== "") return value
        if (typeof value === "number") return String(value)
      }
      return `sha256:${sha256Hex(canonicalJson(result))}`
    }

    /**
     * Runs the command to its end: its exit status, its stdout, and a
     * function quoting the tail of its stderr. The group is dead when this
     * returns, fails or is interrupted.
     */
    const run = (instance: string, param: string | undefined) =>
      Effect.gen(function*() {
        const argv = buildArgs(args, param)
        const commandLine = [options.command, ...argv].join(" ").slice(0, RECORDED_COMMAND_CHARS)
        const proc = yield* Process.spawn({
          command: options.command,
          args: argv,
          cwd: options.cwd,
          env: options.env,
          maxStdoutBytes: maxOutputBytes,
          stderrKeepBytes: STDERR_KEEP_BYTES
        }, (pgid) =>
          Effect.zipRight(
            // recorded as soon as the group exists; dropped when the run's scope closes, after the group was killed
            groups.track(pgid, instance, commandLine),
            Effect.addFinalizer(() => Effect.sync(() => Process.killProcessGroup(pgid)))
          )).pipe(
            Effect.mapError((error) =>
              new CollectorError({ instance, message: `${label} could not be started: ${error.message}`, cause: error })
            )
          )
        const withStderr = (reason: string): string => {
          const tail = proc.stderrTail(STDERR_TAIL_CHARS)
          return `${label} ${reason}; stderr: ${tail === "" ? "(empty)" : tail}`
        }

        const toEnd = Effect.gen(function*() {
          const status = yield* proc.exit.pipe(
            Effect.catchTag("StdoutTooLarge", (error) =>
              Effect.fail(
                new RunFailure({
                  reason: `wrote more than ${maxOutputBytes} bytes to stdout (${error.bytesSeen} read; killed)`
                })
              ))
          )
          // what the command left running goes with it, so that the pipes reach their end
          yield* proc.killGroup
          yield* proc.closed.pipe(
            Effect.timeoutFail({
              duration: drainGrace,
              onTimeout: () =>
                new RunFailure({
                  reason: `exited, but its stdout or stderr was still open ${
                    Duration.format(drainGrace)
                  } later (held by a process that left the process group)`,
                  drained: true
                })
            })
          )
          if (proc.stdoutBytes() > maxOutputBytes) {
            return yield* new RunFailure({
              reason: `wrote more than ${maxOutputBytes} bytes to stdout (${proc.stdoutBytes()} read)`
            })
          }
          return status
        })

        const status = yield* toEnd.pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new RunFailure({ reason: `timed out after ${Duration.format(timeout)} (killed)` })
          }),
          // killed at once; its stderr is read to the end (briefly) for the message
          Effect.tapError((failure) =>
            Effect.zipRight(
              proc.killGroup,
              failure.drained === true ? Effect.void : Effect.ignore(Effect.timeout(proc.closed, drainGrace))
            )
          ),
          Effect.mapError((failure) => new CollectorError({ instance, message: withStderr(failure.reason) }))
        )
        return { status, stdout: proc.stdout(), withStderr }
      }).pipe(Effect.scoped)

    const fetch = (param: string | undefined): Stream.Stream<RawEvent, FetchError> =>
      Stream.unwrap(Effect.gen(function*() {
        const instance = instanceId(name, param)
        const { status, stdout, withStderr } = yield* run(instance, param)
        const fail = (reason: string, cause?: unknown) =>
          Effect.fail(new CollectorError({ instance, message: withStderr(reason), cause }))
        const quota = (reason: string) =>
          Effect.fail(new RetryableCollectorError({ instance, message: withStderr(reason), retryAfter }))

        if (status.code === null) return yield* fail(`was terminated by signal ${status.signal}`)
        const code = status.code
        if (quotaExitCodes.includes(code)) return yield* quota(`exited with quota exit code ${code}`)
        // only the quota field could turn a failed run into a retry
        if (code !== 0 && quotaField === undefined) return yield* fail(`exited with code ${code}`)

        const text = new TextDecoder("utf-8").decode(stdout)
        yield* yieldToEventLoop
        const scanner = new OutputScanner(text, resultsField, quotaField)
        while (!scanner.step(SCAN_SLICE_CHARS)) yield* yieldToEventLoop
        const scanned = scanner.result()

        if (scanned._tag !== "Invalid" && scanned.quota !== undefined && Boolean(scanned.quota.value)) {
          return yield* quota(`reported quota exceeded ("${quotaField}")`)
        }
        if (code !== 0) return yield* fail(`exited with code ${code}`)
        if (scanned._tag === "Invalid") return yield* fail(`printed invalid JSON (${scanned.reason})`)
        if (scanned._tag === "NoResults") {
          return yield* fail(`printed JSON that is neither an array nor an object with a "${resultsField}" array`)
        }

        const fetchedAt = yield* DateTime.now
        const spans = scanned.spans
        const total = spans.length / 2
        const chunks: Array<Chunk.Chunk<RawEvent>> = []
        let skipped = 0
        for (let first = 0; first < total; first += resultsPerSlice) {
          const events: Array<RawEvent> = []
          for (let index = first; index < Math.min(first + resultsPerSlice, total); index++) {
            const parsed = parseJson(text.slice(spans[2 * index], spans[2 * index + 1]))
            if ("error" in parsed) return yield* fail(`printed invalid JSON (result ${index + 1}: ${parsed.error})`)
            const result = parsed.value
            if (isJsonObject(result)) {
              events.push({ source: instance, key: keyOf(result), raw: result, fetchedAt, debug })
            } else {
              skipped++
            }
          }
          for (let start = 0; start < events.length; start += eventsPerChunk) {
            chunks.push(Chunk.unsafeFromArray(events.slice(start, start + eventsPerChunk)))
          }
          yield* yieldToEventLoop
        }
        if (skipped > 0) {
          yield* Effect.logWarning(`${label}: skipped ${skipped} of ${total} results (not JSON objects)`).pipe(
            Effect.annotateLogs({ collector: instance })
          )
        }
        // one chunk per turn of the event loop: the consumer's work on a chunk runs between two turns
        return Stream.fromIterable(chunks).pipe(
          Stream.mapEffect((chunk) => Effect.as(yieldToEventLoop, chunk)),
          Stream.flattenChunks
        )
      }))

    return {
      name,
      defaultInterval: Duration.decode(options.interval ?? defaults.interval),
      cron: options.cron,
      timeZone: options.timeZone,
      jobs: options.jobs?.map((job) => ({
        param: job.param,
        interval: job.interval === undefined ? undefined : Duration.decode(job.interval),
        cron: job.cron,
        timeZone: job.timeZone
      })),
      fetch
    } satisfies Collector
  })
