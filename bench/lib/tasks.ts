/**
 * Building RayScheduler tasks cheaply, before any timing starts.
 */
import * as DateTime from "effect/DateTime"
import { Task } from "../../src/scheduler/Task.js"

/** A UUID-shaped id for task number `i` (cheaper than `crypto.randomUUID()`, still unique). */
export const taskId = (i: number): string => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`

/** A task for `source` due at epoch millisecond `dueMillis`, built without validation. */
export const makeTask = (i: number, source: string, dueMillis: number): Task =>
  new Task({ id: taskId(i), source, args: {}, scheduleAt: DateTime.unsafeMake(dueMillis) }, true)

/** Source names `s0 … s{n-1}`. */
export const sourceNames = (n: number): Array<string> => Array.from({ length: n }, (_, i) => `s${i}`)
