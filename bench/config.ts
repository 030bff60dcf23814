/**
 * The benchmark scenarios: contenders, sizes (full and `--quick`), samples,
 * what the report shows, and the targets it checks.
 */
import type { Params } from "./lib/protocol.js"

export interface ContenderDef {
  readonly id: string
  readonly label: string
  /** Parameter overrides for this contender (e.g. a smaller size for a slow one). */
  readonly params?: (quick: boolean) => Params
  /** Shown under the scenario's table. */
  readonly note?: string
}

export interface MetricDef {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly digits: number
  /** Divide the raw value by this before showing it (e.g. 1e6 for "M tasks/s"). */
  readonly scale?: number
}

export interface RatioDef {
  readonly metric: string
  readonly num: string
  readonly den: string
  /** What the ratio means, e.g. "RayScheduler / plain-JS limit (throughput)". */
  readonly label: string
}

export interface ChartDef {
  readonly file: string
  readonly metric: string
  readonly title: string
  readonly log?: boolean
}

export interface ScenarioDef {
  /** Section id, unique. */
  readonly id: string
  /** Module in bench/scenarios/ that the worker runs. */
  readonly worker: string
  readonly title: string
  readonly description: string
  readonly contenders: ReadonlyArray<ContenderDef>
  readonly params: (quick: boolean) => Params
  readonly samples: { readonly warmup: number; readonly counted: number }
  readonly metrics: ReadonlyArray<MetricDef>
  readonly ratios: ReadonlyArray<RatioDef>
  readonly charts: ReadonlyArray<ChartDef>
  /** Per-sample time limit (ms) before the worker is killed. */
  readonly timeoutMs: number
  /**
   * Set for a scenario too long for every full run (why, e.g. "about 20 min"): a full run includes it
   * only when `--only` names it; `--quick` always runs it (tiny sizes).
   */
  readonly optIn?: string
}

/** Samples of a `--quick` run (tiny sizes; for the smoke test). */
export const quickSamples = { warmup: 1, counted: 1 } as const

const latencyMetrics: ReadonlyArray<MetricDef> = [
  { key: "p50", label: "p50", unit: "ms", digits: 2 },
  { key: "p99", label: "p99", unit: "ms", digits: 2 },
  { key: "p999", label: "p99.9", unit: "ms", digits: 2 },
  { key: "max", label: "max", unit: "ms", digits: 1 }
]

const RAY = "RayScheduler"
const PLAIN = "plain-JS limit"

// ---- the durable scheduler (issue 9) ---------------------------------------------

const RAY_SQL = "RayScheduler (SQL layer, SQLite file)"
const BULLMQ = "BullMQ (Redis)"
const GRAPHILE = "graphile-worker 0.16 (PostgreSQL)"

/** Parameters every durable scenario shares: sources, the services' addresses, the contenders' concurrency. */
const durableParams = {
  sources: 10,
  concurrency: 4,
  bullmqConcurrency: 40,
  graphileConcurrency: 40,
  redisHost: "127.0.0.1",
  redisPort: 6379,
  pgUrl: "postgresql://postgres@127.0.0.1:5432/test"
} as const

const durableContenders: ReadonlyArray<ContenderDef> = [
  { id: "ray", label: RAY_SQL },
  { id: "bullmq", label: BULLMQ },
  { id: "graphile", label: GRAPHILE }
]

const durableSetup = "RayScheduler: `Scheduler.makeSql()` (default options: memory window 100k) on " +
  "`SqliteClient.layer({ filename })` with the client's defaults, a fresh file in a temporary directory per " +
  "sample (its journal mode and `synchronous` setting are in the notes); 10 sources × concurrency 4. BullMQ: " +
  "one queue on the local Redis (127.0.0.1:6379), jobs removed on completion. graphile-worker: a fresh schema " +
  "per sample on the local PostgreSQL (database `test`), dropped afterwards. Every task has a UUID id that each " +
  "contender keeps unique (RayScheduler: the store's id check on its id-hash index; BullMQ `jobId`; graphile-worker `job_key`). The notes say " +
  "what \"committed\" means for each (SQLite journal mode and `synchronous`; Redis `appendonly`; PostgreSQL " +
  "`fsync` and `synchronous_commit`). A contender whose service is not running is reported as skipped."

