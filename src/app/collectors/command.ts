/**
 * The `command` collector: runs a local command (a search tool such as
 * `mes search`) once per job param — e.g. one job per search query — and
 * reads the JSON it prints as events.
 *
 * The command is run directly from an argv array, never through a shell: the
 * param is always exactly one argv element, whatever it contains.
 */
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { JsonObject } from "../../scheduler/Task.js"
import {
  type Collector,
  CollectorError,
  defaultRetryAfter,
  type FetchError,
  instanceId,
  type RawEvent,
  RetryableCollectorError
} from "./Collector.js"
import { canonicalJson, collectBytes, sha256Hex, TailBuffer } from "./internal/util.js"

/** A job of the command collector: one param (e.g. a search query). */
export interface CommandJob {
  /** Passed to the command as one argv element (see {@link CommandCollectorOptions.args}). */
  readonly param: string
  /** How often the job runs. Default: the collector's `interval`. */
  readonly interval?: Duration.DurationInput | undefined
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
  /** Default interval of the jobs. Default: 1 hour. */
  readonly interval?: Duration.DurationInput | undefined
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

const DEFAULT_INTERVAL = Duration.hours(1)
const DEFAULT_TIMEOUT = Duration.seconds(60)
const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024
const DEFAULT_RESULTS_FIELD = "results"
const DEFAULT_KEY_FIELDS: ReadonlyArray<string> = ["url", "link", "id"]
/** Bytes of stderr kept, and characters of it quoted in error messages. */
const STDERR_KEEP_BYTES = 4096
const STDERR_TAIL_CHARS = 500

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
class RunFailure extends Data.TaggedError("RunFailure")<{ readonly reason: string }> {}

/**
 * Makes the command collector. Its `CommandExecutor` is captured here, so
 * `fetch` needs none.
 *
 * The command must print JSON on stdout: an array of results, or an object
 * whose `resultsField` is one. Each result that is a JSON object becomes a
 * {@link RawEvent} (`raw` = the result as printed). **Bad results** (not an
 * object) are skipped with a warning in the log; they do not fail the run.
 *
 * A run fails with
 * - {@link RetryableCollectorError} (`retryAfter` option) when the exit code
 *   is in `quotaExitCodes`, or the output object has `quotaField` truthy;
 * - {@link CollectorError} otherwise on a non-zero exit, a timeout, stdout
 *   over `maxOutputBytes`, output that is not JSON or has no results array,
 *   or a command that cannot be started. The message has the command name
 *   and the last 500 characters of its stderr.
 */
export const make = (
  options: CommandCollectorOptions
): Effect.Effect<Collector, never, CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor

    const name = options.name
    const args = options.args ?? []
    const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES
    const resultsField = options.resultsField ?? DEFAULT_RESULTS_FIELD
    const keyFields = options.keyField === undefined ? DEFAULT_KEY_FIELDS : [options.keyField]
    const quotaExitCodes = options.quotaExitCodes ?? []
    const quotaField = options.quotaField
    const retryAfter = Duration.decode(options.retryAfter ?? defaultRetryAfter)
    const debug = options.debug ?? false
    const label = `command "${options.command}"`

    const commandFor = (param: string | undefined): Command.Command =>
      Command.make(options.command, ...buildArgs(args, param)).pipe(
        // stdin is closed at once: the command never waits for input
        Command.stdin(Stream.empty),
        options.cwd === undefined ? identity : Command.workingDirectory(options.cwd),
        options.env === undefined ? identity : Command.env(options.env)
      )

    const keyOf = (result: JsonObject): string => {
      for (const field of keyFields) {
        const value = result[field]
        if (typeof value === "string" && value !== "") return value
        if (typeof value === "number") return String(value)
      }
      return `sha256:${sha256Hex(canonicalJson(result))}`
    }

    const isQuota = (output: unknown): boolean =>
      quotaField !== undefined && typeof output === "object" && output !== null && !Array.isArray(output) &&
      Boolean((output as Record<string, unknown>)[quotaField])

