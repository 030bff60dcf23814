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
import type * as Fiber from "effect/Fiber"
import type { Task } from "../Task.js"
import type { Entry } from "./heap.js"

/** `TaskEntry.runner` of a task that is no longer pending or running. @internal */
export const ENDED: unique symbol = Symbol.for("ray-scheduler/TaskEntry/ended")

/**
 * A lane queue's entry for a task. `runner`: undefined while it is pending,
 * the worker fiber running it, or `ENDED` once its run ended (or it was
 * dropped, forgotten, cancelled or rescheduled: a cancelled or rescheduled
 * entry may still sit in its lane's queue, which skips it). One field for
 * all three, so an entry costs no more memory for `cancel`. @internal
 */
export interface TaskEntry extends Entry<Task> {
  runner: Fiber.RuntimeFiber<void> | typeof ENDED | undefined
}

/** @internal */
export class IdIndex {
  private map = new Map<string, TaskEntry>()
  private endedCount = 0

  /** Whether a task with this id is pending or running. */
  has(id: string): boolean {
    const entry = this.map.get(id)
    return entry !== undefined && entry.runner !== ENDED
  }

  /** The entry of the task with this id pending or running, if any. */
  get(id: string): TaskEntry | undefined {
    const entry = this.map.get(id)
    return entry !== undefined && entry.runner !== ENDED ? entry : undefined
  }

  /** Adds `entry` unless a task with its id is pending or running; whether it was added. */
  add(entry: TaskEntry): boolean {
    const id = entry.value.id
    const old = this.map.get(id)
    if (old !== undefined) {
      if (old.runner !== ENDED) return false
      this.endedCount--
    }
    this.map.set(id, entry)
    return true
  }

  /** `entry`'s task is no longer pending or running. */
  end(entry: TaskEntry): void {
    // a live entry is always in the map (only ended ones are replaced or swept)
    if (entry.runner === ENDED) return
    entry.runner = ENDED
    this.endedCount++
    if (this.endedCount > 4096 && this.endedCount > 3 * (this.map.size - this.endedCount)) this.sweep()
  }

  /** Calls `f` with the entry of each task pending or running (a read: `f` must not change the index). */
  forEach(f: (entry: TaskEntry) => void): void {
    this.map.forEach((entry) => {
      if (entry.runner !== ENDED) f(entry)
    })
  }

  private sweep(): void {
    const live = new Map<string, TaskEntry>()
    // `forEach`, not `for (const [id, entry] of ...)`: no array per entry (2.4× faster on 1M entries)
    this.map.forEach((entry, id) => {
      if (entry.runner !== ENDED) live.set(id, entry)
    })
    this.map = live
    this.endedCount = 0
  }
}
