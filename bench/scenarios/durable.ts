/**
 * Scenarios 8–11 — the durable scheduler (issue 9): RayScheduler's SQL layer
 * (`Scheduler.makeSql` on a SQLite file, see `bench/lib/durable.ts`) against
 * BullMQ on the local Redis and graphile-worker on the local PostgreSQL.
 * One module, four modes (`params.mode`):
 *
 * - `submitAll`: `tasks` tasks due between `minDelayMs` and `horizonMs` from
 *   now (none becomes due), handed over in batches of `batch` (RayScheduler
 *   `submitAll`, BullMQ `addBulk`, graphile-worker `add_jobs`), one batch
 *   after the other. Metrics: tasksPerSec, submitMs, batch time p50 / max.
 * - `submit`: `tasks` single submissions one after the other (RayScheduler
 *   `submit`, which returns once the task is committed; BullMQ `add`;
 *   graphile-worker `addJob`). Metrics: latency p50 / p99 / p99.9 / max (ms);
 *   for RayScheduler also commitFloorP50, the p50 of a bare one-row commit on
 *   the same file system. Contender `rayNormal`: RayScheduler with the
 *   client's `PRAGMA synchronous = NORMAL`.
 * - `drain`: `tasks` tasks already due are stored first (not timed, in
 *   batches of `batch`); then dispatching starts and the clock runs until the
 *   last one was consumed (no-op consumers: `sources` × `concurrency` for
 *   RayScheduler, one worker with `bullmqConcurrency` for BullMQ,
 *   `graphileConcurrency` for graphile-worker). Metrics: tasksPerSec,
 *   drainMs, loadMs, peakRssMB; for RayScheduler storeEmptyMs (until the
 *   store holds no task: the last ends committed).
 * - `rss`: RayScheduler only: `tasks` tasks due over `horizonMs` submitted in
 *   batches of `batch` (each batch built just before it is submitted), then
 *   peak RSS (`maxRSS`) and RSS after a full GC, with everything pending.
 *
 * Every task has an id (a random-looking UUID, as `Task.create` makes) that
 * each contender keeps unique: the store's id check (id-hash index) for RayScheduler,
 * `jobId` for BullMQ, `job_key` for graphile-worker.
 */
import type { Queue } from "bullmq"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { Task } from "../../src/scheduler/Task.js"
import { gc, makeRandom, sleep } from "../lib/clock.js"
import type { Graphile, GraphileSpec } from "../lib/durable.js"
import {
  buildRaySql,
  openGraphile,
  peakRssMB,
  pgPersistence,
  pgProblem,
  type RaySql,
  redisPersistence
} from "../lib/durable.js"
import { profileStart, profileStop } from "../lib/profile.js"
import type { Params, SampleResult } from "../lib/protocol.js"
import { num } from "../lib/protocol.js"
import type { BenchConsumer } from "../lib/ray.js"
import { percentiles } from "../lib/stats.js"
import { sourceNames } from "../lib/tasks.js"
import { redisProblem } from "./lateness.js"

const MB = 1024 * 1024

type Mode = "submitAll" | "submit" | "drain" | "rss"

/** One planned task: its number (for the id), source and due instant. */
interface Plan {
  readonly n: number
  readonly sources: ReadonlyArray<string>
  readonly dues: Float64Array
}

/** Future due instants in [now + minDelayMs, now + horizonMs), or all due now (`due`). */
const plan = (params: Params, due?: number): Plan => {
  const n = num(params, "tasks")
  const sources = sourceNames(num(params, "sources"))
  const dues = new Float64Array(n)
  if (due !== undefined) {
    dues.fill(due)
  } else {
    const min = num(params, "minDelayMs")
    const span = num(params, "horizonMs") - min
    const random = makeRandom(num(params, "seed"))
    const now = Date.now()
    for (let i = 0; i < n; i++) dues[i] = now + min + Math.floor(random() * span)
  }
  return { n, sources, dues }
}