function durableScenarios(): Array<ScenarioDef> {
  return [
    {
      id: "durableSubmitAll",
      worker: "durable",
      title: "8. Durable submitAll: 500k tasks in batches of 10k",
      description: "500k tasks due between 1 minute and 1 hour from now (none becomes due), handed over in " +
        "batches of 10k, one batch after the other: RayScheduler `submitAll` (returns once the batch is " +
        "committed), BullMQ `addBulk` (delayed jobs), graphile-worker's bulk `add_jobs` SQL function (0.16 has no " +
        "bulk `addJobs` in JavaScript). The tasks (or job descriptions) are built before the clock starts. " +
        durableSetup,
      contenders: [
        durableContenders[0]!,
        {
          ...durableContenders[1]!,
          params: (quick) => (quick ? {} : { tasks: 100_000 }),
          note: "BullMQ submits 100k tasks, not 500k: at about 13k jobs/s, 500k would take about 40 s a sample."
        },
        durableContenders[2]!
      ],
      params: (quick) => ({
        ...durableParams,
        mode: "submitAll",
        tasks: quick ? 2000 : 500_000,
        batch: quick ? 500 : 10_000,
        minDelayMs: 60_000,
        horizonMs: 3_600_000,
        seed: 8
      }),
      samples: { warmup: 1, counted: 5 },
      metrics: [
        { key: "tasksPerSec", label: "submit rate", unit: "k tasks/s", digits: 1, scale: 1e3 },
        { key: "submitMs", label: "total time", unit: "ms", digits: 0 },
        { key: "batchP50Ms", label: "batch p50", unit: "ms", digits: 1 },
        { key: "batchMaxMs", label: "batch max", unit: "ms", digits: 1 },
        { key: "peakRssMB", label: "peak RSS", unit: "MB", digits: 0 }
      ],
      ratios: [
        { metric: "tasksPerSec", num: "ray", den: "bullmq", label: `${RAY} / BullMQ (submit rate)` },
        { metric: "tasksPerSec", num: "ray", den: "graphile", label: `${RAY} / graphile-worker (submit rate)` }
      ],
      charts: [{
        file: "durable-submitall.svg",
        metric: "tasksPerSec",
        title: "Durable submitAll, batches of 10k (tasks/s, higher is better)"
      }],
      timeoutMs: 300_000
    },
    {
      id: "durableSubmit",
      worker: "durable",
      title: "9. Durable submit: latency of single submissions",
      description: "5,000 single tasks due between 1 minute and 1 hour from now, submitted one after the other " +
        "(each call awaited before the next): RayScheduler `submit` (returns once the task is committed), BullMQ " +
        "`Queue.add`, graphile-worker `addJob`. Latency: `performance.now()` around each call. Setup as in 8. " +
        "A submit commits once: RayScheduler's samples also measure a bare one-row commit on the same file system " +
        "(better-sqlite3, WAL, same `synchronous`), the floor no submit can go below on that machine.",
      contenders: [
        durableContenders[0]!,
        {
          id: "rayNormal",
          label: `${RAY_SQL}, synchronous=NORMAL`,
          note: "The same, with `PRAGMA synchronous = NORMAL` on the client: in WAL mode a commit survives the " +
            "process's crash (kill -9, what the crash test does) but not the machine's (power loss), and it does " +
            "not wait for an fsync — closer to what Redis without `appendonly` promises."
        },
        durableContenders[1]!,
        durableContenders[2]!
      ],
      params: (quick) => ({
        ...durableParams,
        mode: "submit",
        tasks: quick ? 50 : 5000,
        minDelayMs: 60_000,
        horizonMs: 3_600_000,
        seed: 9
      }),
      samples: { warmup: 1, counted: 5 },
      metrics: [
        ...latencyMetrics,
        { key: "submitsPerSec", label: "submits", unit: "per s", digits: 0 },
        { key: "commitFloorP50", label: "bare one-row commit p50", unit: "ms", digits: 3 }
      ],
      ratios: [
        { metric: "p50", num: "ray", den: "bullmq", label: `${RAY} / BullMQ (p50)` },
        { metric: "p99", num: "ray", den: "bullmq", label: `${RAY} / BullMQ (p99)` },
        { metric: "p50", num: "rayNormal", den: "bullmq", label: `${RAY}, synchronous=NORMAL / BullMQ (p50)` },
        { metric: "p99", num: "rayNormal", den: "bullmq", label: `${RAY}, synchronous=NORMAL / BullMQ (p99)` },
        { metric: "p50", num: "ray", den: "graphile", label: `${RAY} / graphile-worker (p50)` },
        { metric: "p99", num: "ray", den: "graphile", label: `${RAY} / graphile-worker (p99)` }
      ],
      charts: [{
        file: "durable-submit-p99.svg",
        metric: "p99",
        title: "Durable single submit: latency p99 (ms, log scale, lower is better)",
        log: true
      }],
      timeoutMs: 300_000
    },
    {
      id: "durableDrain",
      worker: "durable",
      title: "10. Durable drain: 1M tasks already due",
      description: "The tasks are stored first, all due (not timed; in batches of 10k); then dispatching starts " +
        "and the clock runs until the last one was consumed. The consumers do nothing but count. RayScheduler: " +
        "10 sources × concurrency 4, every run's start committed before the consumer runs and its end " +
        "committed in a later group (\"store empty\": until the store holds no task). BullMQ: one worker, " +
        "concurrency 40. graphile-worker: `run()` with concurrency 40 (its pool: 42 connections; 40 drained faster than 4 or 10 here). Setup as in 8.",
      contenders: [
        durableContenders[0]!,
        {
          ...durableContenders[1]!,
          params: (quick) => (quick ? {} : { tasks: 200_000 }),
          note: "BullMQ drains 200k tasks, not 1M: at about 10k jobs/s (and about 15k/s to load them), 1M would " +
            "take about 3 min a sample."
        },
        {
          ...durableContenders[2]!,
          params: (quick) => (quick ? {} : { tasks: 20_000 }),
          note: "graphile-worker drains 20k tasks, not 1M: at about 2k jobs/s, 1M would take about 8 min a sample."
        }
      ],
      params: (quick) => ({ ...durableParams, mode: "drain", tasks: quick ? 2000 : 1_000_000, batch: 10_000 }),
      samples: { warmup: 1, counted: 5 },
      metrics: [
        { key: "tasksPerSec", label: "throughput", unit: "k tasks/s", digits: 1, scale: 1e3 },
        { key: "tasks", label: "tasks", unit: "", digits: 0 },
        { key: "drainMs", label: "drain time", unit: "ms", digits: 0 },
        { key: "storeEmptyMs", label: "store empty", unit: "ms", digits: 0 },
        { key: "loadMs", label: "loading (not timed)", unit: "ms", digits: 0 },
        { key: "peakRssMB", label: "peak RSS", unit: "MB", digits: 0 }
      ],
      ratios: [
        { metric: "tasksPerSec", num: "ray", den: "bullmq", label: `${RAY} / BullMQ (throughput)` },
        { metric: "tasksPerSec", num: "ray", den: "graphile", label: `${RAY} / graphile-worker (throughput)` }
      ],
      charts: [{
        file: "durable-drain.svg",
        metric: "tasksPerSec",
        title: "Durable drain (tasks/s, higher is better)"
      }],
      timeoutMs: 900_000
    },
    {
      id: "durableRss",
      worker: "durable",
      title: "11. Durable memory: 10M tasks pending over a week",
      description: "10M tasks due between 1 hour and 7 days from now, submitted in batches of 10k (each batch " +
        "built just before its `submitAll`) to a SQLite file: the SQL layer keeps only a memory window of the " +
        "earliest (default 100k) and leaves the rest in the store. Peak RSS is `process.resourceUsage().maxRSS` " +
        "(the whole process, Node and effect included); \"RSS after GC\" is the RSS after a full GC with " +
        "everything submitted; \"base RSS\" the RSS after a GC before the first submission. Setup as in 8.",
      contenders: [{ id: "ray", label: RAY_SQL }],
      params: (quick) => ({
        ...durableParams,
        mode: "rss",
        tasks: quick ? 20_000 : 10_000_000,
        batch: quick ? 1000 : 10_000,
        // none becomes due while they are submitted (which takes minutes)
        minDelayMs: 3_600_000,
        horizonMs: 7 * 24 * 3_600_000,
        seed: 11
      }),
      // one sample: a sample stores 10M rows (a database file of several GB) and takes tens of minutes
      samples: { warmup: 0, counted: 1 },
      metrics: [
        { key: "peakRssMB", label: "peak RSS", unit: "MB", digits: 0 },
        { key: "rssAfterGcMB", label: "RSS after GC", unit: "MB", digits: 0 },
        { key: "heapUsedMB", label: "heap used after GC", unit: "MB", digits: 0 },
        { key: "heapTotalMB", label: "heap total after GC", unit: "MB", digits: 0 },
        { key: "externalMB", label: "external", unit: "MB", digits: 0 },
        { key: "baseRssMB", label: "base RSS", unit: "MB", digits: 0 },
        { key: "tasksPerSec", label: "submit rate", unit: "k tasks/s", digits: 1, scale: 1e3 },
        { key: "submitMs", label: "submitting", unit: "s", digits: 1, scale: 1000 },
        { key: "fileMB", label: "database file", unit: "MB", digits: 0 }
      ],
      ratios: [],
      charts: [],
      timeoutMs: 3_600_000,
      optIn: "10M tasks into SQLite: about 20 min a sample"
    }
  ]
}

