/**
 * The `feed` collector: RSS 2.0 (and RSS 1.0 / RDF) and Atom feeds, one
 * parameterised job per feed. The job param is the feed's http(s) URL or a
 * local file (path or `file:` URL; a relative path is resolved against the
 * process's working directory).
 *
 * - http(s) goes through `@effect/platform`'s `HttpClient`: a timeout on the
 *   whole exchange, a response size limit, a `User-Agent`, redirects followed,
 *   and conditional GET — the `ETag` / `Last-Modified` of the last good
 *   response are kept in the {@link JobStateStore} (meta key `"http"`) and
 *   sent back as `If-None-Match` / `If-Modified-Since`; `304 Not Modified` is
 *   a run without events.
 * - local files are read under the same timeout and size limit; only
 *   regular files: a FIFO, a device, a socket or a directory is refused
 *   before anything is opened (opening a FIFO would block a thread until a
 *   writer appears), and the file is opened so that it cannot block
 *   (`internal/file.ts`).
 * - the document is parsed with fast-xml-parser configured for hostile input
 *   (see `docs/collectors.md`): no DOCTYPE entity is expanded, external
 *   entities are refused, nothing beyond the size limit is read.
 *
 * Each item becomes a {@link RawEvent} whose `raw` is a normalised JSON object
 * (see {@link FeedEntry}).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { isAbsolute, resolve as resolvePath } from "node:path"
import { fileURLToPath } from "node:url"
import { describeActual } from "../config/formatIssues.js"
import {
  CollectorName,
  CronExpression,
  GiB,
  HeaderValue,
  IntBetween,
  Interval,
  List,
  NonEmptyProcessString,
  TimeZone,
  UpTo24Hours,
  withDefault
} from "../config/schemas.js"
import { JobStateStore } from "../storage/JobStateStore.js"
import {
  type Collector,
  CollectorError,
  defaultRetryAfter,
  type FetchError,
  instanceId,
  type RawEvent,
  RetryableCollectorError
} from "./Collector.js"
import { type FeedItem, parseFeed } from "./internal/feedParser.js"
import { readRegularFile } from "./internal/file.js"
import { canonicalJson, collectBytes, sha256Hex } from "./internal/util.js"

/** One feed to collect: a job of the feed collector. */
/**
 * The system error code under a transport failure (`ECONNREFUSED`,
 * `ENOTFOUND`, `ETIMEDOUT`, `ECONNRESET`...), as `: CODE`; empty if there is
 * none. The log line then says why, without a stack trace.
 */
const systemReason = (cause: unknown): string => {
  let current: unknown = cause
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string" && /^E[A-Z0-9_]+$/.test(code)) return `: ${code}`
    current = (current as { readonly cause?: unknown }).cause
  }
  return ""
}

export interface FeedSource {
  /**
   * The feed: an `http:` / `https:` URL, a `file:` URL, or a local path
   * (relative paths are resolved against the process's working directory).
   * It is the job's param.
   */
  readonly url: string
  /** How often this feed is fetched. Default: the collector's timing. Not with `cron`. */
  readonly interval?: Duration.DurationInput | undefined
  /** Cron times of this feed. Default: the collector's timing. Not with `interval`. */
  readonly cron?: string | undefined
  /** The IANA time zone of this feed's cron times. Default: the collector's `timeZone`, else UTC. */
  readonly timeZone?: string | undefined
}

/** Defaults of {@link FeedCollectorOptions}, used by {@link make} and by {@link Config}. */
export const defaults = {
  name: "feed",
  interval: Duration.minutes(30),
  timeout: Duration.seconds(30),
  maxBytes: 5 * 1024 * 1024,
  userAgent: "RayInfo/0.1",
  maxRedirects: 5,
  retryAfter: defaultRetryAfter,
  debug: false
} as const