const sourceOf = (p: Plan, i: number): string => p.sources[i % p.sources.length]!

/** murmur3's 32-bit finalizer: a cheap, well-mixed hash of an integer. */
const mix32 = (x: number): number => {
  let h = x | 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const hex8 = (x: number): string => x.toString(16).padStart(8, "0")

/**
 * Task `i`'s id: a random-looking version-4 UUID, the same for every
 * contender and every run. Random, like `Task.create`'s default
 * (`crypto.randomUUID()`): ids in insertion order would make every store's
 * unique-id index an append, which real ids are not.
 */
const uuidOf = (i: number): string => {
  const a = hex8(mix32(i * 4 + 0x9e3779b9))
  const b = hex8(mix32(i * 4 + 1 + 0x9e3779b9))
  const c = hex8(mix32(i * 4 + 2 + 0x9e3779b9))
  const d = hex8(mix32(i * 4 + 3 + 0x9e3779b9))
  const variant = "89ab"[parseInt(c[0]!, 16) & 3]!
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`
}

/** RayScheduler's task number `i`, built without validation. */
const rayTask = (i: number, source: string, dueMillis: number): Task =>
  new Task({ id: uuidOf(i), source, args: {}, scheduleAt: DateTime.unsafeMake(dueMillis) }, true)

const rayTasks = (p: Plan, from: number, to: number): Array<Task> => {
  const out = new Array<Task>(to - from)
  for (let i = from; i < to; i++) out[i - from] = rayTask(i, sourceOf(p, i), p.dues[i]!)
  return out
}

const batches = (n: number, size: number): Array<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  for (let i = 0; i < n; i += size) out.push([i, Math.min(n, i + size)])
  return out
}

const pgUrl = (params: Params): string => String(params.pgUrl)
const redisOf = (params: Params) => ({ host: String(params.redisHost), port: num(params, "redisPort") })

const noteOf = (setting: string | undefined): Array<string> => (setting === undefined ? [] : [setting])

// ---- submitAll in batches ------------------------------------------------------

const submitAllMetrics = (n: number, batchMs: ReadonlyArray<number>, submitMs: number, extra = {}) => {
  const p = percentiles(batchMs)
  return {
    tasks: n,
    submitMs,
    tasksPerSec: (n / submitMs) * 1000,
    batchP50Ms: p.p50,
    batchMaxMs: p.max,
    peakRssMB: peakRssMB(),
    ...extra
  }
}

const noopConsumers = (p: Plan, concurrency: number, consume = () => Effect.void): Array<BenchConsumer> =>
  p.sources.map((name) => ({ name, concurrency, consume }))

const raySubmitAll = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const p = plan(params)
    const ray = yield* buildRaySql(noopConsumers(p, num(params, "concurrency")), {})
    const parts = batches(p.n, num(params, "batch")).map(([a, b]) => rayTasks(p, a, b))
    const batchMs: Array<number> = []
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    for (const part of parts) {
      const b0 = performance.now()
      yield* ray.scheduler.submitAll(part)
      batchMs.push(performance.now() - b0)
    }
    const submitMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    const pending = yield* ray.scheduler.pending
    if (pending !== p.n) throw new Error(`ray: ${pending} of ${p.n} tasks pending after submitAll`)
    return {
      metrics: submitAllMetrics(p.n, batchMs, submitMs, { fileMB: ray.fileMB() }),
      notes: [`SQLite ${ray.settings}`]
    }
  })))

interface BullQueue {
  readonly queue: Queue
  readonly name: string
  readonly connection: { host: string; port: number; maxRetriesPerRequest: null }
  readonly close: () => Promise<void>
}

const openBull = async (params: Params): Promise<BullQueue | string> => {
  const { host, port } = redisOf(params)
  const problem = await redisProblem(host, port)
  if (problem !== undefined) return problem
  const { Queue } = await import("bullmq")
  const connection = { host, port, maxRetriesPerRequest: null }
  const name = `ray-bench-durable-${process.pid}-${Date.now()}`
  const queue = new Queue(name, { connection })
  await queue.waitUntilReady()
  const close = async () => {
    await queue.obliterate({ force: true })
    await queue.close()
  }
  return { queue, name, connection, close }
}

type BullJob = {
  name: string
  data: Record<string, never>
  opts: { jobId: string; delay: number; timestamp: number; removeOnComplete: boolean; removeOnFail: boolean }
}

const bullJobs = (p: Plan, from: number, to: number, now: number): Array<BullJob> => {
  const out = new Array<BullJob>(to - from)
  for (let i = from; i < to; i++) {
    out[i - from] = {
      name: sourceOf(p, i),
      data: {},
      opts: {
        jobId: uuidOf(i),
        // delay is relative to the job's timestamp: pin both to the same instant
        timestamp: now,
        delay: Math.max(0, p.dues[i]! - now),
        removeOnComplete: true,
        removeOnFail: true
      }
    }
  }
  return out
}

const bullSubmitAll = async (params: Params): Promise<SampleResult> => {
  const bull = await openBull(params)
  if (typeof bull === "string") return { metrics: {}, skipped: bull }
  const p = plan(params)
  const now = Date.now()
  const parts = batches(p.n, num(params, "batch")).map(([a, b]) => bullJobs(p, a, b, now))
  const batchMs: Array<number> = []
  await profileStart()
  const t0 = performance.now()
  for (const part of parts) {
    const b0 = performance.now()
    await bull.queue.addBulk(part)
    batchMs.push(performance.now() - b0)
  }
  const submitMs = performance.now() - t0
  await profileStop()
  const delayed = await bull.queue.getDelayedCount()
  await bull.close()
  if (delayed !== p.n) throw new Error(`bullmq: ${delayed} of ${p.n} jobs delayed after addBulk`)
  const { host, port } = redisOf(params)
  return { metrics: submitAllMetrics(p.n, batchMs, submitMs), notes: noteOf(await redisPersistence(host, port)) }
}

const graphileSpecs = (p: Plan, from: number, to: number): Array<GraphileSpec> => {
  const out = new Array<GraphileSpec>(to - from)
  for (let i = from; i < to; i++) {
    out[i - from] = {
      identifier: sourceOf(p, i),
      payload: {},
      run_at: new Date(p.dues[i]!).toISOString(),
      job_key: uuidOf(i)
    }
  }
  return out
}

const withGraphile = async (
  params: Params,
  body: (g: Graphile) => Promise<SampleResult>
): Promise<SampleResult> => {
  const url = pgUrl(params)
  const problem = await pgProblem(url)
  if (problem !== undefined) return { metrics: {}, skipped: problem }
  const g = await openGraphile(url)
  try {
    const result = await body(g)
    return { ...result, notes: [...(result.notes ?? []), ...noteOf(await pgPersistence(url))] }
  } finally {
    await g.close()
  }
}

const graphileCount = async (g: Graphile): Promise<number> =>
  Number(
    (await g.utils.withPgClient((c) => c.query(`SELECT count(*) AS n FROM "${g.schema}"._private_jobs`))).rows[0].n
  )

const graphileSubmitAll = (params: Params): Promise<SampleResult> =>
  withGraphile(params, async (g) => {
    const p = plan(params)
    const parts = batches(p.n, num(params, "batch")).map(([a, b]) => graphileSpecs(p, a, b))
    const batchMs: Array<number> = []
    await profileStart()
    const t0 = performance.now()
    for (const part of parts) {
      const b0 = performance.now()
      await g.addJobs(part)
      batchMs.push(performance.now() - b0)
    }
    const submitMs = performance.now() - t0
    await profileStop()
    const stored = await graphileCount(g)
    if (stored !== p.n) throw new Error(`graphile-worker: ${stored} of ${p.n} jobs stored after add_jobs`)
    return { metrics: submitAllMetrics(p.n, batchMs, submitMs) }
  })

// ---- single submit latency -------------------------------------------------------

const latencyMetrics = (latency: Float64Array, totalMs: number) => {
  const p = percentiles(latency)
  return {
    tasks: latency.length,
    p50: p.p50,
    p99: p.p99,
    p999: p.p999,
    max: p.max,
    submitsPerSec: (latency.length / totalMs) * 1000
  }
}

/**
 * The commit floor of the same file system: one-row transactions on a bare
 * better-sqlite3 connection, WAL and `synchronous` as given, 1,000 in a row
 * after 2,000 not counted (p50 in ms). A submit commits once: it cannot be
 * faster than a commit of one small row.
 */
const commitFloor = (synchronous: string): number => {
  // the package has no type declarations here: what is used of it
  const Database = createRequire(import.meta.url)("better-sqlite3") as new(filename: string) => {
    pragma(sql: string): unknown
    exec(sql: string): void
    prepare(sql: string): { run(...params: ReadonlyArray<unknown>): unknown }
    close(): void
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "ray-bench-floor-"))
  try {
    const db = new Database(path.join(dir, "floor.db"))
    db.pragma("journal_mode = WAL")
    db.pragma(`synchronous = ${synchronous}`)
    db.exec("CREATE TABLE t (seq INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)")
    // first 2,000 commits not counted: while the WAL file grows, each commit also changes its size
    for (let i = 0; i < 2000; i++) insert.run(`warm-up ${i}`)
    const latency = new Float64Array(1000)
    for (let i = 0; i < latency.length; i++) {
      const s = performance.now()
      insert.run(`row ${i}`)
      latency[i] = performance.now() - s
    }
    db.close()
    return percentiles(latency).p50
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const raySubmitWith = (synchronous?: "NORMAL") => (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const p = plan(params)
    const ray = yield* buildRaySql(noopConsumers(p, num(params, "concurrency")), {}, synchronous)
    const tasks = rayTasks(p, 0, p.n)
    const latency = new Float64Array(p.n)
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    for (let i = 0; i < p.n; i++) {
      const s = performance.now()
      yield* ray.scheduler.submit(tasks[i]!)
      latency[i] = performance.now() - s
    }
    const totalMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    const pending = yield* ray.scheduler.pending
    if (pending !== p.n) throw new Error(`ray: ${pending} of ${p.n} tasks pending after submit`)
    const floor = commitFloor(synchronous ?? "FULL")
    return {
      metrics: { ...latencyMetrics(latency, totalMs), commitFloorP50: floor },
      notes: [`SQLite ${ray.settings}`]
    }
  })))

const bullSubmit = async (params: Params): Promise<SampleResult> => {
  const bull = await openBull(params)
  if (typeof bull === "string") return { metrics: {}, skipped: bull }
  const p = plan(params)
  const jobs = bullJobs(p, 0, p.n, Date.now())
  const latency = new Float64Array(p.n)
  await profileStart()
  const t0 = performance.now()
  for (let i = 0; i < p.n; i++) {
    const job = jobs[i]!
    const s = performance.now()
    await bull.queue.add(job.name, job.data, job.opts)
    latency[i] = performance.now() - s
  }
  const totalMs = performance.now() - t0
  await profileStop()
  const delayed = await bull.queue.getDelayedCount()
  await bull.close()
  if (delayed !== p.n) throw new Error(`bullmq: ${delayed} of ${p.n} jobs delayed after add`)
  const { host, port } = redisOf(params)
  return { metrics: latencyMetrics(latency, totalMs), notes: noteOf(await redisPersistence(host, port)) }
}

const graphileSubmit = (params: Params): Promise<SampleResult> =>
  withGraphile(params, async (g) => {
    const p = plan(params)
    const specs = graphileSpecs(p, 0, p.n)
    const latency = new Float64Array(p.n)
    await profileStart()
    const t0 = performance.now()
    for (let i = 0; i < p.n; i++) {
      const spec = specs[i]!
      const s = performance.now()
      await g.utils.addJob(spec.identifier, spec.payload, { runAt: new Date(spec.run_at), jobKey: spec.job_key })
      latency[i] = performance.now() - s
    }
    const totalMs = performance.now() - t0
    await profileStop()
    const stored = await graphileCount(g)
    if (stored !== p.n) throw new Error(`graphile-worker: ${stored} of ${p.n} jobs stored after addJob`)
    return { metrics: latencyMetrics(latency, totalMs) }
  })

// ---- drain of due tasks ------------------------------------------------------------

const drainMetrics = (n: number, drainMs: number, loadMs: number, extra = {}) => ({
  tasks: n,
  drainMs,
  tasksPerSec: (n / drainMs) * 1000,
  loadMs,
  peakRssMB: peakRssMB(),
  ...extra
})

/** Polls `count` until it is 0 (at most `limitMs`); the time it took from `t0`, or NaN. */
const untilEmpty = (count: Effect.Effect<number>, t0: number, limitMs: number): Effect.Effect<number> =>
  Effect.gen(function*() {
    const end = performance.now() + limitMs
    while (performance.now() < end) {
      if ((yield* count) === 0) return performance.now() - t0
      yield* Effect.sleep("1 millis")
    }
    return NaN
  })

const rayDrain = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const p = plan(params, Date.now() - 1000)
    const done = yield* Deferred.make<void>()
    let consumed = 0
    const consume = () =>
      Effect.suspend(() => ++consumed === p.n ? Effect.asVoid(Deferred.succeed(done, undefined)) : Effect.void)
    const ray: RaySql = yield* buildRaySql(noopConsumers(p, num(params, "concurrency"), consume), {
      autoStart: false
    })
    const l0 = performance.now()
    for (const [a, b] of batches(p.n, num(params, "batch"))) yield* ray.scheduler.submitAll(rayTasks(p, a, b))
    const loadMs = performance.now() - l0
    gc()
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    yield* ray.scheduler.start
    yield* Deferred.await(done)
    const drainMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    // unfinished rows: the rows of runs that succeeded are marked done when their ends commit (and deleted later, in batches)
    const count = Effect.orDie(
      Effect.map(
        ray.sql<{ n: number }>`SELECT COUNT(*) AS n FROM ray_scheduler_tasks WHERE done = 0`,
        (rows) => Number(rows[0]!.n)
      )
    )
    const storeEmptyMs = yield* untilEmpty(count, t0, 60_000)
    const stats = yield* ray.scheduler.stats
    if (stats.succeeded !== p.n) throw new Error(`ray: ${stats.succeeded} of ${p.n} tasks succeeded`)
    return {
      metrics: drainMetrics(p.n, drainMs, loadMs, { storeEmptyMs, fileMB: ray.fileMB() }),
      notes: [`SQLite ${ray.settings}`]
    }
  })))

const bullDrain = async (params: Params): Promise<SampleResult> => {
  const bull = await openBull(params)
  if (typeof bull === "string") return { metrics: {}, skipped: bull }
  const { Worker } = await import("bullmq")
  const p = plan(params, Date.now() - 1000)
  let consumed = 0
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))
  const worker = new Worker(bull.name, async () => {
    if (++consumed === p.n) finish()
  }, { connection: bull.connection, concurrency: num(params, "bullmqConcurrency"), autorun: false })
  await worker.waitUntilReady()
  const l0 = performance.now()
  for (const [a, b] of batches(p.n, num(params, "batch"))) await bull.queue.addBulk(bullJobs(p, a, b, Date.now()))
  const loadMs = performance.now() - l0
  gc()
  await profileStart()
  const t0 = performance.now()
  void worker.run()
  await done
  const drainMs = performance.now() - t0
  await profileStop()
  await worker.close()
  await bull.close()
  await sleep(10)
  const { host, port } = redisOf(params)
  return { metrics: drainMetrics(p.n, drainMs, loadMs), notes: noteOf(await redisPersistence(host, port)) }
}

const graphileDrain = (params: Params): Promise<SampleResult> =>
  withGraphile(params, async (g) => {
    const { run: runWorker } = await import("graphile-worker")
    const p = plan(params, Date.now() - 1000)
    const l0 = performance.now()
    for (const [a, b] of batches(p.n, num(params, "batch"))) await g.addJobs(graphileSpecs(p, a, b))
    const loadMs = performance.now() - l0
    let consumed = 0
    let finish: () => void = () => {}
    const done = new Promise<void>((resolve) => (finish = resolve))
    const handler = async () => {
      if (++consumed === p.n) finish()
    }
    const concurrency = num(params, "graphileConcurrency")
    gc()
    await profileStart()
    const t0 = performance.now()
    const runner = await runWorker({
      connectionString: pgUrl(params),
      schema: g.schema,
      concurrency,
      maxPoolSize: concurrency + 2,
      noHandleSignals: true,
      pollInterval: 1000,
      logger: g.logger,
      taskList: Object.fromEntries(p.sources.map((source) => [source, handler]))
    })
    await done
    const drainMs = performance.now() - t0
    await profileStop()
    await runner.stop()
    return { metrics: drainMetrics(p.n, drainMs, loadMs) }
  })

// ---- RSS with many pending tasks ------------------------------------------------------

const rayRss = (params: Params): Promise<SampleResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    // no plan of 10M due instants in memory: each batch's are drawn just before it is submitted
    const n = num(params, "tasks")
    const sources = sourceNames(num(params, "sources"))
    const min = num(params, "minDelayMs")
    const span = num(params, "horizonMs") - min
    const random = makeRandom(num(params, "seed"))
    const concurrency = num(params, "concurrency")
    const ray = yield* buildRaySql(sources.map((name) => ({ name, concurrency, consume: () => Effect.void })), {})
    gc()
    const baseRss = process.memoryUsage().rss / MB
    yield* Effect.promise(profileStart)
    const t0 = performance.now()
    const now = Date.now()
    for (const [a, b] of batches(n, num(params, "batch"))) {
      const tasks = new Array<Task>(b - a)
      for (let i = a; i < b; i++) {
        tasks[i - a] = rayTask(i, sources[i % sources.length]!, now + min + Math.floor(random() * span))
      }
      yield* ray.scheduler.submitAll(tasks)
    }
    const submitMs = performance.now() - t0
    yield* Effect.promise(profileStop)
    const pending = yield* ray.scheduler.pending
    if (pending !== n) {
      const stats = yield* ray.scheduler.stats
      throw new Error(`ray: ${pending} of ${n} tasks pending after submitting (${stats.succeeded} ran)`)
    }
    const peak = peakRssMB()
    gc()
    const memory = process.memoryUsage()
    return {
      metrics: {
        tasks: n,
        peakRssMB: peak,
        rssAfterGcMB: memory.rss / MB,
        heapUsedMB: memory.heapUsed / MB,
        heapTotalMB: memory.heapTotal / MB,
        externalMB: memory.external / MB,
        baseRssMB: baseRss,
        submitMs,
        tasksPerSec: (n / submitMs) * 1000,
        fileMB: ray.fileMB()
      },
      notes: [`SQLite ${ray.settings}`]
    }
  })))

// ---- dispatch ---------------------------------------------------------------------------

const contenders: Record<Mode, Record<string, (params: Params) => Promise<SampleResult>>> = {
  submitAll: { ray: raySubmitAll, bullmq: bullSubmitAll, graphile: graphileSubmitAll },
  submit: { ray: raySubmitWith(), rayNormal: raySubmitWith("NORMAL"), bullmq: bullSubmit, graphile: graphileSubmit },
  drain: { ray: rayDrain, bullmq: bullDrain, graphile: graphileDrain },
  rss: { ray: rayRss }
}

export const run = (contender: string, params: Params): Promise<SampleResult> => {
  const mode = String(params.mode) as Mode
  const f = contenders[mode]?.[contender]
  if (f === undefined) throw new Error(`durable: unknown mode ${mode} or contender ${contender}`)
  return f(params)
}
