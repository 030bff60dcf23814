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
import { isRepresentable, parseIsoDateTime, RANGE_TEXT } from "./internal/isoDateTime.js"

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
 * The deepest nesting a {@link Json} value may have: 256 levels of arrays and
 * objects (`{ "a": 1 }` is 1 level, `{ "a": [1] }` is 2). Deeper values are
 * rejected, so every accepted value can be stored and read back by any JSON
 * tool without overflowing its stack (SQLite's JSON functions stop at 1000).
 *
 * @since 0.1.0
 * @category models
 */
export const MAX_JSON_DEPTH = 256

/** A container being checked: its items, the next index, and where it is. */
interface Frame {
  readonly container: object
  readonly keys: ReadonlyArray<string> | undefined // undefined for an array
  readonly length: number
  readonly depth: number
  readonly parent: Frame | undefined
  /** The key or index of `container` in its parent. */
  readonly at: string | number | undefined
  next: number
}

const segment = (at: string | number): string => typeof at === "number" ? `[${at}]` : `.${at}`

/** `.a[0].b`, shortened in the middle when very long. */
const formatJsonPath = (frame: Frame | undefined, last: string | number | undefined): string => {
  const segments: Array<string> = last === undefined ? [] : [segment(last)]
  for (let f = frame; f !== undefined && f.at !== undefined; f = f.parent) segments.push(segment(f.at))
  segments.reverse()
  if (segments.length === 0) return "top level"
  return segments.length > 24
    ? `${segments.slice(0, 12).join("")}<${segments.length - 20} more>${segments.slice(-8).join("")}`
    : segments.join("")
}

/** A problem with a leaf value (not an array or an object), or `undefined`. */
const scalarProblem = (u: unknown): string | undefined => {
  switch (typeof u) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(u) ? undefined : `${u} is not a JSON number`
    case "object":
      return undefined
    default:
      return `${u === undefined ? "undefined" : `a ${typeof u}`} is not JSON`
  }
}

/** A problem with a non-null object itself (not its items), or `undefined`. */
const objectProblem = (u: object): string | undefined => {
  if (Array.isArray(u) || isPlainObject(u)) return undefined
  const name = (u as { constructor?: { name?: string } }).constructor?.name ?? "object"
  return `a ${name} is not JSON${name === "Date" ? "; use an ISO-8601 string" : ""}`
}

/**
 * Returns `undefined` if `u` is a JSON value of at most {@link MAX_JSON_DEPTH}
 * levels, else what is wrong and where (e.g. `at .when: a Date is not JSON;
 * use an ISO-8601 string`). Iterative (an explicit stack), so no input can
 * overflow the call stack; the first problem in document order is reported.
 */
const jsonProblem = (u: unknown): string | undefined => {
  const scalar = scalarProblem(u)
  if (scalar !== undefined) return `at top level: ${scalar}`
  if (typeof u !== "object" || u === null) return undefined
  const own = objectProblem(u)
  if (own !== undefined) return `at top level: ${own}`
  const ancestors = new Set<object>()
  const open = (container: object, parent: Frame | undefined, at: string | number | undefined): Frame => {
    ancestors.add(container)
    const keys = Array.isArray(container) ? undefined : Object.keys(container)
    const length = keys === undefined ? (container as ReadonlyArray<unknown>).length : keys.length
    return { container, keys, length, depth: parent === undefined ? 1 : parent.depth + 1, parent, at, next: 0 }
  }
  const stack: Array<Frame> = [open(u, undefined, undefined)]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!
    if (frame.next >= frame.length) {
      stack.pop()
      ancestors.delete(frame.container)
      continue
    }
    const at: string | number = frame.keys === undefined ? frame.next : frame.keys[frame.next]!
    frame.next++
    const value: unknown = (frame.container as Record<string | number, unknown>)[at]
    const scalarIssue = scalarProblem(value)
    if (scalarIssue !== undefined) return `at ${formatJsonPath(frame, at)}: ${scalarIssue}`
    if (typeof value !== "object" || value === null) continue
    if (ancestors.has(value)) return `at ${formatJsonPath(frame, at)}: circular reference`
    const objectIssue = objectProblem(value)
    if (objectIssue !== undefined) return `at ${formatJsonPath(frame, at)}: ${objectIssue}`
    if (frame.depth >= MAX_JSON_DEPTH) {
      return `at ${formatJsonPath(frame, at)}: nested deeper than ${MAX_JSON_DEPTH} levels`
    }
    stack.push(open(value, frame, at))
  }
  return undefined
}

