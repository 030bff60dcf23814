/**
 * Reading the tasks pending or running (`SchedulerService.tasks` and
 * `task`), shared by the three layers: the query's validation, the opaque
 * cursor, the page, and the selection from memory that the memory layer uses
 * (and the SQL layer for its running tasks). docs/scheduler.md, "Listing
 * tasks".
 *
 * The order is per layer, keyset paging on a key the layer has an index
 * for: the memory and SQL layers list by (due instant, submission sequence
 * number `seq`) — the order tasks fall due and start, the store's `(due_ms,
 * seq)` index — and the cluster layer, which has no `seq`, by (due instant,
 * task id). The cursor holds the key of a page's last task, so a cursor is
 * valid for the layer that made it only: one of the other shape is invalid.
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

/**
 * A position in the order of `tasks` in the memory and SQL layers: (due
 * instant, submission sequence number) — the key the lanes pop by and the
 * store's `(due_ms, seq)` index. `seq` is unique among the tasks pending or
 * running. A retried task keeps its `seq` (at its retry's instant); a
 * rescheduled one keeps it in the SQL layer (its row's) and takes the next
 * one in the memory layer (as if submitted then): either way the key is the
 * one it is dispatched by. @internal
 */
export interface SeqKey {
  readonly dueMillis: number
  readonly seq: number
}

/** A position in the order of `tasks` in the cluster layer: (due instant, task id). @internal */
export interface IdKey {
  readonly dueMillis: number
  readonly id: string
}

/** A layer's order of `tasks`: its cursor, which holds the key `K` of a position. @internal */
export interface TaskOrder<K> {
  /** The cursor that continues after `key` (only the key's fields are encoded). */
  readonly encode: (key: K) => string
  /** The position `cursor` names; none if it is not a cursor of this order. */
  readonly decode: (cursor: unknown) => Option.Option<K>
}

/**
 * A cursor: base64url of the JSON `[due epoch ms, second key]`. Opaque to
 * callers, checked when decoded.
 */
const cursorOrder = <A, I, K extends { readonly dueMillis: number }>(
  second: Schema.Schema<A, I>,
  make: (dueMillis: number, second: A) => K,
  secondOf: (key: K) => A
): TaskOrder<K> => {
  const Cursor = Schema.compose(Schema.StringFromBase64Url, Schema.parseJson(Schema.Tuple(Schema.Int, second)))
  const encodeSync = Schema.encodeSync(Cursor)
  const decode = Schema.decodeUnknownOption(Cursor)
  return {
    encode: (key) => encodeSync([key.dueMillis, secondOf(key)]),
    decode: (cursor) => Option.map(decode(cursor), ([dueMillis, s]) => make(dueMillis, s))
  }
}

/** The memory and SQL layers' order: (due instant, `seq`); the cursor is `[due ms, seq]`. @internal */
export const bySeq: TaskOrder<SeqKey> = cursorOrder(
  Schema.NonNegativeInt,
  (dueMillis, seq) => ({ dueMillis, seq }),
  (key) => key.seq
)

/** The cluster layer's order: (due instant, task id); the cursor is `[due ms, task id]`. @internal */
export const byId: TaskOrder<IdKey> = cursorOrder(
  TaskId,
  (dueMillis, id) => ({ dueMillis, id }),
  (key) => key.id
)

/** A query, validated, with its defaults; `K`: the position of the layer's order. @internal */
export interface ResolvedTaskQuery<K> {
  readonly source: string | undefined
  readonly state: TaskState | undefined
  /** Only tasks due before this instant (epoch ms, exclusive). */
  readonly dueBeforeMillis: number | undefined
  readonly limit: number
  /** Only tasks after this position (the previous page's last task). */
  readonly after: K | undefined
}

const show = (value: unknown): string => {
  if (typeof value === "number") return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * Validates `query` and applies the defaults; an invalid option is an
 * {@link InvalidTaskQueryError} naming it (a cursor not of `order`'s shape
 * too). @internal
 */
export const resolveTaskQuery = <K>(
  query: TaskQuery | undefined,
  order: TaskOrder<K>
): Either.Either<ResolvedTaskQuery<K>, InvalidTaskQueryError> => {
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
  let after: K | undefined
  if (cursor !== undefined) {
    const decoded = order.decode(cursor)
    if (Option.isNone(decoded)) {
      return fail("cursor", "is not a cursor returned as nextCursor by a previous page")
    }
    after = decoded.value
  }
  return Either.right({ source, state, dueBeforeMillis, limit, after })
}

/**
 * A page of `items`, which are in `order` and hold at most `limit + 1`
 * tasks: the first `limit` (as `info` shows them), and a cursor after the
 * last of them if there is one more. @internal
 */
export const pageOf = <K, A extends K>(
  order: TaskOrder<K>,
  items: ReadonlyArray<A>,
  limit: number,
  info: (item: A) => TaskInfo
): TaskPage => {
  if (items.length <= limit) return { tasks: items.map(info), nextCursor: Option.none() }
  const kept = items.slice(0, limit)
  return { tasks: kept.map(info), nextCursor: Option.some(order.encode(kept[kept.length - 1]!)) }
}

/** What a memory entry (pending or running) shows; `attempt` is the backend's. @internal */
export const infoOfEntry = (entry: TaskEntry, attempt: number): TaskInfo => ({
  task: entry.value,
  state: entry.runner === undefined ? "pending" : "running",
  dueAt: DateTime.unsafeMake(entry.dueMillis),
  attempt
})

/** Whether `a` comes before `b` in the order of `tasks` in memory ({@link bySeq}: the lanes' order too). */
const entryLess = (a: TaskEntry, b: TaskEntry): boolean =>
  a.dueMillis < b.dueMillis || (a.dueMillis === b.dueMillis && a.seq < b.seq)

/**
 * The first `k` entries pending or running in memory that match `query`,
 * in {@link bySeq} order: one pass over the state's ids keeping the `k` smallest in a
 * max-heap — O(n log k), no sort of everything. Synchronous: call it in
 * one section. @internal
 */
export const selectEntries = (
  state: SchedulerState,
  query: ResolvedTaskQuery<SeqKey>,
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
    if (after !== undefined && !(due > after.dueMillis || (due === after.dueMillis && entry.seq > after.seq))) {
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
