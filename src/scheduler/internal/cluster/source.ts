/**
 * The cluster layer's one entity type: a task source. Entity id = source
 * name, so a source lives on exactly one runner at a time and its
 * concurrency limit, enforced here, holds across the cluster. A task is a
 * persisted `Run` message delivered at its instant; the task's row in
 * `<prefix>_tasks` says whether the message is still current (see
 * `store.ts`). See docs/architecture.md, "The cluster layer".
 *
 * @internal
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as DeliverAt from "@effect/cluster/DeliverAt"
import * as Entity from "@effect/cluster/Entity"
import * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { ConsumerRegistry } from "../../ConsumerRegistry.js"
import type { DeadLetterReason } from "../../Scheduler.js"
import { Task } from "../../Task.js"
import type { TaskConsumer } from "../../TaskConsumer.js"
import { currentSlot, RunSlot } from "../../TaskRun.js"
import { consumeWithin, retryable, traced, unprovided } from "../consumer.js"
import type { Counters } from "../counters.js"
import * as Metrics from "../metrics.js"
import { nextRetry, type RetryMemo } from "../retry.js"
import type { ClusterStore } from "./store.js"

/**
 * A task as a cluster message: the task, its run number (1 for the first
 * run) and the token of its submission (a new one at each submit,
 * reschedule or replay: the task's row names the current one). A retry is
 * delivered at `retryAt` and carries the first failure's instant (`since`),
 * from which its `retry` schedule is replayed on another runner. Its
 * primary key is `<id>/<token>`, `#<attempt>` added for a retry.
 *
 * @internal
 */
export class RunMessage extends Schema.Class<RunMessage>("ray-scheduler/cluster/RunMessage")({
  task: Task,
  token: Schema.String,
  attempt: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  retryAt: Schema.optional(Schema.Number),
  since: Schema.optional(Schema.Number)
}) {
  [PrimaryKey.symbol](): string {
    const key = `${this.task.id}/${this.token}`
    return this.attempt === 1 ? key : `${key}#${this.attempt}`
  }
  [DeliverAt.symbol](): DateTime.DateTime {
    return this.retryAt === undefined ? this.task.scheduleAt : DateTime.unsafeMake(this.retryAt)
  }
}

/**
 * How a delivered message ended: `retried` — its consumer's `retry`
 * schedule sent it again; `failed` — a dead letter; `stale` — not run, the
 * task was cancelled or moved since it was sent; `cancelled` — its run was
 * cancelled; `no-consumer` — a dead letter, no consumer came within the
 * grace period; `requeued` — interrupted by `stop`, it runs again.
 *
 * @internal
 */
export const RunResult = Schema.Literal(
  "succeeded",
  "retried",
  "failed",
  "stale",
  "cancelled",
  "no-consumer",
  "requeued"
)

/** @internal */
export const Run = Rpc.make("Run", { payload: RunMessage, success: RunResult }).annotate(
  ClusterSchema.Persisted,
  true
)

/** Interrupts the run of a task on the source's runner; whether one was running. @internal */
export const Cancel = Rpc.make("Cancel", { payload: { taskId: Schema.String }, success: Schema.Boolean })

/** Makes the source's runner read its due messages now (after a commit a remote read could not see). @internal */
export const Wake = Rpc.make("Wake")

/** The source was paused or resumed (the table `<prefix>_paused` holds it; this tells its runner at once). @internal */
export const SetPaused = Rpc.make("SetPaused", { payload: { paused: Schema.Boolean } })

/** The entity type of task sources. @internal */
export const SourceEntity = Entity.make("RaySchedulerSource", [Run, Cancel, Wake, SetPaused])

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

/** An open/closed gate whose state can be read synchronously. @internal */
export class Gate {
  private readonly latch: Effect.Latch
  constructor(public isOpen: boolean) {
    this.latch = Effect.unsafeMakeLatch(isOpen)
  }
  open(): void {
    this.isOpen = true
    this.latch.unsafeOpen()
  }
  close(): void {
    this.isOpen = false
    this.latch.unsafeClose()
  }
  /** Waits until the gate is open. */
  get await(): Effect.Effect<void> {
    return this.latch.await
  }
}