/**
 * Schema of a JSON value: what `JSON.parse` can return. Rejects
 * `undefined`, functions, symbols, bigints, `NaN`, `Infinity`, class
 * instances such as `Date`, circular structures and values nested deeper than
 * {@link MAX_JSON_DEPTH} levels — anything that would not survive
 * `JSON.stringify` / `JSON.parse` (or storage) unchanged — with a message
 * naming the path of the offending value. The check is iterative: no input
 * can overflow the stack. Decoding does not copy the value.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.declare(
  (u: unknown): u is Json => jsonProblem(u) === undefined,
  {
    identifier: "Json",
    description: "a JSON value",
    message: (issue) => `Expected a JSON value, ${jsonProblem(issue.actual) ?? "got something else"}`,
    jsonSchema: {}
  }
)

/**
 * Schema of a JSON object (the shape of `Task.args`): a plain object whose
 * values are JSON, at most {@link MAX_JSON_DEPTH} levels deep.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject: Schema.Schema<JsonObject> = Schema.declare(
  (u: unknown): u is JsonObject => isPlainObject(u) && jsonProblem(u) === undefined,
  {
    identifier: "JsonObject",
    description: "a JSON object",
    message: (issue) =>
      isPlainObject(issue.actual)
        ? `Expected a JSON object, ${jsonProblem(issue.actual) ?? "got something else"}`
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
 * The instant must lie in 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z
 * (four-digit years; ISO-8601 would write other years in an expanded form).
 * This holds on both sides: decoding rejects an offset that moves the instant
 * out of range, and encoding (or the `Task` constructor) rejects a
 * `DateTime.Utc` outside it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IsoDateTimeUtc: Schema.Schema<DateTime.Utc, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DateTimeUtcFromSelf.pipe(
    Schema.filter((dateTime) =>
      isRepresentable(DateTime.toEpochMillis(dateTime)) ||
      `Expected an instant in ${RANGE_TEXT}, got ${new Date(DateTime.toEpochMillis(dateTime)).toISOString()}`, {
      description: `an instant in ${RANGE_TEXT}`
    })
  ),
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

/** Longest task id, in UTF-16 code units. @since 0.3.0 */
export const MAX_TASK_ID_LENGTH = 256

/** What is wrong with a task id, if anything. */
const taskIdProblem = (id: unknown): string | undefined => {
  if (typeof id !== "string" || id.length === 0) return "must be a non-empty string"
  if (id.length > MAX_TASK_ID_LENGTH) return `must be at most ${MAX_TASK_ID_LENGTH} characters long`

  if (/[\u0000-\u001f\u007f]/.test(id)) return "must not contain control characters"
  return undefined
}

/**
 * A task's id: a non-empty string of at most {@link MAX_TASK_ID_LENGTH}
 * characters without control characters. `Task.create` makes a random UUID
 * when none is given; a schedule's occurrences are `<schedule id>@<ISO
 * instant>`; an application may use its own keys (an idempotent submit).
 *
 * @since 0.3.0
 * @category models
 */
export const TaskId = Schema.String.pipe(
  Schema.filter((id) => {
    const problem = taskIdProblem(id)
    return problem === undefined ? undefined : `a task id ${problem}`
  }),
  Schema.annotations({ identifier: "TaskId" })
)

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
  /**
   * The task's id (see {@link TaskId}). Default: a random UUID (v4). Choose
   * your own to make a submission idempotent (e.g. derived from what the
   * task means).
   */
  readonly id?: string | undefined
}

/**
 * A unit of work for one consumer, due at `scheduleAt`.
 *
 * - `id`: unique per pending or running task ({@link TaskId}): a random UUID
 *   by default; a schedule's occurrences have `<schedule id>@<ISO instant>`.
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
  id: TaskId,
  source: Schema.NonEmptyString,
  args: JsonObject,
  scheduleAt: IsoDateTimeUtc
}) {
  /**
   * Creates a task; defaults: random UUID `id`, `args` `{}`, `scheduleAt`
   * now (from the `Clock`, so `TestClock` controls it).
   *
   * The options are validated; an invalid value (empty `source`, an `id`
   * that is not a {@link TaskId}, non-JSON `args` or `args` nested deeper than
   * {@link MAX_JSON_DEPTH} levels, a `scheduleAt` — or, without one, the
   * `Clock`'s now — outside years 0000-9999) is a programming error and dies with
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
      ? Effect.flatMap(DateTime.now, (now) => {
        const outOfRange = scheduleAtProblem(now)
        return outOfRange === undefined
          ? Effect.succeed(make(now))
          : Effect.die(new Cause.IllegalArgumentException(`Task.create: the Clock's now: ${outOfRange}`))
      })
      : Effect.succeed(make(DateTime.toUtc(options.scheduleAt)))
  }

  /** The due instant in epoch milliseconds. */
  get dueMillis(): number {
    return DateTime.toEpochMillis(this.scheduleAt)
  }
}

const createProblem = (options: TaskCreateOptions): string | undefined => {
  if (typeof options.source !== "string" || options.source.length === 0) {
    return `source must be a non-empty string, got ${JSON.stringify(options.source)}`
  }
  if (options.id !== undefined) {
    const problem = taskIdProblem(options.id)
    if (problem !== undefined) return `id ${problem}, got ${JSON.stringify(options.id)}`
  }
  if (options.args !== undefined) {
    if (!isPlainObject(options.args)) return "args must be a JSON object"
    const problem = jsonProblem(options.args)
    if (problem !== undefined) return `args must be JSON: ${problem}`
  }
  if (options.scheduleAt !== undefined) {
    if (!DateTime.isDateTime(options.scheduleAt)) return "scheduleAt must be a DateTime"
    return scheduleAtProblem(options.scheduleAt)
  }
  return undefined
}

const scheduleAtProblem = (scheduleAt: DateTime.DateTime): string | undefined => {
  const millis = DateTime.toEpochMillis(scheduleAt)
  return isRepresentable(millis)
    ? undefined
    : `scheduleAt must be in ${RANGE_TEXT}, got ${
      Number.isFinite(millis) ? new Date(millis).toISOString() : String(millis)
    }`
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
