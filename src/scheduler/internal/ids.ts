/**
 * The ids of the tasks pending or running (docs/architecture.md, "Layers"):
 * a submission of one of them is a duplicate.
 *
 * A task's entry stays in the index after its run ended, marked `ended`,
 * instead of being deleted at once: deleting from a large `Map` costs a
 * hash lookup with cache misses per task (about half the drain's time with
 * 300k pending), while marking the entry, which the worker has at hand,
 * costs nothing. Ended entries are swept when they outnumber the live ones
 * three to one (so the index holds at most 4× the live tasks + 4096), which
 * is O(live) per sweep and O(1) amortised per task.
 *
 * @internal
 */
import type { Task } from "../Task.js"
import type { Entry } from "./heap.js"

/** A lane queue's entry for a task, with whether its run ended (or it was dropped or forgotten). @internal */
export interface TaskEntry extends Entry<Task> {
  ended: boolean
}

/** @internal */
export class IdIndex {
  private map = new Map<string, TaskEntry>()
  private endedCount = 0

  /** Whether a task with this id is pending or running. */
  has(id: string): boolean {
    const entry = this.map.get(id)
    return entry !== undefined && !entry.ended
  }

  /** Adds `entry` unless a task with its id is pending or running; whether it was added. */
  add(entry: TaskEntry): boolean {
    const id = entry.value.id
    const old = this.map.get(id)
    if (old !== undefined) {
      if (!old.ended) return false
      this.endedCount--
    }
    this.map.set(id, entry)
    return true
  }

  /** `entry`'s task is no longer pending or running. */
  end(entry: TaskEntry): void {
    // a live entry is always in the map (only ended ones are replaced or swept)
    if (entry.ended) return
    entry.ended = true
    this.endedCount++
    if (this.endedCount > 4096 && this.endedCount > 3 * (this.map.size - this.endedCount)) this.sweep()
  }

  private sweep(): void {
    const live = new Map<string, TaskEntry>()
    // `forEach`, not `for (const [id, entry] of ...)`: no array per entry (2.4× faster on 1M entries)
    this.map.forEach((entry, id) => {
      if (!entry.ended) live.set(id, entry)
    })
    this.map = live
    this.endedCount = 0
  }
}
