/**
 * Scenario 1 — Drain: `tasks` tasks already due, `sources` sources with
 * `concurrency` each, a no-op consumer. Every contender is loaded with the
 * same Task objects before the clock starts; the timed part is from "start
 * dispatching" to "the last task was consumed".
 *
 * Metrics: tasksPerSec, drainMs, peakRssMB (the process's maximum resident
 * set size), pendingRssMB (RSS after loading and a GC, everything pending),
 * and for Effect contenders peakFibers / fibersStarted (a Supervisor).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type { Task } from "../../src/scheduler/Task.js"
import { gc } from "../lib/clock.js"
import { makeNaive } from "../lib/naive.js"
import { PlainScheduler } from "../lib/plain.js"
import { profileStart, profileStop } from "../lib/profile.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import { buildRay, PeakFibers } from "../lib/ray.js"
import { makeTask, sourceNames } from "../lib/tasks.js"

const MB = 1024 * 1024

const peakRssMB = (): number => (process.resourceUsage().maxRSS * 1024) / MB

const pendingRssMB = (): number => {
  gc()
  return process.memoryUsage().rss / MB
}

const makeTasks = (n: number, sources: ReadonlyArray<string>): Array<Task> => {
  const due = Date.now() - 1000
  const tasks = new Array<Task>(n)
  for (let i = 0; i < n; i++) tasks[i] = makeTask(i, sources[i % sources.length]!, due)
  return tasks
}

const result = (
  n: number,
  drainMs: number,
  pendingRss: number,
  extra: Record<string, number> = {}
): SampleResult => ({
  metrics: {
    tasks: n,
    drainMs,
    tasksPerSec: (n / drainMs) * 1000,
    peakRssMB: peakRssMB(),
    pendingRssMB: pendingRss,
    ...extra
  }
})

/** `metrics`: the scheduler's `metrics` option (the `SchedulerMetrics` updated per task). */
const ray = (n: number, sources: ReadonlyArray<string>, concurrency: number, metrics = false): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const supervisor = new PeakFibers()
    const done = yield* Deferred.make<void>()
    let consumed = 0
    const consume = () =>
      Effect.suspend(() => ++consumed === n ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void)
    const scheduler = yield* buildRay(
      sources.map((name) => ({ name, concurrency, consume })),
      { autoStart: false, metrics },
      supervisor
    )
    let tasks: Array<Task> | undefined = makeTasks(n, sources)
    yield* scheduler.submitAll(tasks)
    tasks = undefined
    const pendingRss = pendingRssMB()
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    yield* scheduler.start
    yield* Deferred.await(done)
    const drainMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    const stats = yield* scheduler.stats
    if (stats.succeeded !== n) throw new Error(`ray: ${stats.succeeded} of ${n} tasks succeeded`)
    return result(n, drainMs, pendingRss, { peakFibers: supervisor.peak, fibersStarted: supervisor.started })
  })))

const naive = (n: number, sources: ReadonlyArray<string>, concurrency: number): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const supervisor = new PeakFibers()
    const done = yield* Deferred.make<void>()
    let consumed = 0
    const consume = () =>
      Effect.suspend(() => ++consumed === n ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void)
    const scheduler = yield* makeNaive(sources.map((name) => ({ name, concurrency, consume })))
    let tasks: Array<Task> | undefined = makeTasks(n, sources)
    yield* scheduler.submitAll(tasks)
    tasks = undefined
    const pendingRss = pendingRssMB()
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    yield* Effect.supervised(scheduler.start, supervisor)
    yield* Deferred.await(done)
    const drainMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    return result(n, drainMs, pendingRss, { peakFibers: supervisor.peak, fibersStarted: supervisor.started })
  })))

const plain = async (n: number, sources: ReadonlyArray<string>, concurrency: number): Promise<SampleResult> => {
  let consumed = 0
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))
  const consume = async (_task: Task): Promise<void> => {
    if (++consumed === n) finish()
  }
  const scheduler = new PlainScheduler<Task>(new Map(sources.map((name) => [name, { concurrency, consume }])))
  let tasks: Array<Task> | undefined = makeTasks(n, sources)
  for (const task of tasks) scheduler.submit(task.dueMillis, task)
  tasks = undefined
  const pendingRss = pendingRssMB()
  await profileStart()
  const t0 = performance.now()
  scheduler.start()
  await done
  const drainMs = performance.now() - t0
  await profileStop()
  scheduler.stop()
  return result(n, drainMs, pendingRss)
}

const pQueue = async (n: number, sources: ReadonlyArray<string>, concurrency: number): Promise<SampleResult> => {
  const { default: PQueue } = await import("p-queue")
  let consumed = 0
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))
  const consume = async (_task: Task): Promise<void> => {
    if (++consumed === n) finish()
  }
  const queues = new Map(sources.map((name) => [name, new PQueue({ concurrency, autoStart: false })]))
  let tasks: Array<Task> | undefined = makeTasks(n, sources)
  for (const task of tasks) void queues.get(task.source)!.add(() => consume(task))
  tasks = undefined
  const pendingRss = pendingRssMB()
  await profileStart()
  const t0 = performance.now()
  for (const queue of queues.values()) queue.start()
  await done
  const drainMs = performance.now() - t0
  await profileStop()
  return result(n, drainMs, pendingRss)
}

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  const n = num(params, "tasks")
  const sources = sourceNames(num(params, "sources"))
  const concurrency = num(params, "concurrency")
  switch (contender) {
    case "ray":
      return ray(n, sources, concurrency)
    case "rayMetrics":
      return ray(n, sources, concurrency, true)
    case "plain":
      return plain(n, sources, concurrency)
    case "naive":
      return naive(n, sources, concurrency)
    case "pqueue":
      return pQueue(n, sources, concurrency)
    default:
      throw new Error(`drain: unknown contender ${contender}`)
  }
}