// ---- several worker processes (issue 11) ---------------------------------------------

const clusterContenders: Array<ContenderDef> = [1, 2, 3].flatMap((k) => [
  { id: `ray${k}`, label: `RayScheduler ClusterScheduler, ${k} runner${k > 1 ? "s" : ""}` },
  { id: `bullmq${k}`, label: `BullMQ (Redis), ${k} worker process${k > 1 ? "es" : ""}` },
  { id: `graphile${k}`, label: `graphile-worker 0.16 (PostgreSQL), ${k} worker process${k > 1 ? "es" : ""}` }
])

function clusterScenarios(): Array<ScenarioDef> {
  return [{
    id: "clusterRate",
    worker: "cluster",
    title: "12. Several processes: 10,000 tasks due at 1,000 a second",
    description: "1, 2 or 3 worker processes (`bench/lib/clusterChild.ts`) run no-op tasks of 60 sources (source i: " +
      "at most 1 + i mod 4 at once across the processes) that fall due at a steady rate; every task is " +
      "submitted first, from the sample's process, 8 s after the workers are ready (not timed: the first is due once all are stored). Lateness " +
      "is start − due on the machine's clock, measured in the workers; throughput is tasks / time from the " +
      "first due instant until the last one ran (at most the rate). RayScheduler: `ClusterScheduler` runners " +
      "(socket transport, storage on the local PostgreSQL, the due timer; submitted with `submitAll` in " +
      "batches of 500 from a client-only instance). BullMQ: a queue per source with its global concurrency set " +
      "to the source's limit, a `Worker` per queue in each process (concurrency = the limit), delayed jobs " +
      "(`addBulk`). graphile-worker: `run()` with concurrency 10 in each process, jobs with `run_at` (its " +
      "default 2 s poll for future jobs; no per-source limits: graphile-worker queues run one job at a time).",
    contenders: clusterContenders,
    params: (quick) => ({
      tasks: quick ? 50 : 10_000,
      ratePerSec: quick ? 100 : 1000,
      // after the workers are ready: a runner takes its shards (and runners share them out) in its first seconds
      settleMs: quick ? 2000 : 8000,
      sources: 60,
      graphileConcurrency: 10,
      // the lead before the first task is due, per task submitted (RayScheduler; the others need 0.2 ms)
      raySubmitMsPerTask: 3,
      redisHost: "127.0.0.1",
      redisPort: 6379,
      pgUrl: "postgresql://postgres@127.0.0.1:5432/test"
    }),
    samples: { warmup: 0, counted: 2 },
    metrics: [
      { key: "tasksPerSec", label: "throughput", unit: "tasks/s", digits: 0 },
      { key: "latenessP50", label: "lateness p50", unit: "ms", digits: 0 },
      { key: "latenessP99", label: "lateness p99", unit: "ms", digits: 0 },
      { key: "latenessMax", label: "lateness max", unit: "ms", digits: 0 },
      { key: "submitMs", label: "submitting (not timed)", unit: "ms", digits: 0 },
      { key: "duplicates", label: "runs beyond one per task", unit: "", digits: 0 }
    ],
    ratios: [
      { metric: "tasksPerSec", num: "ray2", den: "ray1", label: "RayScheduler 2 runners / 1 runner (throughput)" },
      { metric: "tasksPerSec", num: "ray3", den: "ray1", label: "RayScheduler 3 runners / 1 runner (throughput)" },
      { metric: "tasksPerSec", num: "ray1", den: "bullmq1", label: "RayScheduler / BullMQ, 1 process (throughput)" },
      {
        metric: "tasksPerSec",
        num: "ray1",
        den: "graphile1",
        label: "RayScheduler / graphile-worker, 1 process (throughput)"
      }
    ],
    charts: [],
    timeoutMs: 600_000
  }]
}

