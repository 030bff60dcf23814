/**
 * A worker: one fiber holding one permit of its lane's semaphore for its
 * whole life, running its lane's due tasks one after another (docs/
 * architecture.md, "Lanes"). It serves one consumer — the lane's when it was
 * forked. When the lane has no due task it parks (one parked worker per
 * lane) until a task is due or it has been idle for the idle timeout; it
 * leaves then, or when its consumer is no longer the lane's (re-registered
 * or released), or when the scheduler stops.
 *
 * The loop is the hot path: per task, one synchronous step (`take`: check,
 * pop, count, maybe start the next worker), the consumer's effect, and
 * `matchCauseEffect`. A consumer built by `TaskConsumer.make` gets its
 * captured context provided once for the whole worker.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { Task } from "../Task.js"
import type { TaskConsumer } from "../TaskConsumer.js"
import { currentSlot, RunSlot } from "../TaskRun.js"
import { consumeWithin, retryable, traced, unprovided } from "./consumer.js"
import type { TaskEntry } from "./ids.js"
import type { Lane } from "./lane.js"
import { nextRetry } from "./retry.js"
import type { SchedulerState } from "./state.js"

const logFailure = (lane: Lane, task: Task, cause: Cause.Cause<unknown>): Effect.Effect<void> =>
  Effect.annotateLogs(
    Effect.logError(
      Cause.isInterruptedOnly(cause)
        ? "Task was interrupted"
        : Cause.isFailType(cause) || Cause.isFailure(cause)
        ? "Task failed"
        : "Task died",
      cause
    ),
    { module: "Scheduler", source: lane.source, taskId: task.id }
  )

/**
 * What a scheduler layer adds around each run (the memory layer and the SQL
 * layer differ only here).
 *
 * @internal
 */
export interface RunHooks {
  /** The attempt number of this run of `task` (1 for its first run). */
  readonly attempt: (task: Task) => number
  /**
   * Waited for before `task`'s consumer runs (the SQL layer: its start, and
   * the end of the worker's previous task, committed). Undefined: nothing.
   * `seq` is the task's sequence number (the SQL layer's row key).
   */
  readonly beforeRun: ((task: Task, seq: number) => Effect.Effect<void>) | undefined
  /** `task`'s run succeeded (synchronous; called once the state counted it); `seq` as for `beforeRun`. */
  readonly succeeded: (task: Task, seq: number) => void
  /**
   * `task`'s run failed, died or was interrupted (synchronous). `stopped`:
   * the scheduler interrupted it (a stop, or its consumer's release, that
   * timed out).
   */
  readonly failed: (task: Task, cause: Cause.Cause<unknown>, attempt: number, stopped: boolean) => void
  /** `task`'s run was interrupted by `cancel` (synchronous): it must not run again. */
  readonly cancelled: (task: Task, seq: number) => void
  /** When the first failed run of `task`'s current retries ended (epoch ms); undefined: it has not failed yet. */
  readonly retrySince: (task: Task) => number | undefined
  /**
   * The run of `entry` (number `attempt`) failed and its consumer's retry
   * schedule runs it again at `dueMillis` (synchronous): the backend records
   * it and puts the task back, pending (`SchedulerState.retry`). `since`: the
   * first failure's instant.
   */
  readonly retried: (lane: Lane, entry: TaskEntry, attempt: number, dueMillis: number, since: number) => void
}

/**
 * The failure a retry schedule is stepped with: the run's typed failure,
 * unless the run also died or was interrupted (defects and interruptions
 * are not retried: see `TaskConsumerOptions.retry`).
 */
const logRetry = (lane: Lane, task: Task, cause: Cause.Cause<unknown>, attempt: number, due: number) =>
  Effect.annotateLogs(
    Effect.logWarning(
      `Task failed (run ${attempt}); it runs again at ${DateTime.formatIso(DateTime.unsafeMake(due))}`,
      cause
    ),
    { module: "Scheduler", source: lane.source, taskId: task.id }
  )

/**
 * The worker's effect. `self.fiber` is set by the forker before the fiber
 * runs; the worker uses it to deregister itself when it ends.
 *
 * @internal
 */