/** What the handler reports of each run (tests). @internal */
export interface RunReport {
  readonly task: Task
  readonly attempt: number
  readonly result: typeof RunResult.Type
  readonly startedMillis: number
  readonly endedMillis: number
}

/** A run under way on this runner. @internal */
export interface Running {
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
  /** Set by `Cancel` before it interrupts the run. */
  cancelled: boolean
  /** Set by the scheduler's `stop` before it interrupts the run (after its shutdown timeout). */
  stopped: boolean
}

/**
 * What the handlers share with the runner's scheduler service: the store,
 * this runner's counters, its runs, its `start`/`stop` latch and the
 * sources paused.
 *
 * @internal
 */
export interface Local {
  readonly store: ClusterStore
  /** This runner's name, written in the rows of the tasks it runs. */
  readonly runner: string
  readonly total: Counters
  readonly counters: (source: string) => Counters
  readonly running: Map<string, Running>
  /** Open while the scheduler is started. */
  readonly started: Gate
  /** The gate of a source: open unless it is paused. */
  readonly gate: (source: string) => Gate
  readonly noConsumerGraceMillis: number
  /** Sends the message of a retry or a requeue (in the caller's transaction). */
  readonly send: (message: RunMessage) => Effect.Effect<void, unknown>
  /** Handlers waiting for a consumer to be registered. */
  waiting: number
  readonly onRun: ((report: RunReport) => Effect.Effect<void>) | undefined
  /** Each run in a span (a tracer is installed: `consumer.tracingEnabled`). */
  readonly tracing: boolean
  /** Update the `SchedulerMetrics` (the `metrics` option). */
  readonly metrics: boolean
}

/** @internal */
export class LocalState extends Context.Tag("ray-scheduler/cluster/Local")<LocalState, Local>() {}

/**
 * How a run's statements (claim, finish, retry, dead letter) are retried
 * when the database fails: quickly at first, then every 5 seconds, for up
 * to 2 minutes. Then the handler dies, and @effect/cluster restarts the
 * source's entity and delivers its messages again ("Defect in entity,
 * restarting"): nothing is lost either way, but a restart drops the
 * entity's permits and retry states, so the handler waits first.
 */
const storeRetry = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.upTo("2 minutes")
)

const annotate = (source: string, taskId: string) => Effect.annotateLogs({ module: "Scheduler", source, taskId })

/** One line for a dead letter's `error`. */
const describe = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  const value: unknown = Option.isSome(failure) ? failure.value : Option.getOrUndefined(Cause.dieOption(cause))
  if (value instanceof Error) return value.message
  if (typeof value === "object" && value !== null && "message" in value) return String(value.message)
  return Cause.isInterruptedOnly(cause) ? "interrupted" : Cause.pretty(cause).split("\n")[0] ?? "failed"
}

/**
 * The source entity's handlers (see the module header): a run waits while
 * the scheduler is stopped or the source paused, takes a permit of the
 * source's limit, claims its row (a stale message is not run), then runs
 * the consumer as the local layers do (its context, `TaskRun`, its
 * timeout) in a fiber `Cancel` can interrupt. Messages are handled
 * concurrently ("unbounded") so that the permits, not the mailbox order,
 * decide; the mailbox bounds the waiters.
 *
 * @internal
 */
