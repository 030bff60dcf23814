/**
 * `Pipeline` — what happens to a collector's events: dedup (bounded memory),
 * then idempotent persistence to SQLite on (source, key).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
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

export interface PipelineService {
  /**
   * Runs the stream through dedup and storage. Fails with the stream's error
   * `E`, or with a {@link StorageError} when the database cannot take the
   * events (in both cases the events stored before stay stored, and the
   * others are not remembered as seen: running them again stores them).
   */
  readonly run: <E, R>(events: Stream.Stream<RawEvent, E, R>) => Effect.Effect<PipelineResult, E | StorageError, R>
}

export class Pipeline extends Context.Tag("rayinfo/Pipeline")<Pipeline, PipelineService>() {}