export const worker = (
  state: SchedulerState,
  lane: Lane,
  consumer: TaskConsumer,
  self: { fiber: Fiber.RuntimeFiber<void> | undefined },
  hooks: RunHooks,
  tracing: boolean
): Effect.Effect<void> => {
  const raw = unprovided(consumer)
  const consume = raw === undefined ? consumer.consume : raw.consume
  const timeout = consumer.timeout
  const retry = consumer.retry
  /** Counted in `lane.starting`: started or woken, and has not asked for a task since. */
  let claimed = true
  /** The task running now: if the worker is interrupted (stop or release timed out), it counts as failed. */
  let current: TaskEntry | undefined
  /** What `TaskRun.current` reads in this worker's runs. */
  const slot = new RunSlot()
  const beforeRun = hooks.beforeRun
  /** The current run ended now: its duration into the source's metrics. */
  const ranFor = (): void => {
    const metrics = lane.counters.metrics
    if (metrics !== undefined) metrics.ran(state.now() - slot.startedMillis)
  }
  const onSuccess = (): Effect.Effect<void> => {
    ranFor()
    const entry = current!
    current = undefined
    slot.task = undefined
    if (state.retryMemos.size > 0) state.retryMemos.delete(entry.value.id)
    state.ended(lane, entry, true)
    hooks.succeeded(entry.value, entry.seq)
    return next()
  }
  /** The loop again, unless a `cancel` is on its way to this worker: then it leaves (the interruption finds it done). */
  const next = (): Effect.Effect<void> =>
    state.cancelRequests > 0 && state.cancelling.has(self.fiber!) ? Effect.void : loop
  const onFailure = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
    ranFor()
    if (retry !== undefined) {
      const failure = retryable(cause)
      if (Option.isSome(failure)) return retryOrFail(cause, failure.value)
    }
    return failed(cause)
  }
  const failed = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
    const entry = current!
    current = undefined
    slot.task = undefined
    state.ended(lane, entry, false)
    hooks.failed(entry.value, cause, slot.attempt, false)
    return Effect.zipRight(logFailure(lane, entry.value, cause), Effect.suspend(next))
  }
  /**
   * The retry schedule decides (the run still counts as running meanwhile:
   * a `cancel` or a stop finds it as such); a schedule that dies counts as
   * done.
   */
  const retryOrFail = (cause: Cause.Cause<unknown>, failure: unknown): Effect.Effect<void> => {
    const task = current!.value
    const now = state.now()
    const since = hooks.retrySince(task) ?? now
    const memo = state.retryMemos.get(task.id)
    return Effect.flatMap(Effect.exit(nextRetry(retry!, failure, slot.attempt, now, since, memo)), (decided) => {
      if (decided._tag === "Failure" || decided.value.due === undefined) {
        if (memo !== undefined) state.retryMemos.delete(task.id)
        return decided._tag === "Failure"
          ? Effect.zipRight(
            Effect.logError("Scheduler: the retry schedule died; the task is not retried", decided.cause).pipe(
              Effect.annotateLogs({ module: "Scheduler", source: lane.source, taskId: task.id })
            ),
            failed(cause)
          )
          : failed(cause)
      }
      const entry = current!
      const attempt = slot.attempt
      const due = decided.value.due
      current = undefined
      slot.task = undefined
      state.rememberRetry(task.id, decided.value.memo!)
      hooks.retried(lane, entry, attempt, due, since)
      return Effect.zipRight(logRetry(lane, task, cause, attempt, due), Effect.suspend(next))
    })
  }
  /** One handlers object for every run (the run's task is `current`): no closure per task. */
  const handlers = { onFailure, onSuccess }
  /** Nothing due: park until a task is due (then take it) or until told to leave. */
  const parkOrLeave = (): Effect.Effect<void> => {
    const parked = state.park(lane, consumer)
    if (parked === undefined) return Effect.void
    return Effect.flatMap(parked.await(), (work) => {
      if (!work) return Effect.void
      claimed = true
      return loop
    })
  }
  const loop: Effect.Effect<void> = Effect.suspend(() => {
    const task = state.take(lane, consumer, claimed, self.fiber!)
    claimed = false
    if (task === undefined) return parkOrLeave()
    const entry = state.takenEntry!
    current = entry
    slot.task = task
    slot.attempt = hooks.attempt(task)
    slot.startedMillis = state.takenAt
    let effect: Effect.Effect<void, unknown>
    if (beforeRun === undefined) {
      effect = run(task)
    } else {
      effect = Effect.zipRight(beforeRun(task, entry.seq), Effect.suspend(() => run(task)))
    }
    return Effect.matchCauseEffect(effect, handlers)
  })
  const run = tracing
    ? (task: Task): Effect.Effect<void, unknown> =>
      traced(consumeWithin(consume, timeout, task), task, slot.attempt, slot.startedMillis - current!.dueMillis)
    : (task: Task): Effect.Effect<void, unknown> => consumeWithin(consume, timeout, task)
  const provided = raw === undefined ? loop : Effect.mapInputContext(loop, (_: Context.Context<never>) => raw.context)
  const body = Effect.locally(provided, currentSlot, slot)
  return lane.semaphore!.withPermits(1)(body).pipe(
    Effect.onExit((exit) =>
      Effect.suspend(() => {
        const interrupted = current
        current = undefined
        slot.task = undefined
        if (interrupted !== undefined) ranFor()
        if (interrupted !== undefined && state.cancelling.has(self.fiber!)) {
          // interrupted by `cancel`: neither a failure nor a dead letter
          state.endedCancelled(lane, interrupted)
          hooks.cancelled(interrupted.value, interrupted.seq)
          state.workerExited(lane, self.fiber!, claimed)
          return Effect.logInfo("Task cancelled while running").pipe(
            Effect.annotateLogs({ module: "Scheduler", source: lane.source, taskId: interrupted.value.id })
          )
        }
        if (interrupted !== undefined) {
          state.ended(lane, interrupted, false)
          hooks.failed(
            interrupted.value,
            exit._tag === "Failure" ? exit.cause : Cause.empty,
            slot.attempt,
            state.interruptedByScheduler.has(self.fiber!)
          )
        }
        state.workerExited(lane, self.fiber!, claimed)
        return interrupted === undefined || exit._tag === "Success"
          ? Effect.void
          : logFailure(lane, interrupted.value, exit.cause)
      })
    )
  )
}