/** Options of {@link make}. */
export interface FeedCollectorOptions {
  /** The collector's name; instance ids are `name:url`. Default: `"feed"`. */
  readonly name?: string | undefined
  /** Default interval of the feeds. Default: 30 minutes (unless `cron` is given). */
  readonly interval?: Duration.DurationInput | undefined
  /** Cron times of the feeds instead of an interval (5 fields, or 6 with seconds first). */
  readonly cron?: string | undefined
  /** The IANA time zone of cron times. Default: UTC. */
  readonly timeZone?: string | undefined
  /** The feeds, one job each. Required (may be empty). */
  readonly feeds: ReadonlyArray<FeedSource>
  /** Limit on one fetch (connect, headers and body, or a file read). Default: 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Largest document accepted, in bytes; reading stops beyond it. Default: 5 MiB (5 242 880). */
  readonly maxBytes?: number | undefined
  /** `User-Agent` header of the HTTP requests. Default: `"RayInfo/0.1"`. */
  readonly userAgent?: string | undefined
  /** Redirects followed (3xx with `Location`). Default: 5. */
  readonly maxRedirects?: number | undefined
  /**
   * `retryAfter` of a {@link RetryableCollectorError} when the server gives no
   * usable `Retry-After`, and after a network error or timeout.
   * Default: {@link defaultRetryAfter} (1 hour).
   */
  readonly retryAfter?: Duration.DurationInput | undefined
  /** Marks every event as fetched in debug mode (`RawEvent.debug`). Default: `false`. */
  readonly debug?: boolean | undefined
}

/**
 * What is wrong with a feed's `url`, read as {@link make} reads it:
 * `http(s)://` URLs must parse and have a host, `file:` URLs must be local
 * file URLs, other `scheme://` URLs are not supported; anything else is a
 * local path (checked by `check-config`, see `config/check.ts`).
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

/** A feed's `url`: an http(s) URL or a local file path. */
const FeedUrl = NonEmptyProcessString.pipe(
  Schema.filter((url) => feedUrlProblem(url) ?? true, { description: "an http(s) URL or a local file path" })
)

/** A feed as configured: a {@link FeedSource}. */
export const FeedSourceConfig = Schema.Struct({
  /** An http(s) URL, or a path to a local RSS/Atom file (relative to the working directory). */
  url: FeedUrl,
  /** How often this feed is fetched (1 second to 365 days). Default: the collector's `interval`. */
  interval: Schema.optional(Interval),
  /** Cron times of this job instead of an interval (5 fields, or 6 with seconds first). */
  cron: Schema.optional(CronExpression),
  /** The IANA time zone of the cron times. Default: the collector's `timeZone`, else UTC. */
  timeZone: Schema.optional(TimeZone)
}).annotations({ description: `a feed (a map with keys "url", "interval", "cron", "timeZone")` })

/**
 * The collector's options as configured (`type: feed` in the configuration
 * file): every {@link FeedCollectorOptions} field, bounded, with its
 * default from {@link defaults}. Its decoded value is what {@link make}
 * takes.
 */
export const Config = Schema.Struct({
  name: withDefault(CollectorName, () => defaults.name),
  /** How often the jobs run. Default: {@link defaults}' `interval`, unless `cron` is given (not both). */
  interval: Schema.optional(Interval),
  /** Cron times of the jobs instead of an interval (5 fields, or 6 with seconds first). */
  cron: Schema.optional(CronExpression),
  /** The IANA time zone of cron times (the collector's and its jobs'). Default: UTC. */
  timeZone: Schema.optional(TimeZone),
  timeout: withDefault(UpTo24Hours, () => defaults.timeout),
  maxBytes: withDefault(IntBetween(1, GiB, "1 GiB"), () => defaults.maxBytes),
  userAgent: withDefault(HeaderValue, () => defaults.userAgent),
  maxRedirects: withDefault(IntBetween(0, 20), () => defaults.maxRedirects),
  retryAfter: withDefault(UpTo24Hours, () => defaults.retryAfter),
  debug: withDefault(Schema.Boolean, () => defaults.debug),
  feeds: List(FeedSourceConfig, "feeds").pipe(
    Schema.filter((feeds) => feeds.length > 0 || "Expected at least one feed")
  )
})

/** The collector's options as configured. */
export type Config = typeof Config.Type

/**
 * The `raw` JSON of a feed event. Every field is a string; absent or empty
 * fields are omitted. (A type alias, not an interface, so that it is a
 * `JsonObject`.)
 */
