/**
 * `Pipeline` — what happens to a collector's events: dedup (bounded memory),
 * then idempotent persistence to SQLite on (source, key).
 *
 * `SqlPipeline.layer` is the real one; {@link layerMemory} keeps the items
 * in memory (tests, or an embedding without a database).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { RawEvent } from "../collectors/Collector.js"
import type { StorageError } from "../storage/StorageError.js"

/** Counts of one pipeline run. */
export interface PipelineResult {
  /** Events read from the stream. */
  readonly received: number
  /** Events skipped by the in-memory dedup (seen recently). */
  readonly duplicates: number
  /** New items written to the database (not already stored). */
  readonly stored: number
}

/** The pipeline's operation. */
export interface PipelineService {
  /**
   * Runs the stream through dedup and storage. Fails with the stream's error
   * `E`, or with a {@link StorageError} when the database cannot take the
   * events (in both cases the events stored before stay stored, and the
   * others are not remembered as seen: running them again stores them).
   */
  readonly run: <E, R>(events: Stream.Stream<RawEvent, E, R>) => Effect.Effect<PipelineResult, E | StorageError, R>
}

/** The pipeline. */
export class Pipeline extends Context.Tag("rayinfo/Pipeline")<Pipeline, PipelineService>() {}

/**
 * A pipeline that appends new events to `stored`, idempotently on
 * (source, key) like the SQL one: an event whose pair is already stored is
 * counted as a duplicate. Its memory is not bounded and it never fails with
 * a `StorageError`; as with the SQL one, the events read before a failure of
 * the stream stay stored. Pass `stored` to look at what it stored.
 */
export const makeMemory = (stored: Array<RawEvent> = []): PipelineService => {
  const pairOf = (event: RawEvent) => `${event.source.length}:${event.source}${event.key}`
  const pairs = new Set(stored.map(pairOf))
  return {
    run: (events) =>
      Stream.runFold(events, { received: 0, duplicates: 0, stored: 0 }, (counts, event): PipelineResult => {
        const pair = pairOf(event)
        if (pairs.has(pair)) return { ...counts, received: counts.received + 1, duplicates: counts.duplicates + 1 }
        pairs.add(pair)
        stored.push(event)
        return { ...counts, received: counts.received + 1, stored: counts.stored + 1 }
      })
  }
}

/** {@link makeMemory} as a layer (a fresh pipeline each time it is built, unless `stored` is given). */
export const layerMemory = (stored?: Array<RawEvent>): Layer.Layer<Pipeline> =>
  Layer.sync(Pipeline, () => makeMemory(stored))
