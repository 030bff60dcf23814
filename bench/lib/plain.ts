/**
 * The plain-JS limit: the physical reference the benchmarks compare
 * RayScheduler against. No Effect, no fibers: a binary min-heap of pending
 * entries ordered by (due, seq), one `setTimeout` armed for the head, and per
 * source at most `concurrency` async "workers" (Promise loops) draining a
 * FIFO of due entries — the same per-source limits and the same time order as
 * the library.
 *
 * Differences from the library, on purpose (they only make it faster):
 * - the per-source ready queue is a FIFO, not a heap (identical order unless
 *   a past-due task is submitted behind a backlog, which no benchmark does);
 * - no stats, no logging, no failure isolation beyond a caught rejection.
 */

/** A pending entry. */
export interface PlainEntry<A> {
  readonly due: number
  readonly seq: number
  readonly value: A
}

const before = <A>(a: PlainEntry<A>, b: PlainEntry<A>): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq)

/** A binary min-heap ordered by (due, seq). */
export class PlainHeap<A> {
  private readonly items: Array<PlainEntry<A>> = []

  get size(): number {
    return this.items.length
  }

  peek(): PlainEntry<A> | undefined {
    return this.items[0]
  }

  push(entry: PlainEntry<A>): void {
    const items = this.items
    let i = items.length
    items.push(entry)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent]!
      if (!before(entry, p)) break
      items[i] = p
      i = parent
    }
    items[i] = entry
  }

  pop(): PlainEntry<A> | undefined {
    const items = this.items
    const n = items.length
    if (n === 0) return undefined
    const top = items[0]!
    const last = items.pop()!
    if (n > 1) {
      const size = n - 1
      const half = size >> 1
      let i = 0
      while (i < half) {
        let child = 2 * i + 1
        let c = items[child]!
        const right = child + 1
        if (right < size) {
          const r = items[right]!
          if (before(r, c)) {
            child = right
            c = r
          }
        }
        if (!before(c, last)) break
        items[i] = c
        i = child
      }
      items[i] = last
    }
    return top
  }
}

/** An array-backed FIFO with O(1) amortized shift. */
export class Fifo<A> {
  private items: Array<A | undefined> = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(value: A): void {
    this.items.push(value)
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const value = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return value
  }
}

/** A consumer of the plain scheduler. */
export interface PlainConsumer<A> {
  readonly concurrency: number
  readonly consume: (value: A) => Promise<void>
}

interface Lane<A> {
  readonly consumer: PlainConsumer<A>
  readonly ready: Fifo<A>
  workers: number
}

/** Something with a source, for routing. */
export interface Routed {
  readonly source: string
}

/**
 * The plain-JS scheduler. `now` is the wall clock in epoch ms (the same one
 * the library reads through Effect's `Clock`).
 */
export class PlainScheduler<A extends Routed> {
  private readonly heap = new PlainHeap<A>()
  private readonly lanes = new Map<string, Lane<A>>()
  private seq = 0
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private timerAt = Infinity
  private running = false
  private immediate = false

  constructor(
    consumers: ReadonlyMap<string, PlainConsumer<A>>,
    private readonly batchSize = 4096,
    private readonly now: () => number = Date.now
  ) {
    for (const [source, consumer] of consumers) this.lanes.set(source, { consumer, ready: new Fifo(), workers: 0 })
  }

  get pending(): number {
    let n = this.heap.size
    for (const lane of this.lanes.values()) n += lane.ready.size
    return n
  }

  submit(due: number, value: A): void {
    this.heap.push({ due, seq: this.seq++, value })
    if (this.running && due < this.timerAt) this.rearm()
  }

  submitAll(values: Iterable<A>, dueOf: (value: A) => number): void {
    let earliest = Infinity
    for (const value of values) {
      const due = dueOf(value)
      this.heap.push({ due, seq: this.seq++, value })
      if (due < earliest) earliest = due
    }
    if (this.running && earliest < this.timerAt) this.rearm()
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.rearm()
  }

  stop(): void {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
  }

  /** Wakes the dispatcher now (an earlier task arrived) or re-arms the timer for the head. */
  private rearm(): void {
    if (this.immediate) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    const head = this.heap.peek()
    if (head === undefined) return
    const delay = head.due - this.now()
    if (delay <= 0) {
      this.immediate = true
      this.timerAt = -Infinity
      setImmediate(this.dispatch)
      return
    }
    this.timerAt = head.due
    this.timer = setTimeout(this.dispatch, delay)
  }

  private readonly dispatch = (): void => {
    this.immediate = false
    this.timer = undefined
    this.timerAt = Infinity
    if (!this.running) return
    const now = this.now()
    let n = 0
    let head = this.heap.peek()
    while (head !== undefined && head.due <= now && n < this.batchSize) {
      this.heap.pop()
      n++
      const lane = this.lanes.get(head.value.source)
      if (lane !== undefined) {
        lane.ready.push(head.value)
        if (lane.workers < lane.consumer.concurrency) {
          lane.workers++
          void this.work(lane)
        }
      }
      head = this.heap.peek()
    }
    this.rearm()
  }

  /** One worker: runs the lane's ready values one after another, then exits. */
  private async work(lane: Lane<A>): Promise<void> {
    try {
      for (let value = lane.ready.shift(); value !== undefined; value = lane.ready.shift()) {
        try {
          await lane.consumer.consume(value)
        } catch {
          // isolated, like the library (which logs it)
        }
      }
    } finally {
      lane.workers--
    }
  }
}
