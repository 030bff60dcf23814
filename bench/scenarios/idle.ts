/**
 * Scenario — Idle: `tasks` tasks pending `aheadMs` ahead (none becomes due),
 * then the process waits `seconds` seconds while nothing is due. What a
 * scheduler costs while it only waits: CPU time (user + system,
 * `process.cpuUsage()`) over the waiting window, in % of one core, after a
 * settling pause and a full GC so the submission's own garbage is not counted.
 *
 * RayScheduler also reports the fibers started during the window (its
 * dispatcher wakes at most once per `maxSleep`, default 1 minute).
 */
import * as Effect from "effect/Effect"
import type { Task } from "../../src/scheduler/Task.js"
import { gc, sleep } from "../lib/clock.js"
import { PlainScheduler } from "../lib/plain.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import { buildRay, PeakFibers } from "../lib/ray.js"
import { makeTask, sourceNames } from "../lib/tasks.js"

const makeTasks = (params: Params): Array<Task> => {
  const n = num(params, "tasks")
  const sources = sourceNames(num(params, "sources"))
  const due = Date.now() + num(params, "aheadMs")
  const tasks = new Array<Task>(n)
  // spread over one second, so no contender can batch them into one instant
  for (let i = 0; i < n; i++) tasks[i] = makeTask(i, sources[i % sources.length]!, due + (i % 1000))
  return tasks
}

/** Settles, collects garbage, then measures CPU over the waiting window. */
const measureIdle = async (params: Params): Promise<{ cpuPercent: number; wallMs: number }> => {
  await sleep(num(params, "settleMs"))
  gc()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await sleep(num(params, "seconds") * 1000)
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  return { cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100, wallMs }
}

const ray = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const supervisor = new PeakFibers()
    const scheduler = yield* buildRay(
      sourceNames(num(params, "sources")).map((name) => ({ name, concurrency: 4, consume: () => Effect.void })),
      {},
      supervisor
    )
    yield* scheduler.submitAll(makeTasks(params))
    const before = supervisor.started
    const idle = yield* Effect.promise(() => measureIdle(params))
    return { metrics: { ...idle, fibersStarted: supervisor.started - before, pending: yield* scheduler.pending } }
  })))

const plain = async (params: Params): Promise<SampleResult> => {
  const scheduler = new PlainScheduler<Task>(
    new Map(sourceNames(num(params, "sources")).map((name) => [name, { concurrency: 4, consume: async () => {} }]))
  )
  scheduler.start()
  scheduler.submitAll(makeTasks(params), (task) => task.dueMillis)
  const idle = await measureIdle(params)
  scheduler.stop()
  return { metrics: idle }
}

const perTimeout = async (params: Params): Promise<SampleResult> => {
  const timers = makeTasks(params).map((task) => setTimeout(() => {}, task.dueMillis - Date.now()))
  const idle = await measureIdle(params)
  for (const timer of timers) clearTimeout(timer)
  return { metrics: idle }
}

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  switch (contender) {
    case "ray":
      return ray(params)
    case "plain":
      return plain(params)
    case "timeout":
      return perTimeout(params)
    default:
      throw new Error(`idle: unknown contender ${contender}`)
  }
}
