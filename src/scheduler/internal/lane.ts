/**
 * A lane: everything the scheduler keeps for one source — its pending tasks,
 * the consumer its workers serve, its permits and workers, its counters —
 * and the heap of lanes the dispatcher watches. The rules that move a lane
 * between its states are in `state.ts` (`reconcile`); the states are
 * described once, in docs/architecture.md ("Lanes").
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type { Task } from "../Task.js"
import type { TaskConsumer } from "../TaskConsumer.js"
import { Counters } from "./counters.js"
import { type Entry, entryLessThan } from "./heap.js"
import { ENDED, type TaskEntry } from "./ids.js"
import { SourceMetrics } from "./metrics.js"
import { ReadyQueue } from "./readyQueue.js"
import type { Signal } from "./signal.js"

/** @internal */
export class Lane {
  /** The source's pending tasks, due or not, popped in (due, seq) order. */
  readonly queue = new ReadyQueue<Task>()
  /** This source's counters (its share of the totals). */
  readonly counters: Counters
  /** The consumer the lane's new workers serve: the registered one when a worker was last started. */
  consumer: TaskConsumer | undefined = undefined
  /** The consumer's `concurrency` when it was adopted. */
  permits = 0
  /** `permits` permits; each worker holds one for its whole life. */
  semaphore: Effect.Semaphore | undefined = undefined
  /** Worker fibers alive: starting, running tasks, or leaving. */
  workers = 0
  /**
   * Workers started (forked, or a parked one woken) that have not taken a
   * task yet (0 or 1: workers start one at a time).
   */
  starting = 0
  /** The lane's parked worker, if any: it waits on this for a due task (`true`) or to leave (`false`). */
  parked: Signal<boolean> | undefined = undefined
  /** When the parked worker parked (epoch ms). */
  parkedSince = 0
  /** The alive worker fibers and the consumer each serves (to wait for or interrupt them). */
  readonly fibers = new Map<Fiber.RuntimeFiber<void>, TaskConsumer>()
  /** Since when its due tasks wait for a consumer (epoch ms); undefined while it has one. */
  orphanSince: number | undefined = undefined
  /** Position in the {@link LaneHeap}; -1 when not in it. */
  heapIndex = -1
  /** The source is paused: its due tasks wait, no worker takes one (`SchedulerState.pause`). */
  paused = false
  /** The consumer's `rateLimit.limit` (set when the lane adopts a consumer); 0: none. */
  rateLimit = 0
  rateIntervalMillis = 0
  /** The last `rateLimit` start instants, a ring: `starts[next]` is the oldest. */
  private starts: Float64Array | undefined = undefined
  private next = 0

  /** `counters`: the source's counters kept from an earlier lane, if any. */
  constructor(readonly source: string, counters?: Counters, metrics = false) {
    this.counters = counters ?? new Counters(metrics ? SourceMetrics.of(source, true) : undefined)
  }

  /**
   * The earliest pending entry. Entries of cancelled or rescheduled tasks
   * (`runner` is `ENDED`) stay in the queue until they reach its head, and
   * are dropped here: a cancel costs O(1), not a search of the queue.
   */
  get head(): Entry<Task> | undefined {
    let head = this.queue.peek()
    while (head !== undefined && (head as TaskEntry).runner === ENDED) {
      this.queue.pop()
      head = this.queue.peek()
    }
    return head
  }

  /** Sets the lane's rate limit (`limit` = 0: none); the start log restarts. */
  setRateLimit(limit: number, intervalMillis: number): void {
    if (limit === this.rateLimit && intervalMillis === this.rateIntervalMillis) return
    this.rateLimit = limit
    this.rateIntervalMillis = intervalMillis
    this.starts = limit > 0 ? new Float64Array(limit).fill(-Infinity) : undefined
    this.next = 0
  }

  /**
   * When the head may start: its due instant, or later when `rateLimit`
   * starts happened in the last interval (then: when the oldest of them is
   * an interval old). The caller knows the head exists.
   */
  readyAt(head: Entry<Task> = this.head!): number {
    const due = head.dueMillis
    const starts = this.starts
    if (starts === undefined) return due
    const free = starts[this.next]! + this.rateIntervalMillis
    return free > due ? free : due
  }

  /** A task of the lane started at `now` (counted by the rate limit). */
  started(now: number): void {
    const starts = this.starts
    if (starts === undefined) return
    starts[this.next] = now
    this.next = (this.next + 1) % starts.length
  }
}

/** The lane whose head may start first (rate limits included), then the earlier head. */
const headLessThan = (a: Lane, b: Lane): boolean => {
  const ra = a.readyAt()
  const rb = b.readyAt()
  return ra < rb || (ra === rb && entryLessThan(a.head!, b.head!))
}

/**
 * The lanes whose head the dispatcher watches, earliest head first. A lane
 * is in it at most once (its `heapIndex`), so the heap has at most one entry
 * per source, and a lane whose head changed is moved with {@link upsert}.
 * Only lanes with a head are in it.
 *
 * @internal
 */
export class LaneHeap {
  private readonly items: Array<Lane> = []

  get size(): number {
    return this.items.length
  }

  /** The lane with the earliest head. */
  peek(): Lane | undefined {
    return this.items[0]
  }

  /** Inserts the lane, or moves it to its place after its head changed. */
  upsert(lane: Lane): void {
    if (lane.heapIndex < 0) {
      lane.heapIndex = this.items.length
      this.items.push(lane)
    }
    this.siftDown(this.siftUp(lane.heapIndex))
  }

  /** Removes the lane if it is in the heap. */
  remove(lane: Lane): void {
    const i = lane.heapIndex
    if (i < 0) return
    lane.heapIndex = -1
    const last = this.items.pop()!
    if (i < this.items.length) {
      this.items[i] = last
      last.heapIndex = i
      this.siftDown(this.siftUp(i))
    }
  }

  /** Removes every lane. */
  clear(): void {
    for (const lane of this.items) lane.heapIndex = -1
    this.items.length = 0
  }

  private place(lane: Lane, i: number): void {
    this.items[i] = lane
    lane.heapIndex = i
  }

  private siftUp(i: number): number {
    const items = this.items
    const lane = items[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent]!
      if (!headLessThan(lane, p)) break
      this.place(p, i)
      i = parent
    }
    this.place(lane, i)
    return i
  }

  private siftDown(i: number): void {
    const items = this.items
    const n = items.length
    const lane = items[i]!
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && headLessThan(items[right]!, items[child]!)) child = right
      const c = items[child]!
      if (!headLessThan(c, lane)) break
      this.place(c, i)
      i = child
    }
    this.place(lane, i)
  }
}