export type FeedEntry = {
  readonly title?: string
  readonly link?: string
  /** RSS `guid`, Atom `id` or RDF `rdf:about`. */
  readonly id?: string
  /**
   * RSS `pubDate` / `dc:date`, Atom `published` / `updated`: an ISO-8601 UTC
   * string when it parses as a date (a timestamp without offset is read as
   * UTC), else as written.
   */
  readonly published?: string
  /** RSS `description` / `content:encoded`, Atom `summary` / `content` (markup kept as text). */
  readonly summary?: string
  /** RSS `author` / `dc:creator`, Atom `author/name`. */
  readonly author?: string
  /** Title of the feed (channel). */
  readonly feedTitle?: string
  /** The feed as configured (the job param). */
  readonly feedUrl: string
}

/** The meta key under which HTTP validators are stored in the {@link JobStateStore}. */
export const httpMetaKey = "http"

/**
 * The HTTP validators kept between runs (JobStateStore meta {@link httpMetaKey}).
 */
export const HttpValidators = Schema.Struct({
  etag: Schema.optionalWith(Schema.String, { exact: true }),
  lastModified: Schema.optionalWith(Schema.String, { exact: true })
})

/** The HTTP validators kept between runs. */
export type HttpValidators = typeof HttpValidators.Type

const ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, " +
  "text/xml;q=0.9, */*;q=0.8"

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
const MONTH = "(?<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
const TIME = "(?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})"
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

/** The three forms of an HTTP date (RFC 9110 §5.6.7), all UTC. */
const HTTP_DATES: ReadonlyArray<RegExp> = [
  // Sun, 06 Nov 1994 08:49:37 GMT (IMF-fixdate, the preferred form)
  new RegExp(`^${DAY}, (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`, "i"),
  // Sunday, 06-Nov-94 08:49:37 GMT (obsolete RFC 850 form)
  new RegExp(`^${LONG_DAY}, (?<day>\\d{2})-${MONTH}-(?<year2>\\d{2}) ${TIME} GMT$`, "i"),
  // Sun Nov  6 08:49:37 1994 (obsolete asctime form)
  new RegExp(`^${DAY} ${MONTH} (?<day>[ \\d]\\d) ${TIME} (?<year>\\d{4})$`, "i")
]

/**
 * Epoch milliseconds of an HTTP date in any of its three forms; undefined
 * when `value` is none of them or names a date that does not exist. A
 * two-digit (RFC 850) year more than 50 years ahead of `nowMillis` is read
 * as the previous century's.
 */
const parseHttpDate = (value: string, nowMillis: number): number | undefined => {
  for (const form of HTTP_DATES) {
    const fields = form.exec(value)?.groups
    if (fields === undefined) continue
    let year = Number(fields.year)
    if (fields.year2 !== undefined) {
      const nowYear = new Date(nowMillis).getUTCFullYear()
      year = 2000 + Number(fields.year2)
      while (year > nowYear + 50) year -= 100
    }
    const month = MONTHS.indexOf(fields.month!.toLowerCase())
    const day = Number(fields.day!.trim())
    const [hour, minute, second] = [Number(fields.hour), Number(fields.minute), Number(fields.second)]
    if (hour > 23 || minute > 59 || second > 60) return undefined
    // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999
    const date = new Date(0)
    date.setUTCFullYear(year, month, day)
    // a leap second is read as the second before it
    date.setUTCHours(hour, minute, Math.min(second, 59), 0)
    // 31 Feb rolls over into March: such a date does not exist
    return date.getUTCDate() === day && date.getUTCMonth() === month ? date.getTime() : undefined
  }
  return undefined
}

/**
 * Reads a `Retry-After` header value (RFC 9110 §10.2.3): delay-seconds (digits
 * only) or an HTTP date, relative to `nowMillis` (a date in the past is a
 * zero delay). Always a finite, non-negative duration, or none when the
 * value is neither form (negative, fractional, garbage, a date that does
 * not exist). Delay-seconds beyond `Number.MAX_SAFE_INTEGER` (a 400-digit
 * number) saturate there: bounding the delay is the caller's business.
 */
export const parseRetryAfter = (value: string, nowMillis: number): Option.Option<Duration.Duration> => {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed)
    return Option.some(Duration.seconds(Number.isSafeInteger(seconds) ? seconds : Number.MAX_SAFE_INTEGER))
  }
  const at = parseHttpDate(trimmed, nowMillis)
  return at === undefined || !Number.isFinite(nowMillis)
    ? Option.none()
    : Option.some(Duration.millis(Math.max(0, at - nowMillis)))
}

type FeedLocation =
  | { readonly _tag: "Http"; readonly url: URL }
  | { readonly _tag: "File"; readonly path: string }

