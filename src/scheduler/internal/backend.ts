/**
 * What differs between the memory layer and the SQL layer of the scheduler
 * (docs/architecture.md, "Layers"): how a submission is accepted, what a
 * run does before and after its consumer, and where dead letters live. The
 * dispatcher, the lanes and the workers are the same for both.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { DeadLetter, DeadLetterReason, TaskInfo, TaskPage } from "../Scheduler.js"
import type { Task } from "../Task.js"
import type { TaskEntry } from "./ids.js"
import * as Metrics from "./metrics.js"
import type { ScheduleStore } from "./schedules.js"
import type { SchedulerState } from "./state.js"
import { bySeq, infoOfEntry, pageOf, type ResolvedTaskQuery, selectEntries, type SeqKey } from "./taskQuery.js"
import type { RunHooks } from "./worker.js"

/** @internal */
export interface Backend {
  /** Accepts validated tasks (all or none); returns when they are accepted (committed, for a store). */
  readonly accept: (tasks: ReadonlyArray<Task>) => Effect.Effect<void>
  readonly hooks: RunHooks
  /** Due tasks of a source with no consumer were dropped (synchronous). */
  readonly dropped: (tasks: ReadonlyArray<Task>) => void
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>>
  readonly deadLetterCount: () => number
  /** Removes the dead letter of `taskId` and returns it (to be submitted again), if there is one. */
  readonly takeDeadLetter: (taskId: string) => Effect.Effect<DeadLetter | undefined>
  /** Puts back a dead letter `takeDeadLetter` returned (its replay was a duplicate). */
  readonly restoreDeadLetter: (letter: DeadLetter) => Effect.Effect<void>
  readonly purgeDeadLetters: (olderThanMillis: number | undefined) => Effect.Effect<number>
  /** Why `start` must not start the scheduler (the SQL layer: it lost its store lease); undefined: it may. */
  readonly refuseStart: () => string | undefined
  /**
   * `source` was just paused (`true`, after `SchedulerState.pause`) or
   * resumed (`false`, before `SchedulerState.resume`): the SQL layer moves
   * its pending tasks out of its memory window, or back in.
   */
  readonly pausedChanged: (source: string, paused: boolean) => Effect.Effect<void>
  /** Returns once what the hooks queued so far is committed (the SQL layer; the memory layer: at once). */
  readonly committed: Effect.Effect<void>
  /**
   * Cancels the pending task `taskId` that only the store holds (beyond the
   * memory window), counted; whether there was one. The memory layer: none.
   */
  readonly cancelStored: (taskId: string) => Effect.Effect<boolean>
  /**
   * Moves the pending task `taskId` (`entry` if it is in memory) to
   * `dueMillis` in the store and in memory; whether there was one.
   */
  readonly reschedule: (taskId: string, entry: TaskEntry | undefined, dueMillis: number) => Effect.Effect<boolean>
  /** Where the schedules are kept, and how their occurrences are submitted. */
  readonly scheduleStore: ScheduleStore
  /**
   * The run number of `task`, pending or running in memory: the run it is
   * at if running, its next run if pending (1 for a first run). No side
   * effect (unlike `hooks.attempt`).
   */
  readonly attemptOf: (task: Task) => number
  /**
   * A page of the tasks pending or running (`SchedulerService.tasks`, the
   * query validated), in {@link bySeq} order: (due, seq), as they are dispatched.
   */
  readonly tasks: (query: ResolvedTaskQuery<SeqKey>) => Effect.Effect<TaskPage>
  /** The task `id` if it is pending or running (`SchedulerService.task`). */
  readonly task: (id: string) => Effect.Effect<Option.Option<TaskInfo>>
}

/** The reason a run's cause makes it a dead letter. @internal */
export const reasonOf = (cause: Cause.Cause<unknown>): DeadLetterReason =>
  Cause.isFailType(cause) || Cause.isFailure(cause)
    ? "Failed"
    : Cause.isDie(cause)
    ? "Died"
    : "Interrupted"

const oneLine = (text: string): string => {
  const line = text.split("\n", 1)[0]!.trim()
  return line.length > 1000 ? `${line.slice(0, 997)}...` : line
}

/** What went wrong in a run, one line. @internal */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  if (error instanceof Error) return oneLine(error.message === "" ? error.name : `${error.name}: ${error.message}`)
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const message = "message" in error && typeof error.message === "string" ? `: ${error.message}` : ""
    return oneLine(`${String(error._tag)}${message}`)
  }
  try {
    return oneLine(typeof error === "string" ? error : JSON.stringify(error) ?? String(error))
  } catch {
    return oneLine(String(error))
  }
}

/** The message of a `NoConsumer` dead letter. @internal */
export const noConsumerMessage = (task: Task): string =>
  `no consumer is registered for source ${JSON.stringify(task.source)}`

