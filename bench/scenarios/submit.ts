/**
 * Scenario 2 — Submit: `tasks` tasks with random due instants between
 * `minDelayMs` and `horizonMs` from now (none becomes due during the
 * measurement) handed over in one `submitAll`. The tasks are built before
 * the clock starts; the scheduler is running (its dispatcher asleep).
 *
 * Metrics: tasksPerSec and submitMs (the `submitAll` call), bytesPerTask
 * (heap used after a full GC, after minus before the submission, divided by
 * the number of tasks: what the scheduler keeps per pending task on top of
 * the Task object itself).
 */
import * as Effect from "effect/Effect"
import type { Task } from "../../src/scheduler/Task.js"
import { gc, makeRandom } from "../lib/clock.js"
import { PlainScheduler } from "../lib/plain.js"
import { profileStart, profileStop } from "../lib/profile.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import { buildRay } from "../lib/ray.js"
import { makeTask, sourceNames } from "../lib/tasks.js"

const makeTasks = (params: Params): Array<Task> => {
  const n = num(params, "tasks")
  const sources = sourceNames(num(params, "sources"))
  const min = num(params, "minDelayMs")
  const span = num(params, "horizonMs") - min
  const random = makeRandom(num(params, "seed"))
  const now = Date.now()
  const tasks = new Array<Task>(n)
  for (let i = 0; i < n; i++) {
    tasks[i] = makeTask(i, sources[i % sources.length]!, now + min + Math.floor(random() * span))
  }
  return tasks
}

const dueOf = (task: Task): number => task.dueMillis

const heapUsed = (): number => {
  gc()
  return process.memoryUsage().heapUsed
}

const result = (n: number, submitMs: number, bytes: number, pending: number): SampleResult => ({
  metrics: { tasks: n, submitMs, tasksPerSec: (n / submitMs) * 1000, bytesPerTask: bytes / n, pending }
})

const ray = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sources = sourceNames(num(params, "sources"))
    const scheduler = yield* buildRay(sources.map((name) => ({ name, concurrency: 4, consume: () => Effect.void })), {})
    const tasks = makeTasks(params)
    const before = heapUsed()
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    yield* scheduler.submitAll(tasks)
    const submitMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    const after = heapUsed()
    const pending = yield* scheduler.pending
    return result(tasks.length, submitMs, after - before, pending)
  })))

const plain = async (params: Params): Promise<SampleResult> => {
  const sources = sourceNames(num(params, "sources"))
  const scheduler = new PlainScheduler<Task>(
    new Map(sources.map((name) => [name, { concurrency: 4, consume: async () => {} }]))
  )
  scheduler.start()
  const tasks = makeTasks(params)
  const before = heapUsed()
  await profileStart()
  const t0 = performance.now()
  // the plain-JS equivalent of submitAll: push every task, re-arm the timer once
  scheduler.submitAll(tasks, dueOf)
  const submitMs = performance.now() - t0
  await profileStop()
  const after = heapUsed()
  const pending = scheduler.pending
  scheduler.stop()
  return result(tasks.length, submitMs, after - before, pending)
}

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  switch (contender) {
    case "ray":
      return ray(params)
    case "plain":
      return plain(params)
    default:
      throw new Error(`submit: unknown contender ${contender}`)
  }
}