const locate = (param: string): Either.Either<FeedLocation, string> => {
  if (/^https?:\/\//i.test(param)) {
    return Either.try({
      try: (): FeedLocation => ({ _tag: "Http", url: new URL(param) }),
      catch: () => `invalid URL: ${param}`
    })
  }
  if (/^file:/i.test(param)) {
    return Either.try({
      try: (): FeedLocation => ({ _tag: "File", path: fileURLToPath(param) }),
      catch: () => `invalid file URL: ${param}`
    })
  }
  // a scheme other than http(s)/file (a one-letter "scheme" is a Windows drive)
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(param)) return Either.left(`unsupported URL scheme: ${param}`)
  return Either.right({ _tag: "File", path: isAbsolute(param) ? param : resolvePath(param) })
}

/** `bytes` decoded as `label`; undefined when the encoding is unknown. */
const decodeAs = (label: string, bytes: Uint8Array): string | undefined =>
  Either.getOrUndefined(Either.try(() => new TextDecoder(label).decode(bytes)))

/**
 * Decodes a document: the byte order mark wins, then the HTTP charset, then
 * the XML declaration's encoding, then UTF-8.
 */
const decodeDocument = (bytes: Uint8Array, contentType: string | undefined): string => {
  const bom = bytes[0] === 0xEF && bytes[1] === 0xBB && bytes[2] === 0xBF
    ? "utf-8"
    : bytes[0] === 0xFF && bytes[1] === 0xFE
    ? "utf-16le"
    : bytes[0] === 0xFE && bytes[1] === 0xFF
    ? "utf-16be"
    : undefined
  const charset = contentType === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType)?.[1]
  const head = String.fromCharCode(...bytes.subarray(0, 256))
  const declared = /^\s*<\?xml[^>]*\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1]
  for (const label of [bom, charset, declared]) {
    const text = label === undefined ? undefined : decodeAs(label, bytes)
    if (text !== undefined) return text
  }
  return new TextDecoder("utf-8").decode(bytes)
}

