/**
 * `Collector` — fetches raw events from one kind of source (RSS/Atom feeds,
 * a command-line search tool, ...). The collector service runs each of its
 * jobs periodically through the scheduler and pushes the events through the
 * pipeline (dedup, then SQLite).
 *
 * A collector has a default timing (an interval, or cron times in a time
 * zone) and optionally a list of parameterised jobs — one per feed URL or per
 * search query — each with its own timing. A collector without jobs runs as
 * one job with no param. Which timing a job gets: `CollectorRunner.instancesOf`.
 */
import * as Data from "effect/Data"
import type * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import type * as Stream from "effect/Stream"
import type { Json } from "../../scheduler/Task.js"

/**
 * One item fetched by a collector, before dedup and storage.
 */
export interface RawEvent {
  /** The collector instance that fetched it: `collector` or `collector:param`. */
  readonly source: string
  /**
   * Stable identity of the item within its source (feed entry guid / id /
   * link, a search result's URL, ...). Dedup and idempotent storage use
   * (source, key).
   */
  readonly key: string
  /** The item as fetched, as JSON. */
  readonly raw: Json
  readonly fetchedAt: DateTime.Utc
  /** Fetched in debug mode (e.g. from a local fixture): stored, but flagged. */
  readonly debug: boolean
}

/** A parameterised job of a collector. */
export interface CollectorJob {
  /** The parameter passed to `fetch` (a feed URL or path, a search query, ...). */
  readonly param: string
  /** How often the job runs. Default: the collector's timing. Not with `cron`. */
  readonly interval?: Duration.Duration | undefined
  /** Cron times of the job (5 fields, or 6 with seconds first). Default: the collector's timing. Not with `interval`. */
  readonly cron?: string | undefined
  /** The IANA time zone of cron times (the job's or the collector's). Default: the collector's `timeZone`, else UTC. */
  readonly timeZone?: string | undefined
}

/** A run failed; the job runs again at its next interval. */
export class CollectorError extends Data.TaggedError("CollectorError")<{
  /** The collector instance: `collector` or `collector:param`. */
  readonly instance: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Default `retryAfter` of a {@link RetryableCollectorError}: 1 hour. */
export const defaultRetryAfter: Duration.Duration = Duration.hours(1)

/**
 * A run failed for a reason that will pass (quota exceeded, HTTP 429/503,
 * transient network error): the run does not count as done and the job is
 * retried after `retryAfter`.
 */
export class RetryableCollectorError extends Data.TaggedError("RetryableCollectorError")<{
  readonly instance: string
  readonly message: string
  /** When to retry. Default: {@link defaultRetryAfter}. */
  readonly retryAfter: Duration.Duration
  readonly cause?: unknown
}> {}

/** What a run of a collector can fail with. */
export type FetchError = CollectorError | RetryableCollectorError

/**
 * A collector. `fetch(param)` is called once per run; `param` is the job's
 * param, or `undefined` for a collector without jobs.
 */
export interface Collector {
  /** Unique name; instance ids are `name` or `name:param`. */
  readonly name: string
  /** How often its jobs run, unless they (or the collector) have cron times. */
  readonly defaultInterval: Duration.Duration
  /** Cron times of its jobs (5 fields, or 6 with seconds first), unless a job has its own timing. */
  readonly cron?: string | undefined
  /** The IANA time zone of its jobs' cron times. Default: UTC. */
  readonly timeZone?: string | undefined
  /** Parameterised jobs; empty or absent means one job without param. */
  readonly jobs?: ReadonlyArray<CollectorJob> | undefined
  readonly fetch: (param: string | undefined) => Stream.Stream<RawEvent, FetchError>
}

/** The instance id of a collector job: `name` or `name:param`. */
export const instanceId = (name: string, param: string | undefined): string =>
  param === undefined ? name : `${name}:${param}`
