/**
 * Reading the tasks pending or running (`SchedulerService.tasks` and
 * `task`), shared by the three layers: the query's validation, the opaque
 * cursor, the order — (due instant, task id) ascending, keyset paging — and
 * the selection from memory that the memory layer uses (and the SQL layer
 * for its running tasks). docs/scheduler.md, "Listing tasks".
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { TaskInfo, TaskPage, TaskQuery, TaskState } from "../Scheduler.js"
import { TaskId } from "../Task.js"
import type { TaskEntry } from "./ids.js"
import type { SchedulerState } from "./state.js"

/** Default and largest page size of `tasks`. @internal */
export const defaultTaskLimit = 100
/** @internal */
export const maxTaskLimit = 1000

/**
 * `tasks` was given an invalid query: `field` names the option (`source`,
 * `state`, `dueBefore`, `limit` or `cursor`), `reason` says what is wrong.
 * A `Schema.TaggedError`, so that an HTTP API can send it as it is.
 *
 * @since 0.5.0
 * @category errors
 */
export class InvalidTaskQueryError extends Schema.TaggedError<InvalidTaskQueryError>()("InvalidTaskQueryError", {
  field: Schema.Literal("source", "state", "dueBefore", "limit", "cursor"),
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid task query: ${this.field} ${this.reason}`
  }
}

/** A position in the order of `tasks`: (due instant, task id). @internal */
export interface TaskKey {
  readonly dueMillis: number
  readonly id: string
}

/** Whether `a` comes before `b` in the order of `tasks`. @internal */
export const keyLessThan = (a: TaskKey, b: TaskKey): boolean =>
  a.dueMillis < b.dueMillis || (a.dueMillis === b.dueMillis && a.id < b.id)

/** A query, validated, with its defaults. @internal */
export interface ResolvedTaskQuery {
  readonly source: string | undefined
  readonly state: TaskState | undefined
  /** Only tasks due before this instant (epoch ms, exclusive). */
  readonly dueBeforeMillis: number | undefined
  readonly limit: number
  /** Only tasks after this position (the previous page's last task). */
  readonly after: TaskKey | undefined
}

/**
 * The cursor: base64url of the JSON `[due epoch ms, task id]` of the last
 * task of a page. Opaque to callers, checked when decoded.
 */
const Cursor = Schema.compose(
  Schema.StringFromBase64Url,
  Schema.parseJson(Schema.Tuple(Schema.Int, TaskId))
)
const encodeCursorSync = Schema.encodeSync(Cursor)
const decodeCursor = Schema.decodeUnknownEither(Cursor)

/** The cursor that continues after `key`. @internal */
export const encodeCursor = (key: TaskKey): string => encodeCursorSync([key.dueMillis, key.id])

const show = (value: unknown): string => {
  if (typeof value === "number") return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Validates `query` and applies the defaults; an invalid option is an {@link InvalidTaskQueryError} naming it. @internal */
export const resolveTaskQuery = (
  query: TaskQuery | undefined
): Either.Either<ResolvedTaskQuery, InvalidTaskQueryError> => {
  const fail = (field: InvalidTaskQueryError["field"], reason: string) =>
    Either.left(new InvalidTaskQueryError({ field, reason }))
  const q: TaskQuery = query ?? {}
  const { cursor, dueBefore, limit = defaultTaskLimit, source, state } = q
  if (source !== undefined && (typeof source !== "string" || source.length === 0)) {
    return fail("source", `must be a non-empty string, got ${show(source)}`)
  }
  if (state !== undefined && state !== "pending" && state !== "running") {
    return fail("state", `must be "pending" or "running", got ${show(state)}`)
  }
  let dueBeforeMillis: number | undefined
  if (dueBefore !== undefined) {
    dueBeforeMillis = DateTime.isDateTime(dueBefore) ? DateTime.toEpochMillis(dueBefore) : NaN
    if (!Number.isFinite(dueBeforeMillis)) return fail("dueBefore", `must be a valid DateTime, got ${show(dueBefore)}`)
  }
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > maxTaskLimit) {
    return fail("limit", `must be an integer from 1 to ${maxTaskLimit}, got ${show(limit)}`)
  }
  let after: TaskKey | undefined
  if (cursor !== undefined) {
    const decoded = decodeCursor(cursor)
    if (Either.isLeft(decoded)) {
      return fail("cursor", "is not a cursor returned as nextCursor by a previous page")
    }
    after = { dueMillis: decoded.right[0], id: decoded.right[1] }
  }
  return Either.right({ source, state, dueBeforeMillis, limit, after })
}

/**
 * A page of `infos`, which are in order and hold at most `limit + 1`
 * tasks: the first `limit`, and a cursor after the last of them if there
 * is one more. @internal
 */
export const pageOf = (infos: ReadonlyArray<TaskInfo>, limit: number): TaskPage => {
  if (infos.length <= limit) return { tasks: infos, nextCursor: Option.none() }
  const tasks = infos.slice(0, limit)
  const last = tasks[tasks.length - 1]!
  return {
    tasks,
    nextCursor: Option.some(encodeCursor({ dueMillis: DateTime.toEpochMillis(last.dueAt), id: last.task.id }))
  }
}

/** What a memory entry (pending or running) shows; `attempt` is the backend's. @internal */
export const infoOfEntry = (entry: TaskEntry, attempt: number): TaskInfo => ({
  task: entry.value,
  state: entry.runner === undefined ? "pending" : "running",
  dueAt: DateTime.unsafeMake(entry.dueMillis),
  attempt
})

const entryLess = (a: TaskEntry, b: TaskEntry): boolean =>
  a.dueMillis < b.dueMillis || (a.dueMillis === b.dueMillis && a.value.id < b.value.id)

/**
 * The first `k` entries pending or running in memory that match `query`,
 * in order: one pass over the state's ids keeping the `k` smallest in a
 * max-heap — O(n log k), no sort of everything. Synchronous: call it in
 * one section. @internal
 */
export const selectEntries = (
  state: SchedulerState,
  query: ResolvedTaskQuery,
  k: number
): Array<TaskEntry> => {
  const { after, dueBeforeMillis, source } = query
  const wanted = query.state
  /** A max-heap of the k smallest so far: `heap[0]` is the largest of them. */
  const heap: Array<TaskEntry> = []
  const siftDown = (i: number) => {
    const n = heap.length
    const item = heap[i]!
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && entryLess(heap[child]!, heap[child + 1]!)) child++
      if (!entryLess(item, heap[child]!)) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = item
  }
  state.ids.forEach((entry) => {
    if (wanted !== undefined && (entry.runner === undefined) !== (wanted === "pending")) return
    if (source !== undefined && entry.value.source !== source) return
    const due = entry.dueMillis
    if (dueBeforeMillis !== undefined && !(due < dueBeforeMillis)) return
    if (after !== undefined && !(due > after.dueMillis || (due === after.dueMillis && entry.value.id > after.id))) {
      return
    }
    if (heap.length < k) {
      // sift up
      let i = heap.length
      heap.push(entry)
      while (i > 0) {
        const parent = (i - 1) >> 1
        if (!entryLess(heap[parent]!, entry)) break
        heap[i] = heap[parent]!
        i = parent
      }
      heap[i] = entry
    } else if (k > 0 && entryLess(entry, heap[0]!)) {
      heap[0] = entry
      siftDown(0)
    }
  })
  return heap.sort((a, b) => (entryLess(a, b) ? -1 : entryLess(b, a) ? 1 : 0))
}
