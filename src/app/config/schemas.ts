/**
 * Schemas of configuration values shared by the configuration file
 * (`AppConfig.ts`) and the collectors' own option schemas
 * (`FeedCollector.Config`, `CommandCollector.Config`): durations written as
 * text with bounds, bounded integers, strings safe for a process or an HTTP
 * header, and the helpers that give an option its default and a list its
 * description. Their messages are the configuration file's (see
 * `formatIssues.ts`).
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Scheduler from "../../scheduler/Scheduler.js"
import { describeActual } from "./formatIssues.js"

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
export const Interval = durationText({ millis: 365 * DAY, text: "365 days" }, { millis: SECOND, text: "1 second" })
/** A timeout or delay of a run: at most 24 hours. */
export const UpTo24Hours = durationText({ millis: 24 * HOUR, text: "24 hours" })
/** At most 1 hour (database lock waits, shutdown). */
export const UpTo1Hour = durationText({ millis: HOUR, text: "1 hour" })
/** The dispatcher's longest sleep: at most 24 days (what one timer can wait). */
export const UpTo24Days = durationText({ millis: 24 * DAY, text: "24 days" })

/** An integer in `min`..`max` (so no NaN, no Infinity, no 1e400). */
export const IntBetween = (min: number, max: number, maxText?: string) => {
  const range = `an integer from ${min} to ${max}${maxText === undefined ? "" : ` (${maxText})`}`
  return Schema.Number.pipe(
    Schema.filter((n) => (Number.isInteger(n) && n >= min && n <= max) || `Expected ${range}, got ${n}`, {
      description: range
    })
  )
}

/** One GiB in bytes. */
export const GiB = 1024 * 1024 * 1024

/** A non-empty string without leading or trailing spaces. */
export const NonEmpty = Schema.String.pipe(
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
export const ProcessString = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\0") || `Expected a string without NUL characters, got ${describeActual(s)}`, {
    description: "a string"
  })
)

/** {@link NonEmpty} and no NUL (a command, a param, a directory). */
export const NonEmptyProcessString = NonEmpty.pipe(
  Schema.filter((s) => !s.includes("\0") || `Expected a string without NUL characters, got ${describeActual(s)}`, {
    description: "a non-empty string"
  })
)

/** A collector name: instance ids are `name:param`, so it may not contain ":". */
export const CollectorName = NonEmpty.pipe(
  Schema.filter(
    (s) =>
      !s.includes(":") ||
      `Expected a collector name without ":" (instance ids are name:param), got ${describeActual(s)}`,
    { description: "a collector name (no \":\")" }
  )
)

/** An HTTP header value (the User-Agent): no control characters. */
export const HeaderValue = Schema.String.pipe(
  Schema.filter(
    (s) =>
      (s.trim().length > 0 && !/[\u0000-\u001f\u007f]/.test(s)) ||
      `Expected a non-empty string without control characters, got ${describeActual(s)}`,
    { description: "a non-empty string without control characters" }
  )
)

/** An optional key that decodes to `value()` when absent. */
export const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>) =>
  Schema.optionalWith(schema, { default: value })

/** `Schema.Array` described as "a list of `what`" in messages. */
export const List = <A, I, R>(item: Schema.Schema<A, I, R>, what: string) =>
  Schema.Array(item).annotations({ description: `a list of ${what}` })

/**
 * A cron expression of 5 fields (minute hour day-of-month month
 * day-of-week) or 6 (seconds first), checked by the scheduler's own parser
 * (`Scheduler.validateSchedule`), so that what loads is what runs.
 */
export const CronExpression = NonEmpty.pipe(
  Schema.filter(
    (expression) =>
      Option.match(Scheduler.validateSchedule({ id: "config", source: "config", cron: expression }), {
        onNone: () => true,
        onSome: (error) =>
          `Expected a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first): ${error.reason}`
      }),
    { description: "a cron expression such as \"0 7 * * 1-5\"" }
  )
)

/** An IANA time zone name (`Europe/Berlin`, `UTC`), as the scheduler accepts it. */
export const TimeZone = NonEmpty.pipe(
  Schema.filter(
    (zone) =>
      Option.isNone(
        Scheduler.validateSchedule({ id: "config", source: "config", cron: "0 0 * * *", timeZone: zone })
      ) ||
      `Expected an IANA time zone name such as "Europe/Berlin" or "UTC", got ${describeActual(zone)}`,
    { description: "an IANA time zone name" }
  )
)

/** What to do with runs missed while the service was down or stopped: `coalesce`, `all` or `skip`. */
export const MisfirePolicy = Schema.Literal("coalesce", "all", "skip").annotations({
  description: `"coalesce", "all" or "skip"`
})

/** A missed run older than this is never run: 1 second to 365 days. */
export const Grace = durationText({ millis: 365 * DAY, text: "365 days" }, { millis: SECOND, text: "1 second" })

/** A collector's misfire rule: `policy` (default `coalesce`) and `grace` (default: no limit). */
export const Misfire = Schema.Struct({
  policy: withDefault(MisfirePolicy, () => "coalesce" as const),
  grace: Schema.optional(Grace)
}).annotations({ description: `a map with keys "policy", "grace"` })
