/**
 * Scenario 3 — Lateness: `tasks` one-shot tasks due at integer epoch
 * milliseconds spread uniformly over `spreadMs`, starting `leadMs` after the
 * workload is built (so everything is scheduled — all `tasks` pending —
 * before the first one is due). Each handler records its lateness first
 * thing and does a little arithmetic (the "light consume").
 *
 * Contenders: RayScheduler; one `setTimeout` per task; node-schedule
 * (`scheduleJob(date)`); toad-scheduler (a `SimpleIntervalJob` per task,
 * stopped by its first run: it has no one-shot job); croner (`new Cron(date)`,
 * a one-shot date job); BullMQ delayed jobs on the local Redis
 * (fewer tasks: see the contender's parameters in bench/config.ts).
 *
 * Metrics: p50 / p99 / p999 / max / min / mean lateness (ms), setupMs (time
 * to schedule everything), fired.
 */
import * as Effect from "effect/Effect"
import type { Task } from "../../src/scheduler/Task.js"
import type { EpochClock } from "../lib/clock.js"
import { makeEpochClock, makeRandom, sleep } from "../lib/clock.js"
import type { Recorder } from "../lib/latency.js"
import { makeRecorder } from "../lib/latency.js"
import { profileStart, profileStop } from "../lib/profile.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import { buildRay, PeakFibers } from "../lib/ray.js"
import { makeTask, sourceNames } from "../lib/tasks.js"

interface Workload {
  readonly clock: EpochClock
  readonly base: number
  readonly dues: Float64Array
  readonly recorder: Recorder
  readonly timeoutMs: number
}

/** Due instants, built once the contender is ready (so `base` is `leadMs` ahead of the end of its setup). */
const makeWorkload = (params: Params, n: number): Workload => {
  const clock = makeEpochClock()
  const spread = num(params, "spreadMs")
  const base = Math.ceil(clock.now()) + num(params, "leadMs")
  const random = makeRandom(num(params, "seed"))
  const dues = new Float64Array(n)
  for (let i = 0; i < n; i++) dues[i] = base + Math.floor(random() * spread)
  return {
    clock,
    base,
    dues,
    recorder: makeRecorder(clock, n),
    timeoutMs: num(params, "leadMs") + spread + 60_000
  }
}

/** Waits for every handler and reports; notes when scheduling overran the lead time. */
const finish = async (w: Workload, setupMs: number, setupEnd: number, notes: Array<string> = []) => {
  if (setupEnd > w.base) {
    notes.push(`scheduling finished ${(setupEnd - w.base).toFixed(0)} ms after the first due instant`)
  }
  await profileStart()
  await w.recorder.done(w.timeoutMs)
  await profileStop()
  const metrics = w.recorder.metrics()
  if (metrics.fired! < w.dues.length) notes.push(`only ${metrics.fired} of ${w.dues.length} fired before the timeout`)
  return { metrics: { ...metrics, tasks: w.dues.length, setupMs }, notes }
}

const ray = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const n = num(params, "tasks")
    const sources = sourceNames(num(params, "sources"))
    let record: (due: number) => void = () => {}
    const consume = (task: Task) => Effect.sync(() => record(task.dueMillis))
    const supervisor = new PeakFibers()
    const scheduler = yield* buildRay(
      sources.map((name) => ({ name, concurrency: num(params, "concurrency"), consume })),
      {},
      supervisor
    )
    const w = makeWorkload(params, n)
    record = w.recorder.record
    const t0 = performance.now()
    const tasks = new Array<Task>(n)
    for (let i = 0; i < n; i++) tasks[i] = makeTask(i, sources[i % sources.length]!, w.dues[i]!)
    yield* scheduler.submitAll(tasks)
    const setupMs = performance.now() - t0
    const setupEnd = w.clock.now()
    const result = yield* Effect.promise(() => finish(w, setupMs, setupEnd))
    return {
      ...result,
      metrics: { ...result.metrics, fibersPerTask: supervisor.started / n, peakFibers: supervisor.peak }
    }
  })))

const perTimeout = async (params: Params): Promise<SampleResult> => {
  const w = makeWorkload(params, num(params, "tasks"))
  const { record } = w.recorder
  const t0 = performance.now()
  for (const due of w.dues) setTimeout(() => record(due), due - Date.now())
  return finish(w, performance.now() - t0, w.clock.now())
}

