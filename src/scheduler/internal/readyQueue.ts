/**
 * The queue of one source (a lane's): its pending entries, due or not,
 * popped in (due, seq) order.
 *
 * Tasks of one source usually arrive in due order (a schedule's next run,
 * a batch of due work), so almost every entry arrives after the ones already
 * queued: those go to a FIFO (O(1) push and pop). An entry that arrives out
 * of order (due before the queue's last one) goes to a small min-heap.
 * `pop` takes the smaller head of the two, so the queue as a whole always
 * pops in (due, seq) order.
 *
 * @internal
 */
import { type Entry, entryLessThan, MinHeap } from "./heap.js"

/** @internal */
export class ReadyQueue<A> {
  private fifo: Array<Entry<A> | undefined> = []
  private head = 0
  private readonly late = new MinHeap<A>()

  get size(): number {
    return this.fifo.length - this.head + this.late.size
  }

  push(entry: Entry<A>): void {
    const tail = this.fifo.length > this.head ? this.fifo[this.fifo.length - 1] : undefined
    if (tail === undefined || !entryLessThan(entry, tail)) this.fifo.push(entry)
    else this.late.push(entry)
  }

  peek(): Entry<A> | undefined {
    const first = this.head < this.fifo.length ? this.fifo[this.head] : undefined
    const late = this.late.peek()
    if (late === undefined) return first
    if (first === undefined) return late
    return entryLessThan(late, first) ? late : first
  }

  pop(): Entry<A> | undefined {
    const first = this.head < this.fifo.length ? this.fifo[this.head] : undefined
    const late = this.late.peek()
    if (late !== undefined && (first === undefined || entryLessThan(late, first))) return this.late.pop()
    if (first === undefined) return undefined
    this.fifo[this.head] = undefined
    this.head++
    if (this.head === this.fifo.length) {
      this.fifo = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.fifo.length) {
      // compact, so a long-lived queue does not keep a growing dead prefix
      this.fifo = this.fifo.slice(this.head)
      this.head = 0
    }
    return first
  }

  /** Removes and returns every entry, in no particular order. */
  clear(): Array<Entry<A>> {
    const out = this.fifo.slice(this.head) as Array<Entry<A>>
    this.fifo = []
    this.head = 0
    for (const entry of this.late.clear()) out.push(entry)
    return out
  }
}
