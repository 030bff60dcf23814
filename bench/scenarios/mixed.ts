/**
 * Scenario 4 — Mixed load: `pending` tasks scheduled up front (due over the
 * next `maxDelayMs`), then a steady `ratePerSec` submissions per second for
 * `seconds` seconds, one task per `submit` call, from a producer ticking
 * every millisecond. Each submitted task is due `U(0, maxDelayMs)` after its
 * planned submission instant, so about `pending` tasks stay pending
 * throughout; a share `immediateShare` is due at once — earlier than the
 * current head, which is the scheduler's interrupt (wake-up) path.
 *
 * The whole plan (tasks, due instants, planned submission instants) is built
 * before the clock starts and is the same for every contender.
 *
 * Metrics: lateness p50 / p99 / p999 / max (ms) over every task, and
 * cpuPercent: process CPU time (user + system, `process.cpuUsage()`) over
 * the wall time from the first submission to the last handler, in % of one
 * core (it includes the producer's own work, the same for all contenders).
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type { Task } from "../../src/scheduler/Task.js"
import type { EpochClock } from "../lib/clock.js"
import { makeEpochClock, makeRandom, sleep } from "../lib/clock.js"
import type { Recorder } from "../lib/latency.js"
import { makeRecorder } from "../lib/latency.js"
import { PlainScheduler } from "../lib/plain.js"
import { profileStart, profileStop } from "../lib/profile.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import { buildRay, PeakFibers } from "../lib/ray.js"
import { makeTask, sourceNames } from "../lib/tasks.js"

interface Plan {
  readonly clock: EpochClock
  readonly base: number
  /** Tasks 0 … initial-1 are submitted before `base`; the rest at `plannedAt[i - initial]`. */
  readonly tasks: ReadonlyArray<Task>
  readonly initial: number
  readonly plannedAt: Float64Array
  readonly recorder: Recorder
}

const makePlan = (params: Params): Plan => {
  const clock = makeEpochClock()
  const sources = sourceNames(num(params, "sources"))
  const initial = num(params, "pending")
  const rate = num(params, "ratePerSec")
  const arrivals = Math.round(rate * num(params, "seconds"))
  const maxDelay = num(params, "maxDelayMs")
  const immediate = num(params, "immediateShare")
  const random = makeRandom(num(params, "seed"))
  const base = Math.ceil(clock.now()) + num(params, "leadMs")
  const tasks: Array<Task> = []
  for (let i = 0; i < initial; i++) {
    tasks.push(makeTask(i, sources[i % sources.length]!, base + Math.floor(random() * maxDelay)))
  }
  const plannedAt = new Float64Array(arrivals)
  for (let j = 0; j < arrivals; j++) {
    const at = base + (j * 1000) / rate
    plannedAt[j] = at
    const delay = random() < immediate ? 0 : random() * maxDelay
    const i = initial + j
    tasks.push(makeTask(i, sources[i % sources.length]!, Math.floor(at + delay)))
  }
  return { clock, base, tasks, initial, plannedAt, recorder: makeRecorder(clock, tasks.length) }
}

/**
 * Submits the initial tasks, waits for `base`, runs the producer and waits
 * for every handler. `submit` is the contender's one-task submission.
 */
const drive = async (plan: Plan, submit: (task: Task) => void, params: Params): Promise<SampleResult> => {
  const { base, clock, initial, plannedAt, recorder, tasks } = plan
  for (let i = 0; i < initial; i++) submit(tasks[i]!)
  const notes: Array<string> = []
  const wait = base - clock.now()
  if (wait < 0) notes.push(`the initial submission finished ${(-wait).toFixed(0)} ms after the first due instant`)
  await sleep(Math.max(0, wait))
  await profileStart()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let next = 0
  let maxBacklog = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = clock.now()
      const start = next
      while (next < plannedAt.length && plannedAt[next]! <= now) submit(tasks[initial + next++]!)
      if (next - start > maxBacklog) maxBacklog = next - start
      if (next >= plannedAt.length) {
        clearInterval(timer)
        resolve()
      }
    }
    const timer = setInterval(tick, 1)
  })
  await recorder.done(num(params, "maxDelayMs") + 60_000)
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await profileStop()
  const metrics = recorder.metrics()
  if (metrics.fired! < tasks.length) notes.push(`only ${metrics.fired} of ${tasks.length} fired before the timeout`)
  return {
    metrics: {
      ...metrics,
      tasks: tasks.length,
      wallMs,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      cpuUsPerTask: (cpu.user + cpu.system) / tasks.length,
      maxSubmitsPerTick: maxBacklog
    },
    notes
  }
}

const ray = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const plan = makePlan(params)
    const { record } = plan.recorder
    const consume = (task: Task) => Effect.sync(() => record(task.dueMillis))
    const supervisor = new PeakFibers()
    const scheduler = yield* buildRay(
      sourceNames(num(params, "sources")).map((name) => ({ name, concurrency: num(params, "concurrency"), consume })),
      {},
      supervisor
    )
    const runSync = Runtime.runSync(yield* Effect.runtime<never>())
    const result = yield* Effect.promise(() => drive(plan, (task) => runSync(scheduler.submit(task)), params))
    return {
      ...result,
      metrics: { ...result.metrics, fibersPerTask: supervisor.started / plan.tasks.length, peakFibers: supervisor.peak }
    }
  })))

const plain = async (params: Params): Promise<SampleResult> => {
  const plan = makePlan(params)
  const { record } = plan.recorder
  const consume = async (task: Task): Promise<void> => record(task.dueMillis)
  const scheduler = new PlainScheduler<Task>(
    new Map(
      sourceNames(num(params, "sources")).map((name) => [name, { concurrency: num(params, "concurrency"), consume }])
    )
  )
  scheduler.start()
  const result = await drive(plan, (task) => scheduler.submit(task.dueMillis, task), params)
  scheduler.stop()
  return result
}

const perTimeout = (params: Params): Promise<SampleResult> => {
  const plan = makePlan(params)
  const { record } = plan.recorder
  return drive(plan, (task) => {
    const due = task.dueMillis
    setTimeout(() => record(due), due - Date.now())
  }, params)
}

/**
 * setTimeout per task, each submission entered through `Runtime.runSync` of
 * an `Effect.sync`: what calling any Effect API from a plain callback costs
 * (a fiber per call), without a scheduler. RayScheduler's producer pays the
 * same entry (`runSync(scheduler.submit(task))`), so this contender separates
 * the runtime entry from the scheduler's own work.
 */
const perTimeoutViaEffect = (params: Params): Promise<SampleResult> => {
  const plan = makePlan(params)
  const { record } = plan.recorder
  const runSync = Runtime.runSync(Runtime.defaultRuntime)
  return drive(plan, (task) =>
    runSync(Effect.sync(() => {
      const due = task.dueMillis
      setTimeout(() => record(due), due - Date.now())
    })), params)
}

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  switch (contender) {
    case "ray":
      return ray(params)
    case "plain":
      return plain(params)
    case "timeout":
      return perTimeout(params)
    case "timeoutEffect":
      return perTimeoutViaEffect(params)
    default:
      throw new Error(`mixed: unknown contender ${contender}`)
  }
}
