/**
 * The cluster layer's one entity type: a task source. Entity id = source
 * name, so a source lives on exactly one runner at a time and its
 * concurrency limit, enforced here, holds across the cluster. A task is a
 * persisted `Run` message: primary key = the task id (a second submit of it
 * is not stored again), `DeliverAt` = its `scheduleAt`. See
 * docs/plans/issue-11-cluster.md (work in progress; not exported yet).
 *
 * @internal
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as DeliverAt from "@effect/cluster/DeliverAt"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { ConsumerRegistry } from "../../ConsumerRegistry.js"
import { Task } from "../../Task.js"
import type { TaskConsumer } from "../../TaskConsumer.js"
import { currentSlot, RunSlot } from "../../TaskRun.js"
import { consumeWithin, retryable, unprovided } from "../consumer.js"
import { nextRetry, type RetryMemo } from "../retry.js"

/**
 * A task as a cluster message: the task and its run number (1 for the
 * first run). Its primary key is the task id for the first run and
 * `<id>#<attempt>` for a retry (a primary key is spent once stored). A
 * retry is delivered at `retryAt` and carries the first failure's instant
 * (`since`), from which its `retry` schedule is replayed on another runner.
 *
 * @internal
 */
export class RunMessage extends Schema.Class<RunMessage>("ray-scheduler/cluster/RunMessage")({
  task: Task,
  attempt: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  retryAt: Schema.optional(Schema.Number),
  since: Schema.optional(Schema.Number)
}) {
  [PrimaryKey.symbol](): string {
    return this.attempt === 1 ? this.task.id : `${this.task.id}#${this.attempt}`
  }
  [DeliverAt.symbol](): DateTime.DateTime {
    return this.retryAt === undefined ? this.task.scheduleAt : DateTime.unsafeMake(this.retryAt)
  }
}

/**
 * How a run ended, as the handler reports it: `failed` — for good (a dead
 * letter); `retried` — its consumer's `retry` schedule sent it again.
 *
 * @internal
 */
export const RunResult = Schema.Literal("succeeded", "retried", "failed", "no-consumer")

/** @internal */
export const Run = Rpc.make("Run", { payload: RunMessage, success: RunResult }).annotate(
  ClusterSchema.Persisted,
  true
)

/** The entity type of task sources. @internal */
export const SourceEntity = Entity.make("RaySchedulerSource", [Run])

/**
 * A FIFO of `limit` permits: a waiter is woken only when a permit is handed
 * to it (an Effect `Semaphore` wakes every waiter at each release). A waiter
 * interrupted after its permit was handed over gives it back.
 *
 * @internal
 */
export class Permits {
  private available: number
  private readonly waiters: Array<Deferred.Deferred<void>> = []
  /** The most permits held at once since creation. */
  peak = 0

  constructor(readonly limit: number) {
    this.available = limit
  }

  private readonly release: Effect.Effect<void> = Effect.sync(() => {
    const next = this.waiters.shift()
    if (next === undefined) this.available++
    else Deferred.unsafeDone(next, Exit.void)
  })

  private readonly acquire: Effect.Effect<void> = Effect.suspend(() => {
    if (this.available > 0 && this.waiters.length === 0) {
      this.available--
      return Effect.void
    }
    const waiter = Deferred.unsafeMake<void>(FiberId.none)
    this.waiters.push(waiter)
    return Effect.onInterrupt(Deferred.await(waiter), () =>
      Effect.suspend(() => {
        const at = this.waiters.indexOf(waiter)
        if (at < 0) return this.release // the permit was handed over as the waiter was interrupted
        this.waiters.splice(at, 1)
        return Effect.void
      }))
  })

  /** Runs `effect` holding a permit; waiting for it is interruptible. */
  readonly withPermit = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(
        restore(this.acquire),
        Effect.suspend(() => {
          this.peak = Math.max(this.peak, this.limit - this.available)
          return Effect.ensuring(restore(effect), this.release)
        })
      )
    )
}

/** What the handler reports of each run (tests, stats). @internal */
export interface RunReport {
  readonly task: Task
  readonly attempt: number
  readonly result: typeof RunResult.Type
  readonly startedMillis: number
  readonly endedMillis: number
}

/**
 * The source entity's handlers, on the runner's `ConsumerRegistry`: a run
 * takes a permit of the source's limit (the consumer's `concurrency`, read
 * when the source's entity starts on this runner), then runs the consumer
 * as the local layers do (its context, `TaskRun`, its timeout). Messages
 * are handled concurrently ("unbounded") so that the permits, not the
 * entity's mailbox order, decide; the mailbox bounds the waiters.
 *
 * @internal
 */
