/**
 * `Task` — the smallest unit the scheduler schedules.
 *
 * A task names the consumer that will run it (`source`), carries a JSON
 * object of arguments for that consumer (`args`) and the instant it is due
 * (`scheduleAt`). Its encoded form is JSON-safe, so tasks can be sent over a
 * wire or persisted and decoded back with `Schema.decodeUnknown(Task)`.
 *
 * Schema comes from `effect/Schema`. The separate `@effect/schema` package
 * was merged into `effect` in 3.10 and is obsolete: do not install it.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { parseIsoDateTime } from "./internal/isoDateTime.js"

/**
 * A JSON value: what `JSON.parse` can return (numbers are finite).
 *
 * @since 0.1.0
 * @category models
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | JsonObject

/**
 * A JSON object.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonObject {
  readonly [key: string]: Json
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * Returns `undefined` if `u` is a JSON value, else what is wrong and where
 * (e.g. `at .when: a Date is not JSON; use an ISO-8601 string`).
 */
const jsonProblem = (u: unknown, path: string, ancestors: Set<unknown>): string | undefined => {
  switch (typeof u) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(u) ? undefined : `at ${path || "top level"}: ${u} is not a JSON number`
    case "object": {
      if (u === null) return undefined
      if (ancestors.has(u)) return `at ${path || "top level"}: circular reference`
      ancestors.add(u)
      try {
        if (Array.isArray(u)) {
          for (let i = 0; i < u.length; i++) {
            const problem = jsonProblem(u[i], `${path}[${i}]`, ancestors)
            if (problem !== undefined) return problem
          }
          return undefined
        }
        if (!isPlainObject(u)) {
          const name = (u as object).constructor?.name ?? "object"
          return `at ${path || "top level"}: a ${name} is not JSON${name === "Date" ? "; use an ISO-8601 string" : ""}`
        }
        for (const key of Object.keys(u)) {
          const problem = jsonProblem(u[key], `${path}.${key}`, ancestors)
          if (problem !== undefined) return problem
        }
        return undefined
      } finally {
        ancestors.delete(u)
      }
    }
    default:
      return `at ${path || "top level"}: ${u === undefined ? "undefined" : `a ${typeof u}`} is not JSON`
  }
}

/**
 * Schema of a JSON value: what `JSON.parse` can return. Rejects
 * `undefined`, functions, symbols, bigints, `NaN`, `Infinity`, class
 * instances such as `Date` and circular structures — anything that would not
 * survive `JSON.stringify` / `JSON.parse` unchanged — with a message naming
 * the path of the offending value. Decoding does not copy the value.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.declare(
  (u: unknown): u is Json => jsonProblem(u, "", new Set()) === undefined,
  {
    identifier: "Json",
    description: "a JSON value",
    message: (issue) => `Expected a JSON value, ${jsonProblem(issue.actual, "", new Set()) ?? "got something else"}`,
    jsonSchema: {}
  }
)

/**
 * Schema of a JSON object (the shape of `Task.args`): a plain object whose
 * values are JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject: Schema.Schema<JsonObject> = Schema.declare(
  (u: unknown): u is JsonObject => isPlainObject(u) && jsonProblem(u, "", new Set()) === undefined,
  {
    identifier: "JsonObject",
    description: "a JSON object",
    message: (issue) =>
      isPlainObject(issue.actual)
        ? `Expected a JSON object, ${jsonProblem(issue.actual, "", new Set()) ?? "got something else"}`
        : `Expected a JSON object, got ${
          Array.isArray(issue.actual)
            ? "an array"
            : issue.actual === null
            ? "null"
            : typeof issue.actual === "object"
            ? `a ${(issue.actual as object).constructor?.name ?? "object"}`
            : `a ${typeof issue.actual}`
        }`,
    jsonSchema: { type: "object" }
  }
)

/**
 * An ISO-8601 date-time string decoded to a `DateTime.Utc`.
 *
 * Any offset is accepted (`2024-05-01T20:00:00+08:00` is the same instant as
 * `2024-05-01T12:00:00Z`). A timestamp **without** an offset is read as UTC,
 * whatever the process time zone (`TZ`) is. Field values are checked: month
 * 13 or February 30th are parse errors, not silently rolled over. Encodes as
 * `DateTime.formatIso` (`2024-05-01T12:00:00.000Z`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const IsoDateTimeUtc: Schema.Schema<DateTime.Utc, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DateTimeUtcFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      const parsed = parseIsoDateTime(input)
      return typeof parsed === "number"
        ? ParseResult.succeed(DateTime.unsafeMake(parsed))
        : ParseResult.fail(new ParseResult.Type(ast, input, `Invalid date-time ${JSON.stringify(input)}: ${parsed}`))
    },
    encode: (dateTime) => ParseResult.succeed(DateTime.formatIso(dateTime))
  }
).annotations({ identifier: "IsoDateTimeUtc" })

/**
 * Options of {@link Task.create}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskCreateOptions {
  /** Name of the consumer that will run the task. Must not be empty. */
  readonly source: string
  /** Arguments for the consumer. Default: `{}`. */
  readonly args?: JsonObject | undefined
  /** When the task is due. Default: now, read from the `Clock`. */
  readonly scheduleAt?: DateTime.DateTime | undefined
  /** The task's id. Default: a random UUID (v4). */
  readonly id?: string | undefined
}