const nodeSchedule = async (params: Params): Promise<SampleResult> => {
  const { default: schedule } = await import("node-schedule")
  const w = makeWorkload(params, num(params, "tasks"))
  const { record } = w.recorder
  const t0 = performance.now()
  for (const due of w.dues) schedule.scheduleJob(new Date(due), () => record(due))
  const result = await finish(w, performance.now() - t0, w.clock.now())
  await schedule.gracefulShutdown()
  return result
}

const toad = async (params: Params): Promise<SampleResult> => {
  const { SimpleIntervalJob, Task: ToadTask, ToadScheduler } = await import("toad-scheduler")
  const scheduler = new ToadScheduler()
  const w = makeWorkload(params, num(params, "tasks"))
  const { record } = w.recorder
  const t0 = performance.now()
  for (const due of w.dues) {
    // toad-scheduler has interval jobs only: a one-shot is an interval job stopped by its first run
    const job: InstanceType<typeof SimpleIntervalJob> = new SimpleIntervalJob(
      { milliseconds: Math.max(1, due - Date.now()) },
      new ToadTask("task", () => {
        record(due)
        job.stop()
      })
    )
    scheduler.addSimpleIntervalJob(job)
  }
  const result = await finish(w, performance.now() - t0, w.clock.now())
  scheduler.stop()
  return result
}

const croner = async (params: Params): Promise<SampleResult> => {
  const { Cron } = await import("croner")
  const w = makeWorkload(params, num(params, "tasks"))
  const { record } = w.recorder
  const t0 = performance.now()
  for (const due of w.dues) new Cron(new Date(due), () => record(due))
  return finish(w, performance.now() - t0, w.clock.now())
}

/** Resolves to `undefined` when Redis answers PING, else to the reason. */
export const redisProblem = async (host: string, port: number): Promise<string | undefined> => {
  const { Redis } = await import("ioredis")
  const redis = new Redis({
    host,
    port,
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  })
  redis.on("error", () => {})
  try {
    await redis.connect()
    await redis.ping()
    return undefined
  } catch (error) {
    return `Redis not reachable at ${host}:${port} (${error instanceof Error ? error.message : String(error)})`
  } finally {
    redis.disconnect()
  }
}

const bullmq = async (params: Params): Promise<SampleResult> => {
  const host = String(params.redisHost ?? "127.0.0.1")
  const port = num(params, "redisPort")
  const problem = await redisProblem(host, port)
  if (problem !== undefined) return { metrics: {}, skipped: problem }
  const { Queue, Worker } = await import("bullmq")
  const connection = { host, port, maxRetriesPerRequest: null }
  const name = `ray-bench-${process.pid}-${Date.now()}`
  const queue = new Queue(name, { connection })
  let record: (due: number) => void = () => {}
  const worker = new Worker(name, async (job) => record(job.data.due as number), {
    connection,
    concurrency: num(params, "bullmqConcurrency"),
    autorun: false
  })
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()])
  const w = makeWorkload(params, num(params, "tasks"))
  record = w.recorder.record
  const t0 = performance.now()
  const chunk = 1000
  for (let i = 0; i < w.dues.length; i += chunk) {
    // delay is relative to the job's timestamp: pin both to the same instant
    const now = Date.now()
    await queue.addBulk(
      Array.from(w.dues.subarray(i, i + chunk), (due) => ({
        name: "task",
        data: { due },
        opts: { timestamp: now, delay: Math.max(0, due - now), removeOnComplete: true, removeOnFail: true }
      }))
    )
  }
  const setupMs = performance.now() - t0
  const setupEnd = w.clock.now()
  void worker.run()
  const result = await finish(w, setupMs, setupEnd)
  await worker.close()
  await queue.obliterate({ force: true })
  await queue.close()
  await sleep(10)
  return result
}

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  switch (contender) {
    case "ray":
      return ray(params)
    case "timeout":
      return perTimeout(params)
    case "nodeSchedule":
      return nodeSchedule(params)
    case "toad":
      return toad(params)
    case "croner":
      return croner(params)
    case "bullmq":
      return bullmq(params)
    default:
      throw new Error(`lateness: unknown contender ${contender}`)
  }
}
