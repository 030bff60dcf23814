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

/**
 * Schema of a JSON value. Rejects `undefined`, functions, symbols, `NaN`,
 * `Infinity` and class instances such as `Date` — anything that would not
 * survive `JSON.stringify` / `JSON.parse` unchanged.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Finite,
  Schema.String,
  Schema.Array(Schema.suspend((): Schema.Schema<Json> => Json)),
  Schema.Record({ key: Schema.String, value: Schema.suspend((): Schema.Schema<Json> => Json) })
).annotations({ identifier: "Json" })

/**
 * Schema of a JSON object (the shape of `Task.args`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject: Schema.Schema<JsonObject> = Schema.Record({ key: Schema.String, value: Json }).annotations({
  identifier: "JsonObject",
  description: "a JSON object"
})

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
   * the `ParseError` as a defect. Decode untrusted input with
   * `Schema.decodeUnknown(Task)` instead, which fails with a typed error.
   *
   * (Named `create` because `Schema.Class` already owns a static `make`.)
   */
  static create(options: TaskCreateOptions): Effect.Effect<Task> {
    return Effect.map(
      options.scheduleAt === undefined ? DateTime.now : Effect.succeed(DateTime.toUtc(options.scheduleAt)),
      (scheduleAt) =>
        new Task({
          id: options.id ?? crypto.randomUUID(),
          source: options.source,
          args: options.args ?? {},
          scheduleAt
        })
    )
  }

  /** The due instant in epoch milliseconds. */
  get dueMillis(): number {
    return DateTime.toEpochMillis(this.scheduleAt)
  }
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