/**
 * A unit of work for one consumer, due at `scheduleAt`.
 *
 * - `id`: UUID, unique per task.
 * - `source`: name of the consumer that runs it (non-empty).
 * - `args`: JSON object the consumer reads.
 * - `scheduleAt`: due instant, a `DateTime.Utc`; encoded as an ISO-8601 string.
 *
 * Decode untrusted input with `Schema.decodeUnknown(Task)`: bad input is a
 * `ParseError` naming the field and what was expected.
 *
 * @since 0.1.0
 * @category models
 */
export class Task extends Schema.Class<Task>("ray-scheduler/Task")({
  id: Schema.UUID,
  source: Schema.NonEmptyString,
  args: JsonObject,
  scheduleAt: IsoDateTimeUtc
}) {
  /**
   * Creates a task; defaults: random UUID `id`, `args` `{}`, `scheduleAt`
   * now (from the `Clock`, so `TestClock` controls it).
   *
   * The options are validated; an invalid value (empty `source`, an `id`
   * that is not a UUID, non-JSON `args`) is a programming error and dies with
   * an `IllegalArgumentException` saying what is wrong. Decode untrusted
   * input with `Schema.decodeUnknown(Task)` instead, which fails with a typed
   * `ParseError`.
   *
   * (Named `create` because `Schema.Class` already owns a static `make`.)
   */
  static create(options: TaskCreateOptions): Effect.Effect<Task> {
    const problem = createProblem(options)
    if (problem !== undefined) return Effect.die(new Cause.IllegalArgumentException(`Task.create: ${problem}`))
    // validated above: skip the (much slower) generic constructor validation
    const make = (scheduleAt: DateTime.Utc) =>
      new Task(
        { id: options.id ?? crypto.randomUUID(), source: options.source, args: options.args ?? {}, scheduleAt },
        true
      )
    return options.scheduleAt === undefined
      ? Effect.map(DateTime.now, make)
      : Effect.succeed(make(DateTime.toUtc(options.scheduleAt)))
  }

  /** The due instant in epoch milliseconds. */
  get dueMillis(): number {
    return DateTime.toEpochMillis(this.scheduleAt)
  }
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const createProblem = (options: TaskCreateOptions): string | undefined => {
  if (typeof options.source !== "string" || options.source.length === 0) {
    return `source must be a non-empty string, got ${JSON.stringify(options.source)}`
  }
  if (options.id !== undefined && (typeof options.id !== "string" || !UUID_PATTERN.test(options.id))) {
    return `id must be a UUID, got ${JSON.stringify(options.id)}`
  }
  if (options.args !== undefined) {
    if (!isPlainObject(options.args)) return "args must be a JSON object"
    const problem = jsonProblem(options.args, "", new Set())
    if (problem !== undefined) return `args must be JSON: ${problem}`
  }
  if (options.scheduleAt !== undefined && !DateTime.isDateTime(options.scheduleAt)) {
    return "scheduleAt must be a DateTime"
  }
  return undefined
}

/**
 * The JSON-safe encoded form of a {@link Task}.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskEncoded = typeof Task.Encoded

/**
 * Decodes an unknown value (e.g. parsed JSON) into a {@link Task}.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeUnknown: (input: unknown) => Effect.Effect<Task, ParseResult.ParseError> = Schema.decodeUnknown(
  Task
)

/**
 * Encodes a {@link Task} to its JSON-safe form.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode: (task: Task) => Effect.Effect<TaskEncoded, ParseResult.ParseError> = Schema.encode(Task)