export const layer = (options: { readonly onRun?: ((report: RunReport) => Effect.Effect<void>) | undefined } = {}) =>
  SourceEntity.toLayer(
    Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const source: string = address.entityId
      const registry = yield* ConsumerRegistry
      const client = yield* SourceEntity.client
      let permits: Permits | undefined
      /** The retry schedules' states of this source's failed tasks (one step per failure, as in the local layers). */
      const memos = new Map<string, RetryMemo>()

      /**
       * After a failed run: the consumer's `retry` schedule decides; a retry
       * is a new message (the next attempt, due at the schedule's instant).
       */
      const retryOrFail = (consumer: TaskConsumer, message: RunMessage, cause: Cause.Cause<unknown>) =>
        Effect.gen(function*() {
          const { attempt, task } = message
          const failure = consumer.retry === undefined ? Option.none() : retryable(cause)
          if (Option.isNone(failure)) return "failed" as const
          const now = yield* Clock.currentTimeMillis
          const since = message.since ?? now
          const decided = yield* Effect.exit(
            nextRetry(consumer.retry!, failure.value, attempt, now, since, memos.get(task.id))
          )
          if (Exit.isFailure(decided) || decided.value.due === undefined) {
            memos.delete(task.id)
            return "failed" as const
          }
          memos.set(task.id, decided.value.memo!)
          if (memos.size > 10_000) memos.clear() // a cache: a miss replays the schedule
          const sent = yield* client(source).Run(
            new RunMessage({ task, attempt: attempt + 1, retryAt: decided.value.due, since }),
            { discard: true }
          ).pipe(
            Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.upTo("1 minute"))),
            Effect.either
          )
          if (Either.isLeft(sent)) {
            memos.delete(task.id)
            yield* Effect.logError("Scheduler: the retry could not be stored; the task is not retried", sent.left)
              .pipe(Effect.annotateLogs({ module: "Scheduler", source, taskId: task.id }))
            return "failed" as const
          }
          yield* Effect.logWarning(
            `Task failed (run ${attempt}); it runs again at ${
              DateTime.formatIso(DateTime.unsafeMake(decided.value.due))
            }`,
            cause
          ).pipe(Effect.annotateLogs({ module: "Scheduler", source, taskId: task.id }))
          return "retried" as const
        })
      return SourceEntity.of({
        Run: (request) =>
          Effect.gen(function*() {
            const message = request.payload
            const { attempt, task } = message
            const consumer = registry.unsafeGet(source)
            if (consumer === undefined) {
              yield* Effect.logWarning(`Scheduler: no consumer for source ${JSON.stringify(source)} on this runner`)
                .pipe(Effect.annotateLogs({ module: "Scheduler", source, taskId: task.id }))
              return "no-consumer" as const
            }
            permits ??= new Permits(consumer.concurrency)
            const raw = unprovided(consumer)
            const slot = new RunSlot()
            slot.task = task
            slot.attempt = attempt
            // the permit is held for the run only: deciding and storing a retry happen after it
            const [exit, endedMillis] = yield* permits.withPermit(Effect.gen(function*() {
              slot.startedMillis = yield* Clock.currentTimeMillis
              const run = consumeWithin(raw === undefined ? consumer.consume : raw.consume, consumer.timeout, task)
              const provided = raw === undefined
                ? run
                : Effect.mapInputContext(run, (_: Context.Context<never>) => raw.context)
              const exit = yield* Effect.exit(Effect.locally(provided, currentSlot, slot))
              return [exit, yield* Clock.currentTimeMillis] as const
            }))
            let result: typeof RunResult.Type = "succeeded"
            if (Exit.isSuccess(exit)) memos.delete(task.id)
            else result = yield* retryOrFail(consumer, message, exit.cause)
            if (result === "failed") {
              yield* Effect.logWarning(
                `Task failed for good (run ${attempt})`,
                Exit.isFailure(exit) ? exit.cause : undefined
              )
                .pipe(Effect.annotateLogs({ module: "Scheduler", source, taskId: task.id }))
            }
            if (options.onRun !== undefined) {
              yield* options.onRun({ task, attempt, result, startedMillis: slot.startedMillis, endedMillis })
            }
            return result
          })
      })
    }),
    { concurrency: "unbounded" }
  )