export const layer = SourceEntity.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const source: string = address.entityId
    const registry = yield* ConsumerRegistry
    const local = yield* LocalState
    const sharding = yield* Sharding.Sharding
    const { store } = local
    let permits: Permits | undefined
    /** The retry schedules' states of this source's failed tasks (one step per failure, as in the local layers). */
    const memos = new Map<string, RetryMemo>()
    const counters = local.counters(source)
    const gate = local.gate(source)
    const isPaused = yield* Effect.orElseSucceed(store.isPaused(source), () => false)
    if (isPaused) gate.close()
    else gate.open()

    /** The consumer, waiting up to the grace period for it to be registered. */
    const consumerOf = Effect.gen(function*() {
      let consumer = registry.unsafeGet(source)
      if (consumer !== undefined || local.noConsumerGraceMillis <= 0) return consumer
      local.waiting++
      const deadline = (yield* Clock.currentTimeMillis) + local.noConsumerGraceMillis
      yield* Effect.logWarning(`Scheduler: no consumer for source ${JSON.stringify(source)} on this runner yet`)
        .pipe(Effect.annotateLogs({ module: "Scheduler", source }))
      while (consumer === undefined && (yield* Clock.currentTimeMillis) < deadline) {
        yield* Effect.sleep(Duration.millis(250))
        consumer = registry.unsafeGet(source)
      }
      local.waiting--
      return consumer
    })

    /** A message that will not run again: its row goes, a dead letter stays. */
    const bury = (message: RunMessage, reason: DeadLetterReason, error: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (local.metrics) Metrics.deadLetter(source, reason)
        yield* store.bury(
          message.task,
          message.token,
          reason,
          error,
          reason === "NoConsumer" ? 0 : message.attempt,
          now
        )
          .pipe(Effect.retry(storeRetry), Effect.orDie)
      })

    /** Stores the next run (row and message, one transaction); false if the task was cancelled meanwhile. */
    const again = (message: RunMessage, retryAt: number, since: number | undefined) =>
      store.sql.withTransaction(Effect.gen(function*() {
        const { task, token } = message
        if (!(yield* store.retry(task.id, token, message.attempt + 1, retryAt))) return false
        yield* local.send(new RunMessage({ task, token, attempt: message.attempt + 1, retryAt, since }))
        return true
      })).pipe(Effect.retry(storeRetry), Effect.orDie, Effect.zipLeft(sharding.pollStorage))

    /** After a failed run: the consumer's `retry` schedule decides. */
    const afterFailure = (consumer: TaskConsumer, message: RunMessage, cause: Cause.Cause<unknown>) =>
      Effect.gen(function*() {
        const { attempt, task } = message
        const failure = consumer.retry === undefined ? Option.none() : retryable(cause)
        const buryFor = () => {
          memos.delete(task.id)
          return Effect.as(
            bury(
              message,
              Cause.isDie(cause) ? "Died" : Cause.isInterruptedOnly(cause) ? "Interrupted" : "Failed",
              describe(cause)
            ),
            "failed" as const
          )
        }
        if (Option.isNone(failure)) return yield* buryFor()
        const now = yield* Clock.currentTimeMillis
        const since = message.since ?? now
        const decided = yield* Effect.exit(
          nextRetry(consumer.retry!, failure.value, attempt, now, since, memos.get(task.id))
        )
        if (Exit.isFailure(decided) || decided.value.due === undefined) return yield* buryFor()
        memos.set(task.id, decided.value.memo!)
        if (memos.size > 10_000) memos.clear() // a cache: a miss replays the schedule
        if (!(yield* again(message, decided.value.due, since))) return "cancelled" as const
        yield* Effect.logWarning(
          `Task failed (run ${attempt}); it runs again at ${
            DateTime.formatIso(DateTime.unsafeMake(decided.value.due))
          }`,
          cause
        ).pipe(annotate(source, task.id))
        return "retried" as const
      })

    /** Claims and runs the message's task holding a permit: the run's exit, or why it did not run. */
    const runHolding = (consumer: TaskConsumer, message: RunMessage, slot: RunSlot) =>
      Effect.gen(function*() {
        if (!gate.isOpen || !local.started.isOpen) return "again" as const // paused or stopped meanwhile
        const { task } = message
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* store.claim(task.id, message.token, message.attempt, now, local.runner).pipe(
          Effect.retry(storeRetry),
          Effect.orDie
        )
        if (claimed === undefined) return "stale" as const
        slot.startedMillis = now
        counters.onStarted(Math.max(0, now - claimed.dueMillis))
        local.total.onStarted(Math.max(0, now - claimed.dueMillis))
        const raw = unprovided(consumer)
        const consumed = consumeWithin(raw === undefined ? consumer.consume : raw.consume, consumer.timeout, task)
        const run = local.tracing ? traced(consumed, task, message.attempt, now - claimed.dueMillis) : consumed
        const provided = raw === undefined
          ? run
          : Effect.mapInputContext(run, (_: Context.Context<never>) => raw.context)
        const fiber = yield* Effect.fork(Effect.locally(Effect.interruptible(provided), currentSlot, slot))
        const entry: Running = { fiber, cancelled: false, stopped: false }
        local.running.set(task.id, entry)
        const exit = yield* Effect.ensuring(Fiber.await(fiber), Effect.sync(() => local.running.delete(task.id)))
        return { exit, entry, endedMillis: yield* Clock.currentTimeMillis }
      })

    return SourceEntity.of({
      Run: (request) =>
        Effect.gen(function*() {
          const message = request.payload
          const { attempt, task } = message
          const consumer = yield* consumerOf
          if (consumer === undefined) {
            yield* bury(message, "NoConsumer", `no consumer for source ${JSON.stringify(source)}`)
            counters.dropped++
            local.total.dropped++
            yield* Effect.logError(
              `Scheduler: no consumer for source ${JSON.stringify(source)}; the task is a dead letter`
            )
              .pipe(annotate(source, task.id))
            return "no-consumer" as const
          }
          permits ??= new Permits(consumer.concurrency)
          const slot = new RunSlot()
          slot.task = task
          slot.attempt = attempt
          let outcome: Effect.Effect.Success<ReturnType<typeof runHolding>> = "again"
          while (outcome === "again") {
            yield* local.started.await
            yield* gate.await
            outcome = yield* permits.withPermit(runHolding(consumer, message, slot))
          }
          if (outcome === "stale") return "stale" as const
          // the permit is held for the run only: what follows (stores) happens after it
          const { endedMillis, entry, exit } = outcome
          counters.metrics?.ran(endedMillis - slot.startedMillis)
          let result: typeof RunResult.Type
          if (Exit.isSuccess(exit)) {
            memos.delete(task.id)
            yield* store.finish(task.id, message.token).pipe(Effect.retry(storeRetry), Effect.orDie)
            counters.onEnded(true)
            local.total.onEnded(true)
            result = "succeeded"
          } else if (entry.cancelled) {
            counters.onCancelledRunning()
            local.total.onCancelledRunning()
            result = "cancelled"
          } else if (entry.stopped) {
            counters.onEnded(false)
            local.total.onEnded(false)
            result = (yield* again(message, endedMillis, message.since)) ? "requeued" : "cancelled"
          } else {
            result = yield* afterFailure(consumer, message, exit.cause)
            if (result === "retried") {
              counters.onRetried()
              local.total.onRetried()
            } else {
              counters.onEnded(false)
              local.total.onEnded(false)
            }
            if (result === "failed") {
              yield* Effect.logWarning(`Task failed for good (run ${attempt}); it is a dead letter`, exit.cause)
                .pipe(annotate(source, task.id))
            }
          }
          if (local.onRun !== undefined) {
            yield* local.onRun({ task, attempt, result, startedMillis: slot.startedMillis, endedMillis })
          }
          return result
        }),
      Cancel: (request) =>
        Effect.suspend(() => {
          const entry = local.running.get(request.payload.taskId)
          if (entry === undefined) return Effect.succeed(false)
          entry.cancelled = true
          return Effect.as(Fiber.interrupt(entry.fiber), true)
        }),
      Wake: () => sharding.pollStorage,
      SetPaused: (request) =>
        Effect.sync(() => {
          if (request.payload.paused) gate.close()
          else gate.open()
        })
    })
  }),
  { concurrency: "unbounded" }
)