    /** Runs the command: its exit code, stdout, and the tail of its stderr. */
    const run = (instance: string, param: string | undefined) =>
      Effect.gen(function*() {
        const stderr = new TailBuffer(STDERR_KEEP_BYTES)
        const withStderr = (reason: string): string => {
          const tail = stderr.text(STDERR_TAIL_CHARS)
          return `${label} ${reason}; stderr: ${tail === "" ? "(empty)" : tail}`
        }
        const proc = yield* executor.start(commandFor(param)).pipe(
          Effect.mapError((error) =>
            new CollectorError({ instance, message: `${label} could not be started: ${error.message}`, cause: error })
          )
        )
        const stderrFiber = yield* proc.stderr.pipe(
          Stream.runForEach((chunk) => Effect.sync(() => stderr.push(chunk))),
          Effect.ignore,
          Effect.fork
        )
        const outcome = yield* Effect.all([
          collectBytes(
            proc.stdout,
            maxOutputBytes,
            (seen) =>
              new RunFailure({ reason: `wrote more than ${maxOutputBytes} bytes to stdout (${seen} read; killed)` })
          ).pipe(
            Effect.catchTag("SystemError", (error) =>
              Effect.fail(new RunFailure({ reason: `stdout failed: ${error.message}` }))),
            Effect.catchTag("BadArgument", (error) =>
              Effect.fail(new RunFailure({ reason: `stdout failed: ${error.message}` })))
          ),
          Effect.either(proc.exitCode),
          Fiber.join(stderrFiber)
        ], { concurrency: "unbounded" }).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new RunFailure({ reason: `timed out after ${Duration.format(timeout)} (killed)` })
          }),
          // killed at once on failure or interruption (e.g. service shutdown), even if it ignores SIGTERM
          Effect.tapError(() =>
            Effect.ignore(proc.kill("SIGKILL"))
          ),
          Effect.onInterrupt(() => Effect.ignore(proc.kill("SIGKILL"))),
          Effect.mapError((failure) => new CollectorError({ instance, message: withStderr(failure.reason) }))
        )
        const [stdout, exit] = outcome
        return { stdout, exit, withStderr }
      }).pipe(Effect.scoped)

    const fetch = (param: string | undefined): Stream.Stream<RawEvent, FetchError> =>
      Stream.unwrap(Effect.gen(function*() {
        const instance = instanceId(name, param)
        const { exit, stdout, withStderr } = yield* run(instance, param)
        const fail = (reason: string, cause?: unknown) =>
          Effect.fail(new CollectorError({ instance, message: withStderr(reason), cause }))
        const quota = (reason: string) =>
          Effect.fail(new RetryableCollectorError({ instance, message: withStderr(reason), retryAfter }))

        if (Either.isLeft(exit)) return yield* fail(`was terminated: ${exit.left.message}`, exit.left)
        const code = exit.right
        if (quotaExitCodes.includes(code)) return yield* quota(`exited with quota exit code ${code}`)
        const output = Either.try({
          try: (): unknown => JSON.parse(new TextDecoder("utf-8").decode(stdout)),
          catch: (error) => (error instanceof Error ? error.message : String(error))
        })
        if (Either.isRight(output) && isQuota(output.right)) {
          return yield* quota(`reported quota exceeded ("${quotaField}")`)
        }
        if (code !== 0) return yield* fail(`exited with code ${code}`)
        if (Either.isLeft(output)) return yield* fail(`printed invalid JSON (${output.left})`)

        const value = output.right
        const results: unknown = Array.isArray(value)
          ? value
          : typeof value === "object" && value !== null
          ? (value as Record<string, unknown>)[resultsField]
          : undefined
        if (!Array.isArray(results)) {
          return yield* fail(`printed JSON that is neither an array nor an object with a "${resultsField}" array`)
        }

        const fetchedAt = yield* DateTime.now
        const events: Array<RawEvent> = []
        let skipped = 0
        for (const result of results) {
          if (isJsonObject(result)) {
            events.push({ source: instance, key: keyOf(result), raw: result, fetchedAt, debug })
          } else {
            skipped++
          }
        }
        if (skipped > 0) {
          yield* Effect.logWarning(`${label}: skipped ${skipped} of ${results.length} results (not JSON objects)`).pipe(
            Effect.annotateLogs({ collector: instance })
          )
        }
        return Stream.fromIterable(events)
      }))

    return {
      name,
      defaultInterval: Duration.decode(options.interval ?? DEFAULT_INTERVAL),
      jobs: options.jobs?.map((job) => ({
        param: job.param,
        interval: job.interval === undefined ? undefined : Duration.decode(job.interval)
      })),
      fetch
    } satisfies Collector
  })
