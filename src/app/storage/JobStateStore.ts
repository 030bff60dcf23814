/**
 * `JobStateStore` — the persisted state of every collector instance
 * (`collector` or `collector:param`): last successful run, counts, last
 * error, and collector-private state (e.g. a feed's ETag / Last-Modified).
 * Used to resume correctly after a restart.
 *
 * `SqlJobStateStore.layer` keeps it in SQLite; {@link layerMemory} in this
 * process only (tests, or an embedding without a database).
 *
 * Every operation fails with a typed {@link StorageError} when the
 * database cannot serve them (e.g. locked by another process beyond the busy
 * timeout); the collector runner treats that like any other failure of a run
 * (see docs/architecture.md, "Supervision").
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Json } from "../../scheduler/Task.js"
import type { StorageError } from "./StorageError.js"

/** The persisted state of one collector instance. */
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

/** The job state operations. */
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

/** The job state store. */
export class JobStateStore extends Context.Tag("rayinfo/JobStateStore")<JobStateStore, JobStateStoreService>() {}

/** The state of an instance that has no record yet: never ran, no errors. */
export const emptyState = (instance: string): JobState => ({
  instance,
  lastRunAt: Option.none(),
  runCount: 0,
  errorCount: 0,
  lastError: Option.none(),
  lastErrorAt: Option.none()
})

/**
 * A store kept in `states` (by instance) and in memory for meta values: the
 * same semantics as the SQL store, nothing survives the process, and no
 * operation fails. Pass `states` to start from recorded states (a restart)
 * or to look at them.
 */
export const makeMemory = (states: Map<string, JobState> = new Map()): JobStateStoreService => {
  const meta = new Map<string, Json>()
  const metaKey = (instance: string, key: string) => `${instance}\u0000${key}`
  const update = (instance: string, f: (state: JobState) => JobState) =>
    Effect.sync(() => void states.set(instance, f(states.get(instance) ?? emptyState(instance))))
  return {
    get: (instance) => Effect.sync(() => Option.fromNullable(states.get(instance))),
    list: Effect.sync(() => [...states.values()].sort((a, b) => a.instance < b.instance ? -1 : 1)),
    recordSuccess: (instance, at) =>
      update(instance, (state) => ({ ...state, lastRunAt: Option.some(at), runCount: state.runCount + 1 })),
    recordFailure: (instance, at, error) =>
      update(instance, (state) => ({
        ...state,
        errorCount: state.errorCount + 1,
        lastError: Option.some(error),
        lastErrorAt: Option.some(at)
      })),
    getMeta: (instance, key) =>
      Effect.sync(() => {
        const k = metaKey(instance, key)
        return meta.has(k) ? Option.some(meta.get(k)!) : Option.none()
      }),
    setMeta: (instance, key, value) => Effect.sync(() => void meta.set(metaKey(instance, key), value))
  }
}

/** {@link makeMemory} as a layer (a fresh store each time it is built, unless `states` is given). */
export const layerMemory = (states?: Map<string, JobState>): Layer.Layer<JobStateStore> =>
  Layer.sync(JobStateStore, () => makeMemory(states))