/**
 * The memory layer: tasks live in the state only; dead letters in a bounded
 * list (the oldest go first). @internal
 */
export const memoryBackend = (
  state: SchedulerState,
  now: () => number,
  limit: number
): Backend => {
  /** By task id (one dead letter per id: a newer one replaces it), oldest first; at most `limit`. */
  const letters = new Map<string, DeadLetter>()
  const add = (task: Task, reason: DeadLetterReason, error: string, attempts: number): void => {
    if (state.host.metrics) Metrics.deadLetter(task.source, reason)
    letters.delete(task.id)
    letters.set(task.id, { task, reason, error, attempts, at: DateTime.unsafeMake(now()) })
    if (letters.size > limit) letters.delete(letters.keys().next().value!)
  }
  /** Tasks waiting for a retry, by id: the runs so far and the first failure's instant. */
  const retries = new Map<string, { readonly attempts: number; readonly since: number }>()
  /** The task's retries (if any) are over. */
  const settled = (task: Task): void => {
    if (retries.size > 0) retries.delete(task.id)
  }
  const attemptOf = (task: Task): number => retries.size === 0 ? 1 : (retries.get(task.id)?.attempts ?? 0) + 1
  return {
    attemptOf,
    tasks: (query) =>
      Effect.sync(() =>
        pageOf(
          bySeq,
          selectEntries(state, query, query.limit + 1),
          query.limit,
          (entry) => infoOfEntry(entry, attemptOf(entry.value))
        )
      ),
    task: (id) =>
      Effect.sync(() => {
        const entry = state.ids.get(id)
        return entry === undefined ? Option.none() : Option.some(infoOfEntry(entry, attemptOf(entry.value)))
      }),
    accept: (tasks) => Effect.sync(() => state.accept(tasks)),
    hooks: {
      attempt: attemptOf,
      beforeRun: undefined,
      succeeded: settled,
      cancelled: settled,
      failed: (task, cause, attempt, stopped) => {
        settled(task)
        add(
          task,
          reasonOf(cause),
          stopped ? "interrupted: the scheduler stopped before it ended" : describeCause(cause),
          attempt
        )
      },
      retrySince: (task) => retries.size === 0 ? undefined : retries.get(task.id)?.since,
      retried: (lane, entry, attempts, dueMillis, since) => {
        retries.set(entry.value.id, { attempts, since })
        state.retry(lane, entry, dueMillis)
      }
    },
    dropped: (tasks) => {
      for (const task of tasks) {
        settled(task)
        add(task, "NoConsumer", noConsumerMessage(task), 0)
      }
    },
    deadLetters: Effect.sync(() => Array.from(letters.values())),
    deadLetterCount: () => letters.size,
    takeDeadLetter: (taskId) =>
      Effect.sync(() => {
        const letter = letters.get(taskId)
        letters.delete(taskId)
        return letter
      }),
    restoreDeadLetter: (letter) =>
      Effect.sync(() => {
        // back in its place by time
        const all = Array.from(letters.values())
        let i = all.length
        while (i > 0 && DateTime.lessThan(letter.at, all[i - 1]!.at)) i--
        all.splice(i, 0, letter)
        letters.clear()
        for (const l of all) letters.set(l.task.id, l)
      }),
    purgeDeadLetters: (olderThanMillis) =>
      Effect.sync(() => {
        const before = letters.size
        if (olderThanMillis === undefined) letters.clear()
        else {
          const cutoff = now() - olderThanMillis
          for (const [id, letter] of letters) if (DateTime.toEpochMillis(letter.at) < cutoff) letters.delete(id)
        }
        return before - letters.size
      }),
    refuseStart: () => undefined,
    pausedChanged: () => Effect.void,
    committed: Effect.void,
    cancelStored: () => Effect.succeed(false),
    scheduleStore: {
      load: Effect.succeed([]),
      save: () => Effect.void,
      remove: () => Effect.void,
      fire: (tasks) => Effect.sync(() => state.accept(tasks)),
      isPending: (taskId) => Effect.sync(() => state.ids.has(taskId))
    },
    reschedule: (_taskId, entry, dueMillis) =>
      Effect.sync(() => {
        if (entry === undefined) return false
        state.requeue(entry, dueMillis)
        return true
      })
  }
}

/** Decodes the `olderThan` of `purgeDeadLetters` (a defect when invalid). @internal */
export const olderThanMillis = (olderThan: Duration.DurationInput | undefined): number | undefined => {
  if (olderThan === undefined) return undefined
  const decoded = Duration.decodeUnknown(olderThan)
  if (decoded._tag === "None") {
    throw new Cause.IllegalArgumentException(
      `Scheduler.purgeDeadLetters: olderThan must be a duration, got ${JSON.stringify(olderThan)}`
    )
  }
  return Duration.toMillis(decoded.value)
}
