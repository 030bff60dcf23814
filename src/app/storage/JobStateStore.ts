/**
 * `JobStateStore` — the persisted state of every collector instance
 * (`collector` or `collector:param`): last successful run, counts, last
 * error, and collector-private state (e.g. a feed's ETag / Last-Modified).
 * Used to resume correctly after a restart.
 *
 * Every operation fails with a typed {@link StorageError} when the
 * database cannot serve them (e.g. locked by another process beyond the busy
 * timeout); the collector runner treats that like any other failure of a run
 * (see docs/architecture.md, "Supervision").
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { Json } from "../../scheduler/Task.js"
import type { StorageError } from "./StorageError.js"

export interface JobState {
  readonly instance: string
  /** Last successful run (start time). None: never ran successfully. */
  readonly lastRunAt: Option.Option<DateTime.Utc>
  /** Successful runs. */
  readonly runCount: number
  /** Failed runs (retryable or not). */
  readonly errorCount: number
  readonly lastError: Option.Option<string>
  readonly lastErrorAt: Option.Option<DateTime.Utc>
}

export interface JobStateStoreService {
  readonly get: (instance: string) => Effect.Effect<Option.Option<JobState>, StorageError>
  readonly list: Effect.Effect<ReadonlyArray<JobState>, StorageError>
  /** Records a successful run started at `at`: sets lastRunAt, runCount + 1. */
  readonly recordSuccess: (instance: string, at: DateTime.Utc) => Effect.Effect<void, StorageError>
  /** Records a failed run: errorCount + 1, lastError, lastErrorAt. lastRunAt is unchanged. */
  readonly recordFailure: (instance: string, at: DateTime.Utc, error: string) => Effect.Effect<void, StorageError>
  /** Collector-private state (e.g. HTTP validators), by instance and key. */
  readonly getMeta: (instance: string, key: string) => Effect.Effect<Option.Option<Json>, StorageError>
  readonly setMeta: (instance: string, key: string, value: Json) => Effect.Effect<void, StorageError>
}

export class JobStateStore extends Context.Tag("rayinfo/JobStateStore")<JobStateStore, JobStateStoreService>() {}
