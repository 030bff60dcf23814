/**
 * A binary min-heap of scheduler entries ordered by `(dueMillis, seq)`.
 *
 * A plain mutable structure, touched only inside the scheduler's synchronous
 * sections (docs/architecture.md, "Atomicity"). `push`, `peek` and `pop`
 * are O(log n) / O(1) / O(log n). A lane's queue (`readyQueue.ts`) uses it
 * for the tasks that arrive out of order.
 *
 * @internal
 */

/** @internal */
export interface Entry<A> {
  /** Due instant, epoch milliseconds. */
  readonly dueMillis: number
  /** Submission sequence number; breaks ties between equal instants (FIFO). */
  readonly seq: number
  readonly value: A
}

/** @internal */
export const entryLessThan = <A>(a: Entry<A>, b: Entry<A>): boolean =>
  a.dueMillis < b.dueMillis || (a.dueMillis === b.dueMillis && a.seq < b.seq)

/** @internal */
export class MinHeap<A> {
  private readonly items: Array<Entry<A>> = []

  get size(): number {
    return this.items.length
  }

  peek(): Entry<A> | undefined {
    return this.items[0]
  }

  push(entry: Entry<A>): void {
    const items = this.items
    let i = items.length
    items.push(entry)
    // sift up
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent]!
      if (!entryLessThan(entry, p)) break
      items[i] = p
      i = parent
    }
    items[i] = entry
  }

  pop(): Entry<A> | undefined {
    const items = this.items
    const n = items.length
    if (n === 0) return undefined
    const top = items[0]!
    const last = items.pop()!
    if (n > 1) this.siftDown(last, n - 1)
    return top
  }

  /** Removes every entry and returns them in no particular order. */
  clear(): Array<Entry<A>> {
    return this.items.splice(0, this.items.length)
  }

  private siftDown(entry: Entry<A>, size: number): void {
    const items = this.items
    let i = 0
    const half = size >> 1
    while (i < half) {
      let child = 2 * i + 1
      let c = items[child]!
      const right = child + 1
      if (right < size) {
        const r = items[right]!
        if (entryLessThan(r, c)) {
          child = right
          c = r
        }
      }
      if (!entryLessThan(c, entry)) break
      items[i] = c
      i = child
    }
    items[i] = entry
  }
}
