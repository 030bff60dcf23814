/**
 * Exact delivery on @effect/cluster: a runner reads the messages that are
 * due (`deliver_at <= now`) of the shards it holds when its read latch
 * opens — every `entityMessagePollInterval` (10 s by default), at a notify,
 * or at `Sharding.pollStorage`. A message due between two reads waits for
 * the next one. Here the runner's `MessageStorage` (the SQL one, wrapped)
 * notes, after each read of its shards, the earliest instant at which one of
 * their unprocessed messages falls due, and one fiber per runner sleeps until
 * then and calls `Sharding.pollStorage`: each read arms the next wake-up, so
 * a message is read at its instant, not up to a poll interval later. A
 * message sent later with an earlier instant notifies the owner, whose read
 * arms the earlier wake-up. See docs/architecture.md, "The cluster layer".
 *
 * @internal
 */
import type * as Sharding from "@effect/cluster/Sharding"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"

/** The runner's wake-up, armed by its storage's reads ({@link make}). @internal */
export interface DueTimer {
  /** Sleeps until the armed instant (or an earlier one armed meanwhile); whether a read is due now. */
  readonly await: Effect.Effect<boolean>
}

/** The longest single sleep: a wake-up armed before a clock jump is checked again at least this often. */
const maxSleepMillis = 60_000

/**
 * The SQL `MessageStorage` (tables `<prefix>_*`) whose reads arm the
 * runner's {@link DueTimer}, and the timer: what a runner of the cluster
 * layer provides to its `Sharding` instead of `SqlMessageStorage.layerWith`.
 *
 * @internal
 */
export const make = (options: { readonly prefix: string }) =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const storage = yield* SqlMessageStorage.make({ prefix: options.prefix })
    const messages = sql(`${options.prefix}_messages`)
    let next: number | undefined
    let wake = Deferred.unsafeMake<void>(FiberId.none)
    /** Asks for a read at `atMillis` (the earliest request wins). */
    const arm = (atMillis: number) =>
      Effect.sync(() => {
        if (next !== undefined && next <= atMillis) return
        next = atMillis
        Deferred.unsafeDone(wake, Effect.void)
      })
    const timer: DueTimer = {
      await: Effect.gen(function*() {
        const signal = wake
        const now = yield* Clock.currentTimeMillis
        if (next !== undefined && next <= now) {
          next = undefined
          return true
        }
        yield* next === undefined
          ? Deferred.await(signal)
          : Effect.raceFirst(
            Deferred.await(signal),
            Effect.sleep(Duration.millis(Math.min(next - now, maxSleepMillis)))
          )
        if (wake === signal && (yield* Deferred.isDone(signal))) wake = Deferred.unsafeMake<void>(FiberId.none)
        return false
      })
    }
    /** The earliest instant after `after` at which an unprocessed message of these shards falls due, if any. */
    const earliestDue = (shardIds: ReadonlyArray<string>, after: number) =>
      Effect.map(
        sql<{ readonly next: string | number | null }>`
          SELECT MIN(deliver_at) AS next FROM ${messages}
          WHERE shard_id IN ${sql.in(shardIds)} AND processed = ${false} AND deliver_at > ${after}`,
        (rows) => rows[0]?.next === null || rows[0]?.next === undefined ? undefined : Number(rows[0].next)
      )
    const wrapped: typeof storage = {
      ...storage,
      unprocessedMessages: (shardIds) =>
        Effect.flatMap(Clock.currentTimeMillis, (before) =>
          // the read takes its own "now", at or after `before`: every message due after `before` may not have
          // been read, so the next wake-up is the earliest of them (one due by now means another read at once)
          Effect.tap(storage.unprocessedMessages(shardIds), () =>
            Effect.gen(function*() {
              const ids = Array.from(shardIds, String)
              if (ids.length === 0) return
              const due = yield* earliestDue(ids, before)
              if (due !== undefined) yield* arm(due)
            }).pipe(
              Effect.catchAllCause((cause) =>
                Effect.logWarning("Scheduler: reading the next due instant failed; the poll interval applies", cause)
              )
            )))
    }
    return { storage: wrapped, timer }
  })

/**
 * The runner's wake-up loop: at each armed instant, `Sharding.pollStorage`
 * (forked in the caller's scope).
 *
 * @internal
 */
export const loop = (sharding: Sharding.Sharding["Type"], timer: DueTimer) =>
  Effect.forkScoped(Effect.forever(Effect.flatMap(timer.await, (due) => due ? sharding.pollStorage : Effect.void)))