export const scenarios: ReadonlyArray<ScenarioDef> = [
  {
    id: "drain",
    worker: "drain",
    title: "1. Drain: 1M tasks already due",
    description: "All tasks are due when dispatching starts; 10 sources × concurrency 4; the consumer does nothing " +
      "but count. Every contender is loaded with the same `Task` objects before the clock starts (loading is not " +
      "timed); the time is from \"start\" to the last task consumed. Peak RSS is the process's maximum resident " +
      "set size (`process.resourceUsage().maxRSS`, it includes the 1M `Task` objects every contender holds); " +
      "\"pending RSS\" is the RSS after loading and a full GC. Live fibers are counted by a `Supervisor` " +
      "(as in `test/Scheduler.storm.test.ts`): the peak number alive at once, and the number started.",
    contenders: [
      { id: "ray", label: RAY },
      { id: "rayMetrics", label: `${RAY} with metrics: true` },
      { id: "plain", label: PLAIN },
      { id: "naive", label: "naive Effect (fiber per task + Semaphore)" },
      { id: "pqueue", label: "p-queue per source" }
    ],
    params: (quick) => ({ tasks: quick ? 20_000 : 1_000_000, sources: 10, concurrency: 4 }),
    samples: { warmup: 1, counted: 5 },
    metrics: [
      { key: "tasksPerSec", label: "throughput", unit: "M tasks/s", digits: 3, scale: 1e6 },
      { key: "drainMs", label: "drain time", unit: "ms", digits: 0 },
      { key: "peakRssMB", label: "peak RSS", unit: "MB", digits: 0 },
      { key: "pendingRssMB", label: "pending RSS", unit: "MB", digits: 0 },
      { key: "peakFibers", label: "peak live fibers", unit: "", digits: 0 },
      { key: "fibersStarted", label: "fibers started", unit: "", digits: 0 }
    ],
    ratios: [
      { metric: "tasksPerSec", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (throughput)` },
      {
        metric: "tasksPerSec",
        num: "rayMetrics",
        den: "ray",
        label: `${RAY} with metrics / without (throughput: the cost of SchedulerMetrics)`
      },
      { metric: "tasksPerSec", num: "ray", den: "naive", label: `${RAY} / naive Effect (throughput)` },
      { metric: "tasksPerSec", num: "ray", den: "pqueue", label: `${RAY} / p-queue (throughput)` },
      { metric: "peakRssMB", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (peak RSS)` }
    ],
    charts: [
      { file: "drain-throughput.svg", metric: "tasksPerSec", title: "Drain throughput (tasks/s, higher is better)" },
      { file: "drain-rss.svg", metric: "peakRssMB", title: "Drain peak RSS (MB, lower is better)" }
    ],
    timeoutMs: 180_000
  },
  {
    id: "submit",
    worker: "submit",
    title: "2. Submit: 1M tasks into a running scheduler",
    description: "1M tasks with random due instants between 1 minute and 1 hour from now (none becomes due " +
      "during the measurement), handed over in one `submitAll` (the plain-JS limit: one heap push per task). " +
      "The tasks are built before the clock starts. Bytes per pending task: heap used after a full GC " +
      "(`--expose-gc`), after minus before the submission, over 1M — what the scheduler keeps per task on top " +
      "of the `Task` object itself.",
    contenders: [{ id: "ray", label: RAY }, { id: "plain", label: PLAIN }],
    params: (quick) => ({
      tasks: quick ? 20_000 : 1_000_000,
      sources: 10,
      minDelayMs: 60_000,
      horizonMs: 3_600_000,
      seed: 2
    }),
    samples: { warmup: 1, counted: 5 },
    metrics: [
      { key: "tasksPerSec", label: "submit rate", unit: "M tasks/s", digits: 2, scale: 1e6 },
      { key: "submitMs", label: "submitAll time", unit: "ms", digits: 0 },
      { key: "bytesPerTask", label: "heap per pending task", unit: "bytes", digits: 1 }
    ],
    ratios: [
      { metric: "tasksPerSec", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (submit rate)` },
      { metric: "bytesPerTask", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (bytes per pending task)` }
    ],
    charts: [{
      file: "submit-throughput.svg",
      metric: "tasksPerSec",
      title: "Submit rate (tasks/s, higher is better)"
    }],
    timeoutMs: 120_000
  },
  {
    id: "lateness",
    worker: "lateness",
    title: "3. Lateness: 100k one-shot tasks over 30 s",
    description: "Tasks due at integer epoch milliseconds spread uniformly over 30 s, everything scheduled before " +
      "the first one is due (so all are pending at the start). Each handler records " +
      "`performance.now()` − (due instant on the `performance.now()` timeline) first thing, then does a few " +
      "dozen arithmetic steps. RayScheduler: 10 sources × concurrency 4. toad-scheduler has no one-shot job: " +
      "each task is a `SimpleIntervalJob` stopped by its first run. croner: `new Cron(date)`, its one-shot form.",
    contenders: [
      { id: "ray", label: RAY },
      { id: "timeout", label: "setTimeout per task" },
      {
        id: "nodeSchedule",
        label: "node-schedule",
        params: (quick) => (quick ? {} : { tasks: 20_000, leadMs: 5000 }),
        note: "node-schedule runs 20k tasks, not 100k: it fires at most about one job per millisecond (each " +
          "invocation re-arms a single timer, at ≥ 1 ms), so 100k over 30 s (3.3k/s) falls behind by tens of " +
          "seconds, and scheduling is quadratic (sorted-array insert): 20k take about 3 s to schedule."
      },
      { id: "toad", label: "toad-scheduler" },
      {
        id: "croner",
        label: "croner",
        params: (quick) => (quick ? {} : { tasks: 10_000, leadMs: 4000 }),
        note: "croner runs 10k tasks, not 100k: every `Cron` holds its own parsed pattern with a " +
          "10,000-entry year array (about 81 KB per job), so 100k jobs need about 8 GB of heap."
      },
      {
        id: "bullmq",
        label: "BullMQ (Redis, delayed jobs)",
        params: (quick) => (quick ? {} : { tasks: 20_000, leadMs: 3000 }),
        note: "BullMQ runs 20k delayed jobs, not 100k (one worker, concurrency 40, jobs added with `addBulk` " +
          "in chunks of 1000): at 100k over 30 s its worker cannot keep up (3.3k jobs/s) and lateness grows " +
          "to seconds."
      }
    ],
    params: (quick) => ({
      tasks: quick ? 1000 : 100_000,
      spreadMs: quick ? 500 : 30_000,
      leadMs: quick ? 300 : 1500,
      sources: 10,
      concurrency: 4,
      seed: 3,
      bullmqConcurrency: 40,
      redisHost: "127.0.0.1",
      redisPort: 6379
    }),
    samples: { warmup: 1, counted: 5 },
    metrics: [
      { key: "tasks", label: "tasks", unit: "", digits: 0 },
      ...latencyMetrics,
      { key: "setupMs", label: "scheduling time", unit: "ms", digits: 0 },
      { key: "fibersPerTask", label: "fibers started per task", unit: "", digits: 2 }
    ],
    ratios: [
      { metric: "p99", num: "ray", den: "timeout", label: `${RAY} / setTimeout per task (p99)` },
      { metric: "p99", num: "ray", den: "nodeSchedule", label: `${RAY} / node-schedule (p99)` },
      { metric: "p99", num: "ray", den: "toad", label: `${RAY} / toad-scheduler (p99)` },
      { metric: "p99", num: "ray", den: "croner", label: `${RAY} / croner (p99)` },
      { metric: "p99", num: "ray", den: "bullmq", label: `${RAY} / BullMQ (p99)` },
      { metric: "p50", num: "ray", den: "timeout", label: `${RAY} / setTimeout per task (p50)` }
    ],
    charts: [{
      file: "lateness-p99.svg",
      metric: "p99",
      title: "Lateness p99 (ms, log scale, lower is better)",
      log: true
    }],
    timeoutMs: 240_000
  },
  {
    id: "mixed",
    worker: "mixed",
    title: "4. Mixed load: 10k pending + 5k submits/s for 20 s",
    description: "10k tasks scheduled up front (due over the next 4 s), then 5,000 single-task `submit` calls per " +
      "second for 20 s from a producer ticking every millisecond; each new task is due U(0, 4 s) after its " +
      "planned submission instant, so about 10k stay pending throughout, and 10 % are due at once — earlier " +
      "than the current head, the scheduler's wake-up (interrupt) path. The whole plan is built before the " +
      "clock starts and is identical for every contender. CPU % is process CPU time (`process.cpuUsage()`, " +
      "user + system) over the wall time from the first submission to the last handler, in % of one core; it " +
      "includes the producer's own work. RayScheduler: 10 sources × concurrency 4.",
    contenders: [
      { id: "ray", label: RAY },
      { id: "timeout", label: "setTimeout per task" },
      { id: "plain", label: PLAIN }
    ],
    params: (quick) => ({
      pending: quick ? 250 : 10_000,
      ratePerSec: quick ? 1000 : 5000,
      seconds: quick ? 0.5 : 20,
      maxDelayMs: quick ? 500 : 4000,
      immediateShare: 0.1,
      leadMs: quick ? 200 : 1000,
      sources: 10,
      concurrency: 4,
      seed: 4
    }),
    samples: { warmup: 1, counted: 5 },
    metrics: [
      ...latencyMetrics,
      { key: "cpuPercent", label: "CPU", unit: "% of a core", digits: 1 },
      { key: "cpuUsPerTask", label: "CPU per task", unit: "µs", digits: 1 },
      { key: "fibersPerTask", label: "fibers started per task", unit: "", digits: 2 },
      { key: "maxSubmitsPerTick", label: "worst producer tick", unit: "submits", digits: 0 }
    ],
    ratios: [
      { metric: "p99", num: "ray", den: "timeout", label: `${RAY} / setTimeout per task (p99)` },
      { metric: "cpuPercent", num: "ray", den: "timeout", label: `${RAY} / setTimeout per task (CPU)` },
      { metric: "p99", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (p99)` },
      { metric: "cpuPercent", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (CPU)` }
    ],
    charts: [
      {
        file: "mixed-p99.svg",
        metric: "p99",
        title: "Mixed load: lateness p99 (ms, log scale, lower is better)",
        log: true
      },
      { file: "mixed-cpu.svg", metric: "cpuPercent", title: "Mixed load: CPU (% of one core, lower is better)" }
    ],
    timeoutMs: 180_000
  },
  ...[1000, 10_000].map((size): ScenarioDef => {
    const label = size === 1000 ? "1k" : "10k"
    return {
      id: `virtual${label}`,
      worker: "virtual",
      title: `5${size === 1000 ? "a" : "b"}. Virtual time: ${label} tasks under TestClock`,
      description: `The property-test workload at ${label} tasks, under \`TestContext.TestContext\`: due instants on ` +
        "a 100 ms grid (about 3 tasks per step), 3 sources with concurrency 2, 3 and 4, consumers sleeping " +
        "0–500 ms (100 ms steps), then `TestClock.adjust` to a horizon after which every task has run. The " +
        "time is the wall time of the simulation (submission + advancing the clock): what a test suite pays.",
      contenders: size === 1000
        ? [{ id: "ray", label: RAY }, { id: "naive", label: "naive Effect (fiber per task + Semaphore)" }]
        : [{ id: "ray", label: RAY }],
      params: (quick) => ({
        tasks: quick ? (size === 1000 ? 30 : 60) : size,
        stepMs: 100,
        maxDurationSteps: 5,
        concurrencies: "2,3,4",
        tasksPerStep: 3,
        seed: 5
      }),
      samples: { warmup: 1, counted: 5 },
      metrics: [{ key: "wallMs", label: "wall time", unit: "s", digits: 2, scale: 1000 }],
      ratios: size === 1000
        ? [{ metric: "wallMs", num: "ray", den: "naive", label: `${RAY} / naive Effect (wall time)` }]
        : [],
      charts: [{
        file: `virtual-${label}.svg`,
        metric: "wallMs",
        title: `Virtual time, ${label} tasks (s, lower is better)`
      }],
      timeoutMs: 300_000
    }
  }),
  {
    id: "trickle",
    worker: "mixed",
    title: "6. Trickle: tasks arriving one by one, 1k/s for 20 s",
    description: "Nothing pending up front; a producer ticking every millisecond submits one task per tick " +
      "(1,000 per second for 20 s), each due the instant it is submitted — the load of a service whose work " +
      "arrives one item at a time. Every arrival wakes the dispatcher. Same measurements as the mixed load: " +
      "lateness, process CPU per task (it includes the producer's own work, the same for all contenders) and, " +
      "for RayScheduler, the fibers started per task. 10 sources × concurrency 4. RayScheduler's producer " +
      "enters the Effect runtime once per submission (`Runtime.runSync(scheduler.submit(task))` from the " +
      "producer's callback: a fiber per call); \"setTimeout per task via runSync\" pays that same entry " +
      "(`runSync(Effect.sync(() => setTimeout(...)))`) and nothing else, so the two separate the cost of " +
      "entering the runtime from the scheduler's own work.",
    contenders: [
      { id: "ray", label: RAY },
      { id: "timeout", label: "setTimeout per task" },
      { id: "timeoutEffect", label: "setTimeout per task via runSync" },
      { id: "plain", label: PLAIN }
    ],
    params: (quick) => ({
      pending: 0,
      ratePerSec: 1000,
      seconds: quick ? 0.5 : 20,
      maxDelayMs: 0,
      immediateShare: 1,
      leadMs: quick ? 200 : 1000,
      sources: 10,
      concurrency: 4,
      seed: 6
    }),
    samples: { warmup: 1, counted: 5 },
    metrics: [
      ...latencyMetrics,
      { key: "cpuUsPerTask", label: "CPU per task", unit: "µs", digits: 1 },
      { key: "cpuPercent", label: "CPU", unit: "% of a core", digits: 1 },
      { key: "fibersPerTask", label: "fibers started per task", unit: "", digits: 3 }
    ],
    ratios: [
      { metric: "cpuUsPerTask", num: "ray", den: "timeout", label: `${RAY} / setTimeout per task (CPU per task)` },
      {
        metric: "cpuUsPerTask",
        num: "ray",
        den: "timeoutEffect",
        label: `${RAY} / setTimeout per task via runSync (CPU per task)`
      },
      { metric: "cpuUsPerTask", num: "ray", den: "plain", label: `${RAY} / ${PLAIN} (CPU per task)` },
      { metric: "p99", num: "ray", den: "timeout", label: `${RAY} / setTimeout per task (p99)` }
    ],
    charts: [{
      file: "trickle-cpu.svg",
      metric: "cpuUsPerTask",
      title: "Trickle: CPU per task (µs, lower is better)"
    }],
    timeoutMs: 120_000
  },
  {
    id: "idle",
    worker: "idle",
    title: "7. Idle: 100k tasks pending one hour ahead",
    description: "100k tasks due one hour ahead (spread over one second), then the process waits 10 s while " +
      "nothing is due. CPU % is process CPU time over those 10 s in % of one core, measured after a 2 s " +
      "settling pause and a full GC (the submission's own garbage is not counted). RayScheduler's dispatcher " +
      "sleeps until the head is due or `maxSleep` (1 minute) passes; \"fibers started\" counts its fibers " +
      "started in the window.",
    contenders: [
      { id: "ray", label: RAY },
      { id: "timeout", label: "setTimeout per task" },
      { id: "plain", label: PLAIN }
    ],
    params: (quick) => ({
      tasks: quick ? 1000 : 100_000,
      aheadMs: 3_600_000,
      settleMs: quick ? 100 : 2000,
      seconds: quick ? 0.5 : 10,
      sources: 10
    }),
    samples: { warmup: 1, counted: 5 },
    metrics: [
      { key: "cpuPercent", label: "CPU while waiting", unit: "% of a core", digits: 3 },
      { key: "fibersStarted", label: "fibers started while waiting", unit: "", digits: 0 }
    ],
    ratios: [],
    charts: [],
    timeoutMs: 120_000
  },
  ...durableScenarios(),
  ...clusterScenarios()
]