const NAIVE_ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/
const NAIVE_RFC822 = /^([A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?$/

/** An ISO-8601 UTC string when `value` parses as a date, else `value`. */
const normaliseDate = (value: string): string => {
  // Date.parse reads a timestamp without zone in the local zone: read it as UTC instead
  const input = NAIVE_ISO.test(value)
    ? `${value.replace(" ", "T")}Z`
    : NAIVE_RFC822.test(value)
    ? `${value} GMT`
    : value
  const millis = Date.parse(input)
  if (Number.isNaN(millis)) return value
  return Option.match(DateTime.make(millis), { onNone: () => value, onSome: DateTime.formatIso })
}

const entryOf = (item: FeedItem, feedTitle: string | undefined, feedUrl: string): FeedEntry => {
  const entry: { -readonly [K in keyof FeedEntry]: string } = { feedUrl }
  if (item.title !== undefined) entry.title = item.title
  if (item.link !== undefined) entry.link = item.link
  if (item.id !== undefined) entry.id = item.id
  if (item.published !== undefined) entry.published = normaliseDate(item.published)
  if (item.summary !== undefined) entry.summary = item.summary
  if (item.author !== undefined) entry.author = item.author
  if (feedTitle !== undefined) entry.feedTitle = feedTitle
  return entry
}

/** guid / Atom id, else link, else a hash of title + link (of the whole entry without a title). */
const keyOf = (item: FeedItem, entry: FeedEntry): string =>
  item.id ?? item.link ?? `sha256:${
    sha256Hex(
      item.title !== undefined ? `${item.title}\n${item.link ?? ""}` : canonicalJson(entry)
    )
  }`

interface Fetched {
  readonly bytes: Uint8Array
  readonly contentType: string | undefined
  /** The response's HTTP validators, when they differ from the stored ones (to store after the run). */
  readonly validators: Option.Option<HttpValidators>
}

const sameValidators = (a: HttpValidators, b: HttpValidators): boolean =>
  a.etag === b.etag && a.lastModified === b.lastModified

/**
 * Makes the feed collector. Its requirements are captured here, so `fetch`
 * needs none.
 *
 * A run fails with
 * - {@link RetryableCollectorError} on HTTP 429 / 503 (`retryAfter` from
 *   `Retry-After`, seconds or HTTP date, else the `retryAfter` option), on a
 *   network error and on a timeout;
 * - {@link CollectorError} on any other non-2xx status (the message has the
 *   status), a document over `maxBytes`, a missing or unreadable file, and a
 *   document that is malformed or neither RSS nor Atom (the message names the
 *   feed).
 *
 * New HTTP validators are stored only once the document parsed and all its
 * events were pulled from the stream: a run whose events were not all
 * consumed fetches the full document again next time.
 */
export const make = (
  options: FeedCollectorOptions
): Effect.Effect<Collector, never, HttpClient.HttpClient | JobStateStore> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const store = yield* JobStateStore

    const name = options.name ?? defaults.name
    const timeout = Duration.decode(options.timeout ?? defaults.timeout)
    const maxBytes = options.maxBytes ?? defaults.maxBytes
    const userAgent = options.userAgent ?? defaults.userAgent
    const fallbackRetryAfter = Duration.decode(options.retryAfter ?? defaults.retryAfter)
    const debug = options.debug ?? defaults.debug
    // every request of a run is aborted when the run's scope closes (timeout, error, body read)
    const http = client.pipe(
      HttpClient.withScope,
      HttpClient.followRedirects(options.maxRedirects ?? defaults.maxRedirects)
    )

    const tooLarge = (instance: string, feed: string) => () =>
      new CollectorError({ instance, message: `feed ${feed}: document larger than ${maxBytes} bytes (maxBytes)` })

    /** The stored validators; none if they cannot be read (the feed is then fetched in full). */
    const loadValidators = (instance: string): Effect.Effect<Option.Option<HttpValidators>> =>
      store.getMeta(instance, httpMetaKey).pipe(
        Effect.map(Option.flatMap(Schema.decodeUnknownOption(HttpValidators))),
        Effect.catchTag("StorageError", (error) =>
          Effect.as(Effect.logWarning(`${error.message}; fetching the whole feed`), Option.none()))
      )

    const fetchHttp = (instance: string, feed: string, url: URL): Effect.Effect<Option.Option<Fetched>, FetchError> =>
      Effect.gen(function*() {
        const stored = yield* loadValidators(instance)
        const headers: Record<string, string> = { "user-agent": userAgent, accept: ACCEPT }
        if (Option.isSome(stored)) {
          if (stored.value.etag !== undefined) {
            headers["if-none-match"] = stored.value.etag
          }
          if (stored.value.lastModified !== undefined) {
            headers["if-modified-since"] = stored.value.lastModified
          }
        }
        const response = yield* http.execute(HttpClientRequest.get(url, { headers })).pipe(
          Effect.catchTags({
            RequestError: (error) =>
              error.reason === "Transport"
                ? Effect.fail(
                  new RetryableCollectorError({
                    instance,
                    message: `feed ${feed}: ${error.message}${systemReason(error.cause)}`,
                    retryAfter: fallbackRetryAfter,
                    cause: error
                  })
                )
                : Effect.fail(
                  new CollectorError({ instance, message: `feed ${feed}: ${error.message}`, cause: error })
                ),
            ResponseError: (error) =>
              Effect.fail(
                new RetryableCollectorError({
                  instance,
                  message: `feed ${feed}: ${error.message}`,
                  retryAfter: fallbackRetryAfter,
                  cause: error
                })
              )
          })
        )
        const status = response.status
        if (status === 304) {
          return Option.none()
        }
        if (status === 429 || status === 503) {
          const now = yield* Clock.currentTimeMillis
          const header = response.headers["retry-after"]
          const retryAfter = header === undefined
            ? fallbackRetryAfter
            : Option.getOrElse(parseRetryAfter(header, now), () =>
              fallbackRetryAfter)
          return yield* Effect.fail(
            new RetryableCollectorError({
              instance,
              message: `feed ${feed}: HTTP ${status}${header === undefined ? "" : ` (Retry-After: ${header})`}`,
              retryAfter
            })
          )
        }
        if (status < 200 || status >= 300) {
          return yield* Effect.fail(new CollectorError({ instance, message: `feed ${feed}: HTTP ${status}` }))
        }
        const declaredLength = Number(response.headers["content-length"])
        if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
          return yield* Effect.fail(tooLarge(instance, feed)())
        }
        const bytes = yield* collectBytes(response.stream, maxBytes, tooLarge(instance, feed)).pipe(
          Effect.catchTag("ResponseError", (error) =>
            Effect.fail(
              new RetryableCollectorError({
                instance,
                message: `feed ${feed}: reading the response failed: ${error.message}`,
                retryAfter: fallbackRetryAfter,
                cause: error
              })
            ))
        )
        const validators: { -readonly [K in keyof HttpValidators]: string } = {}
        const etag = response.headers["etag"]
        const lastModified = response.headers["last-modified"]
        if (etag !== undefined && etag !== "") validators.etag = etag
        if (lastModified !== undefined && lastModified !== "") validators.lastModified = lastModified
        const changed = Option.match(stored, {
          onNone: () => validators.etag !== undefined || validators.lastModified !== undefined,
          onSome: (previous) => !sameValidators(previous, validators)
        })
        return Option.some<Fetched>({
          bytes,
          contentType: response.headers["content-type"],
          validators: changed ? Option.some(validators) : Option.none()
        })
      }).pipe(Effect.scoped)

    const fetchFile = (instance: string, feed: string, path: string): Effect.Effect<Fetched, CollectorError> =>
      readRegularFile(path, maxBytes).pipe(
        Effect.catchTags({
          FileTooLarge: () => Effect.fail(tooLarge(instance, feed)()),
          FileReadError: (error) =>
            Effect.fail(
              new CollectorError({
                instance,
                message: `feed ${feed}: cannot read ${path}: ${error.message}`,
                cause: error
              })
            )
        }),
        Effect.map((bytes): Fetched => ({ bytes, contentType: undefined, validators: Option.none() }))
      )

    const retrieve = (
      instance: string,
      feed: string,
      location: FeedLocation
    ): Effect.Effect<Option.Option<Fetched>, FetchError> =>
      (location._tag === "Http"
        ? fetchHttp(instance, feed, location.url)
        : Effect.asSome(fetchFile(instance, feed, location.path))).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new RetryableCollectorError({
                instance,
                message: `feed ${feed}: timed out after ${Duration.format(timeout)}`,
                retryAfter: fallbackRetryAfter
              })
          })
        )

    const fetch = (param: string | undefined): Stream.Stream<RawEvent, FetchError> =>
      Stream.unwrap(Effect.gen(function*() {
        const instance = instanceId(name, param)
        if (param === undefined) {
          return yield* Effect.fail(
            new CollectorError({ instance, message: "the feed collector needs a feed URL or path as job param" })
          )
        }
        const location = locate(param)
        if (Either.isLeft(location)) {
          return yield* Effect.fail(new CollectorError({ instance, message: `feed ${param}: ${location.left}` }))
        }
        const fetched = yield* retrieve(instance, param, location.right)
        if (Option.isNone(fetched)) {
          yield* Effect.logDebug(`feed ${param}: not modified`)
          return Stream.empty
        }
        const parsed = parseFeed(decodeDocument(fetched.value.bytes, fetched.value.contentType))
        if (Either.isLeft(parsed)) {
          return yield* Effect.fail(new CollectorError({ instance, message: `feed ${param}: ${parsed.left}` }))
        }
        const fetchedAt = yield* DateTime.now
        const events = parsed.right.items.map((item): RawEvent => {
          const entry = entryOf(item, parsed.right.title, param)
          return { source: instance, key: keyOf(item, entry), raw: entry, fetchedAt, debug }
        })
        const saveValidators = Option.match(fetched.value.validators, {
          onNone: () => Effect.void,
          onSome: (validators) =>
            store.setMeta(instance, httpMetaKey, validators).pipe(
              // the items are stored; without validators the next run fetches the whole feed again
              Effect.catchTag(
                "StorageError",
                (error) => Effect.logWarning(`${error.message}; the next run fetches the whole feed`)
              )
            )
        })
        return Stream.concat(Stream.fromIterable(events), Stream.execute(saveValidators))
      }))

    return {
      name,
      defaultInterval: Duration.decode(options.interval ?? defaults.interval),
      cron: options.cron,
      timeZone: options.timeZone,
      jobs: options.feeds.map((feed) => ({
        param: feed.url,
        interval: feed.interval === undefined ? undefined : Duration.decode(feed.interval),
        cron: feed.cron,
        timeZone: feed.timeZone
      })),
      fetch
    } satisfies Collector
  })
