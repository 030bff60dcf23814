/**
 * Renders docs/benchmarks.md and its SVG charts from a run's data. Every
 * number and every "met / not met" in the report is computed here from the
 * measured samples.
 */
import type { MetricDef, ScenarioDef } from "../config.js"
import type { RunData } from "./results.js"
import { countedSamples, metricSummary, missingReason, pairedRatios, ranScenarios } from "./results.js"
import type { Summary } from "./stats.js"
import { barChart } from "./svg.js"

export interface Report {
  readonly markdown: string
  /** File name (relative to the charts directory) → SVG text. */
  readonly charts: ReadonlyMap<string, string>
}

const fmt = (value: number, digits: number): string => {
  if (!Number.isFinite(value)) return "–"
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

const fmtMetric = (s: Summary, m: MetricDef): string => {
  const k = m.scale ?? 1
  const median = fmt(s.median / k, m.digits)
  if (s.n === 1 || s.min === s.max) return median
  return `${median} (${fmt(s.min / k, m.digits)}–${fmt(s.max / k, m.digits)})`
}

const fmtRatio = (s: Summary): string => {
  const digits = s.median >= 100 ? 0 : s.median >= 10 ? 1 : s.median >= 1 ? 2 : 3
  const median = `${fmt(s.median, digits)}×`
  return s.n === 1 ? median : `${median} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}

const contenderLabel = (def: ScenarioDef, id: string): string => def.contenders.find((c) => c.id === id)?.label ?? id

// ---- targets ----------------------------------------------------------------

interface TargetRow {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

const ratioTarget = (
  data: RunData,
  target: string,
  scenario: string,
  metric: string,
  num: string,
  den: string,
  ok: (ratio: number) => boolean,
  describe: (s: Summary) => string
): TargetRow => {
  const { ratios, summary } = pairedRatios(data, scenario, metric, num, den)
  if (summary === undefined) {
    return {
      target,
      measured: missingReason(data, scenario, den) ?? missingReason(data, scenario, num) ?? "no data",
      met: undefined
    }
  }
  const passing = ratios.filter(ok).length
  return {
    target,
    measured: `${describe(summary)}; ${passing} of ${ratios.length} samples meet it`,
    met: ok(summary.median)
  }
}

const valueTarget = (
  data: RunData,
  target: string,
  scenario: string,
  contender: string,
  metric: string,
  ok: (value: number) => boolean,
  describe: (s: Summary) => string,
  useMax = false
): TargetRow => {
  const summary = metricSummary(data, scenario, contender, metric)
  if (summary === undefined) {
    return { target, measured: missingReason(data, scenario, contender) ?? "no data", met: undefined }
  }
  const values = countedSamples(data, scenario, contender).map((s) => s.result!.metrics[metric]!)
  const passing = values.filter(ok).length
  return {
    target,
    measured: `${describe(summary)}; ${passing} of ${values.length} samples meet it`,
    met: ok(useMax ? summary.max : summary.median)
  }
}

const range = (s: Summary, f: (v: number) => string): string =>
  s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`

const pct = (v: number): string => `${(v * 100).toFixed(1)} %`
const times = (v: number): string => `${v.toFixed(2)}×`

export const targets = (data: RunData, defs: ReadonlyArray<ScenarioDef>): Array<TargetRow> => {
  const has = (id: string) => data.scenarios.some((s) => s.id === id)
  const rows: Array<TargetRow> = []
  if (has("drain")) {
    const params = data.scenarios.find((s) => s.id === "drain")!.params
    const limit = Number(params.sources) * Number(params.concurrency) + 8
    rows.push(
      ratioTarget(
        data,
        "Drain throughput ≥ 70 % of the plain-JS limit",
        "drain",
        "tasksPerSec",
        "ray",
        "plain",
        (r) => r >= 0.7,
        (s) => `RayScheduler at ${range(s, pct)} of the plain-JS limit`
      ),
      ratioTarget(
        data,
        "Drain throughput ≥ 6× the naive Effect design",
        "drain",
        "tasksPerSec",
        "ray",
        "naive",
        (r) => r >= 6,
        (s) => `${range(s, times)} the naive design`
      ),
      ratioTarget(
        data,
        `Peak RSS with ${fmt(Number(params.tasks), 0)} pending ≤ the plain-JS limit's`,
        "drain",
        "peakRssMB",
        "ray",
        "plain",
        (r) => r <= 1,
        (s) => `${range(s, times)} the plain-JS limit's peak RSS`
      ),
      valueTarget(
        data,
        `Live task fibers ≤ Σ concurrency + 8 = ${limit}`,
        "drain",
        "ray",
        "peakFibers",
        (v) => v <= limit,
        (s) => `peak ${range(s, (v) => fmt(v, 0))} live fibers (worst sample counts)`,
        true
      )
    )
  }
  if (has("submit")) {
    rows.push(valueTarget(
      data,
      "Submit ≥ 1M tasks/s",
      "submit",
      "ray",
      "tasksPerSec",
      (v) => v >= 1e6,
      (s) => `${range(s, (v) => `${(v / 1e6).toFixed(2)}M`)} tasks/s`
    ))
  }
  if (has("lateness")) {
    const tasks = Number(data.scenarios.find((s) => s.id === "lateness")!.params.tasks)
    rows.push(valueTarget(
      data,
      `Lateness p99 ≤ 2 ms at ${fmt(tasks, 0)} pending`,
      "lateness",
      "ray",
      "p99",
      (v) => v <= 2,
      (s) => `p99 ${range(s, (v) => `${v.toFixed(2)} ms`)}`
    ))
    const run = data.scenarios.find((s) => s.id === "lateness")!
    for (const den of ["timeout", "nodeSchedule", "toad"]) {
      const def = defs.find((d) => d.id === "lateness")!
      const own = run.contenderParams[den]?.tasks
      const size = own === undefined || own === tasks
        ? ""
        : ` (${contenderLabel(def, den)} with ${fmt(Number(own), 0)} tasks)`
      rows.push(ratioTarget(
        data,
        `Lateness p99 ≤ 1/5 of ${contenderLabel(def, den)}'s${size}`,
        "lateness",
        "p99",
        "ray",
        den,
        (r) => r <= 0.2,
        (s) => `RayScheduler's p99 is ${range(s, times)} ${contenderLabel(def, den)}'s`
      ))
    }
    // issue 8: no worse than the simplest timers, and than the JS schedulers people use
    for (const den of ["timeout", "toad", "croner"]) {
      const def = defs.find((d) => d.id === "lateness")!
      rows.push(ratioTarget(
        data,
        `Lateness p99 ≤ ${contenderLabel(def, den)}'s`,
        "lateness",
        "p99",
        "ray",
        den,
        (r) => r <= 1,
        (s) => `RayScheduler's p99 is ${range(s, times)} ${contenderLabel(def, den)}'s`
      ))
    }
  }
  if (has("trickle")) {
    rows.push(
      valueTarget(
        data,
        "Trickle: fewer than 0.05 fibers started per task",
        "trickle",
        "ray",
        "fibersPerTask",
        (v) => v < 0.05,
        (s) => `${range(s, (v) => v.toFixed(3))} fibers per task`
      ),
      ratioTarget(
        data,
        "Trickle: CPU per task ≤ setTimeout per task's",
        "trickle",
        "cpuUsPerTask",
        "ray",
        "timeout",
        (r) => r <= 1,
        (s) => `${range(s, times)} setTimeout per task's CPU per task`
      )
    )
  }
  if (has("idle")) {
    const tasks = Number(data.scenarios.find((s) => s.id === "idle")!.params.tasks)
    rows.push(valueTarget(
      data,
      `Idle: < 1 % CPU with ${fmt(tasks, 0)} tasks pending an hour ahead`,
      "idle",
      "ray",
      "cpuPercent",
      (v) => v < 1,
      (s) => `${range(s, (v) => `${v.toFixed(3)} %`)} of a core`
    ))
  }
  // issue 9: the durable scheduler (SQL layer), against BullMQ on Redis
  const kRate = (s: Summary) => `${range(s, (v) => `${(v / 1e3).toFixed(1)}k`)} tasks/s`
  const vsBullmq = (what: string) => (s: Summary) => `${range(s, times)} BullMQ's ${what}`
  if (has("durableSubmitAll")) {
    const batch = Number(data.scenarios.find((s) => s.id === "durableSubmitAll")!.params.batch)
    rows.push(
      valueTarget(
        data,
        `Durable submitAll (batches of ${fmt(batch, 0)}) ≥ 200k tasks/s`,
        "durableSubmitAll",
        "ray",
        "tasksPerSec",
        (v) => v >= 200_000,
        kRate
      ),
      ratioTarget(
        data,
        "Durable submitAll rate ≥ 2× BullMQ's",
        "durableSubmitAll",
        "tasksPerSec",
        "ray",
        "bullmq",
        (r) => r >= 2,
        vsBullmq("rate")
      )
    )
  }
  if (has("durableSubmit")) {
    for (const metric of ["p50", "p99"]) {
      rows.push(ratioTarget(
        data,
        `Durable single submit latency ${metric} ≤ 1/2 of BullMQ's`,
        "durableSubmit",
        metric,
        "ray",
        "bullmq",
        (r) => r <= 0.5,
        (s) => `RayScheduler's ${metric} is ${range(s, times)} BullMQ's`
      ))
    }
  }
  if (has("durableDrain")) {
    const tasks = Number(data.scenarios.find((s) => s.id === "durableDrain")!.params.tasks)
    rows.push(
      valueTarget(
        data,
        `Durable drain of ${fmt(tasks, 0)} due tasks ≥ 100k tasks/s`,
        "durableDrain",
        "ray",
        "tasksPerSec",
        (v) => v >= 100_000,
        kRate
      ),
      ratioTarget(
        data,
        "Durable drain throughput ≥ 2× BullMQ's",
        "durableDrain",
        "tasksPerSec",
        "ray",
        "bullmq",
        (r) => r >= 2,
        vsBullmq("throughput")
      )
    )
  }
  if (has("durableRss")) {
    const tasks = Number(data.scenarios.find((s) => s.id === "durableRss")!.params.tasks)
    const mb = (s: Summary) => `${range(s, (v) => `${v.toFixed(0)} MB`)}`
    rows.push(
      valueTarget(
        data,
        `Peak RSS with ${fmt(tasks, 0)} durable tasks pending ≤ 300 MB`,
        "durableRss",
        "ray",
        "peakRssMB",
        (v) => v <= 300,
        (s) => `peak ${mb(s)} (worst sample counts)`,
        true
      ),
      valueTarget(
        data,
        `RSS after GC with ${fmt(tasks, 0)} durable tasks pending ≤ 300 MB`,
        "durableRss",
        "ray",
        "rssAfterGcMB",
        (v) => v <= 300,
        (s) => `${mb(s)} (worst sample counts)`,
        true
      )
    )
  }
  if (has("clusterRate")) {
    const rate = Number(data.scenarios.find((s) => s.id === "clusterRate")!.params.ratePerSec)
    rows.push(
      valueTarget(
        data,
        `Cluster (1 runner): lateness p99 ≤ 50 ms at ${fmt(rate, 0)} tasks/s`,
        "clusterRate",
        "ray1",
        "latenessP99",
        (v) => v <= 50,
        (s) => `p99 ${range(s, (v) => `${v.toFixed(0)} ms`)} (worst sample counts)`,
        true
      ),
      ratioTarget(
        data,
        "Cluster throughput rises from 1 to 2 runners",
        "clusterRate",
        "tasksPerSec",
        "ray2",
        "ray1",
        (r) => r > 1,
        (s) => `2 runners at ${range(s, times)} 1 runner's throughput`
      )
    )
  }
  return rows
}

// ---- sections ---------------------------------------------------------------

const paramsLine = (data: RunData, def: ScenarioDef): string => {
  const run = data.scenarios.find((s) => s.id === def.id)!
  const params = Object.entries(run.params).map(([k, v]) => `${k}=${String(v)}`).join(", ")
  const overrides = Object.entries(run.contenderParams)
    .filter(([, p]) => Object.keys(p).length > 0)
    .map(([id, p]) =>
      `${contenderLabel(def, id)}: ${Object.entries(p).map(([k, v]) => `${k}=${String(v)}`).join(", ")}`
    )
  return `Parameters: ${params}.${overrides.length > 0 ? ` Overrides: ${overrides.join("; ")}.` : ""} ` +
    `Samples: ${run.warmup} warm-up + ${run.counted} counted per contender, each in a fresh process.`
}

const section = (data: RunData, def: ScenarioDef, chartDir: string, charts: Map<string, string>): string => {
  const out: Array<string> = []
  out.push(`### ${def.title}`, "", def.description, "", paramsLine(data, def), "")
  const from = data.scenarios.find((s) => s.id === def.id)?.from
  if (from !== undefined) {
    out.push(
      `> **Another run:** this scenario's samples were measured on ${from.date} with library commit ` +
        `${from.library ?? "unknown"}, not in the run the header describes. Compare its contenders with each ` +
        "other, not with other scenarios' numbers.",
      ""
    )
  }
  // only the metrics some contender has
  const metrics = def.metrics.filter((m) =>
    def.contenders.some((c) => metricSummary(data, def.id, c.id, m.key) !== undefined)
  )
  out.push(
    `| contender | ${metrics.map((m) => `${m.label}${m.unit === "" ? "" : ` (${m.unit})`}`).join(" | ")} |`,
    `| --- | ${metrics.map(() => "---:").join(" | ")} |`
  )
  for (const c of def.contenders) {
    const missing = missingReason(data, def.id, c.id)
    if (missing !== undefined) {
      out.push(`| ${c.label} | ${missing.replace(/\|/g, "\\|")} |${" |".repeat(Math.max(0, metrics.length - 1))}`)
      continue
    }
    const cells = metrics.map((m) => {
      const s = metricSummary(data, def.id, c.id, m.key)
      return s === undefined ? "–" : fmtMetric(s, m)
    })
    out.push(`| ${c.label} | ${cells.join(" | ")} |`)
  }
  out.push("", "Cells: median (min–max) over the counted samples.", "")

  const ratioRows = def.ratios.flatMap((r) => {
    const { summary } = pairedRatios(data, def.id, r.metric, r.num, r.den)
    return summary === undefined ? [] : [`| ${r.label} | ${fmtRatio(summary)} | ${summary.n} |`]
  })
  if (ratioRows.length > 0) {
    out.push("| ratio (paired by sample) | median (min–max) | pairs |", "| --- | ---: | ---: |", ...ratioRows, "")
  }

  for (const chart of def.charts) {
    const metric = def.metrics.find((m) => m.key === chart.metric)!
    const bars = def.contenders.flatMap((c) => {
      const s = metricSummary(data, def.id, c.id, chart.metric)
      if (s === undefined) return []
      const k = metric.scale ?? 1
      return [{
        label: c.label,
        value: s.median,
        min: s.min,
        max: s.max,
        highlight: c.id === "ray",
        text: `${fmt(s.median / k, metric.digits)} ${metric.unit}`.trim()
      }]
    })
    if (bars.length === 0) continue
    charts.set(chart.file, barChart({ title: chart.title, bars, log: chart.log }))
    out.push(`![${chart.title}](${chartDir}/${chart.file})`, "")
  }

  const others = data.samples.flatMap((s) =>
    s.scenario === def.id && !s.warmup && s.otherCpuPercent !== undefined ? [s.otherCpuPercent] : []
  )
  if (others.length > 0) {
    const mean = others.reduce((a, b) => a + b, 0) / others.length
    const max = Math.max(...others)
    out.push(
      `Other processes on the machine used ${mean.toFixed(1)} % of a core on average during the counted ` +
        `samples (at most ${max.toFixed(1)} % in one sample)${
          data.jobs > 1
            ? ` — including the other worker processes (\`--jobs ${data.jobs}\`)`
            : max > 25
            ? " — a busy machine: treat these numbers with care"
            : ""
        }.`,
      ""
    )
  }

  const notes = new Set<string>()
  const run = data.scenarios.find((s) => s.id === def.id)!
  for (const c of def.contenders) {
    if (c.note !== undefined && data.scenarios.find((s) => s.id === def.id)!.contenderParams[c.id] !== undefined) {
      const overridden = Object.keys(data.scenarios.find((s) => s.id === def.id)!.contenderParams[c.id]!).length > 0
      if (overridden) notes.add(c.note)
    }
    const mine = data.samples.filter((s) => s.scenario === def.id && s.contender === c.id)
    // a note every sample of the contender made (e.g. a setting it read back) is listed once
    const measured = mine.filter((s) => s.result !== undefined)
    const everywhere = new Set(
      measured.length < 2
        ? []
        : (measured[0]!.result!.notes ?? []).filter((n) => measured.every((s) => s.result!.notes?.includes(n)))
    )
    for (const note of everywhere) notes.add(`${c.label}, every sample: ${note}`)
    for (const s of mine) {
      const which = s.warmup ? `warm-up ${s.index + 1}` : `sample ${s.index - run.warmup + 1}`
      for (const note of s.result?.notes ?? []) if (!everywhere.has(note)) notes.add(`${c.label}, ${which}: ${note}`)
      if (s.error !== undefined) notes.add(`${c.label}, ${which}: failed: ${s.error}`)
      if (!s.warmup && data.jobs === 1 && (s.otherCpuPercent ?? 0) > 25) {
        notes.add(`${c.label}, ${which}: other processes used ${s.otherCpuPercent!.toFixed(0)} % of a core meanwhile`)
      }
    }
  }
  if (notes.size > 0) out.push("Notes:", "", ...[...notes].map((n) => `- ${n}`), "")
  return out.join("\n")
}

const minutes = (ms: number): string => `${(ms / 60_000).toFixed(1)} min`

export const renderReport = (data: RunData, defs: ReadonlyArray<ScenarioDef>, chartDir: string): Report => {
  const charts = new Map<string, string>()
  const ran = ranScenarios(data, defs)
  const m = data.machine
  const out: Array<string> = []
  out.push(
    "# Benchmarks",
    "",
    "<!-- Generated by `npm run bench` (bench/run.ts). Do not edit by hand: re-run the harness. -->",
    "",
    `Run on ${data.date.slice(0, 10)} (${data.date}) — ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB RAM, ` +
      `Node ${m.node} on ${m.platform}, effect ${m.effect}. The whole run took ${minutes(data.totalMs)}.` +
      (m.library === undefined ? "" : ` Library source: commit ${m.library}.`),
    ""
  )
  // the scenarios merged from other runs, grouped by the run they come from
  const runs = new Map<string, Array<string>>()
  for (const s of data.scenarios) {
    if (s.from === undefined) continue
    const key = `measured on ${s.from.date} with library commit ${s.from.library ?? "unknown"}`
    runs.set(key, [...(runs.get(key) ?? []), s.id])
  }
  if (runs.size > 0) {
    const parts = [...runs].map(([run, ids]) => `${ids.join(", ")} ${ids.length === 1 ? "was" : "were"} ${run}`)
    out.push(
      `> **Merged from other runs:** ${parts.join("; ")} (and their rows in the targets); ` +
        "the machine's speed differs between runs, so compare each scenario's contenders with each other only.",
      ""
    )
  }
  if (data.quick) {
    out.push(
      "> **Quick mode** (`--quick`): tiny sizes and one counted sample, only to check that the harness works. " +
        "These numbers mean nothing.",
      ""
    )
  }
  if (data.partial) out.push(`> Partial run: only ${ran.map((d) => d.id).join(", ")}.`, "")
  const optedOut = defs.filter((d) => d.optIn !== undefined && !ran.includes(d))
  if (!data.partial && optedOut.length > 0) {
    out.push(
      `> Opt-in scenarios not run here: ${optedOut.map((d) => `${d.id} (${d.optIn})`).join(", ")}; run them with ` +
        `\`npx tsx bench/run.ts --only ${optedOut.map((d) => d.id).join(",")} --out DIR\`.`,
      ""
    )
  }

  const rows = targets(data, defs)
  if (rows.length > 0) {
    out.push(
      "## Targets",
      "",
      "Computed from the measurements below (medians over the counted samples; ratios paired by sample). The " +
        "harness reports the targets, it does not assert them.",
      "",
      "| target | measured | met? |",
      "| --- | --- | :---: |",
      ...rows.map((r) =>
        `| ${r.target} | ${r.measured.replace(/\|/g, "\\|")} | ${
          r.met === undefined ? "no data" : r.met ? "**met**" : "**not met**"
        } |`
      ),
      ""
    )
    const met = rows.filter((r) => r.met === true).length
    const missed = rows.filter((r) => r.met === false).map((r) => r.target)
    out.push(
      `${met} of ${rows.length} targets met.${missed.length > 0 ? ` Not met: ${missed.join("; ")}.` : ""}`,
      ""
    )
  }

  out.push("## Results", "")
  for (const def of ran) out.push(section(data, def, chartDir, charts))

  out.push(
    "## How to run",
    "",
    "```sh",
    "npm run bench                 # full run (its duration is at the top of this page); rewrites docs/benchmarks.md + docs/benchmarks/*.svg",
    "npm run bench:quick           # tiny sizes, seconds; writes into bench/results/quick/",
    "npx tsx bench/run.ts --out /tmp/bench --only drain,submit --samples 3",
    "npx tsx bench/run.ts --from docs/benchmarks/raw.json   # re-render this page from the raw samples of the run that made it",
    "npx tsx bench/run.ts --only drain --samples 1 --warmup 0 --profile bench/results/profiles   # + .cpuprofile per sample",
    "```",
    "",
    "Options: `--quick`; `--out DIR` (the report goes to `DIR/benchmarks.md`, charts to `DIR/benchmarks/`; " +
      "default `docs`, or `bench/results/quick` with `--quick`); `--only id,id` (scenarios: " +
      `${defs.map((d) => d.id).join(", ")}; the opt-in ones, ` +
      `${defs.filter((d) => d.optIn !== undefined).map((d) => d.id).join(", ") || "none"}, run in a full run only ` +
      `when named here, and always with \`--quick\`); \`--samples N\` and \`--warmup N\` (override the counts); ` +
      "`--jobs N` (run N worker processes at once: fine for `--quick`, bad for measurements); " +
      "`--loader tsx` (run workers with `node --import tsx` instead of an esbuild bundle); `--profile DIR` " +
      "(write a CPU profile of each sample's timed window; with `--profile-alloc`, a sampling allocation profile " +
      "instead); `--from RAW.json` (only re-render the report). The raw samples " +
      "are written as JSON to `docs/benchmarks/raw.json` (committed with the report: the entries of a later run of a few scenarios can replace theirs in it, and `--from` re-renders; `DIR/benchmarks.json` with `--out`). " +
      "BullMQ needs Redis on 127.0.0.1:6379, graphile-worker PostgreSQL on 127.0.0.1:5432 (database `test`); " +
      "without them, those contenders are reported as skipped. The full " +
      "run is not part of CI; `test/bench.smoke.test.ts` runs `--quick` so the harness keeps working.",
    "",
    "## Method",
    "",
    "- **Fresh process per sample.** `bench/run.ts` runs every sample of every contender in a new Node " +
      "process (`node --expose-gc bench/worker.ts`-equivalent: the harness bundles `bench/worker.ts` and the " +
      "library source with esbuild, packages external, so a worker starts in ~0.4 s instead of ~1 s under " +
      "`tsx`; `--loader tsx` uses `node --import tsx`). The worker prints its measurements as one JSON line. The " +
      "bundle is built once at the start, so every sample measures the same snapshot of the library source " +
      "(its commit is given at the top) even if `src/` changes during the run.",
    "- **Noise.** For every sample the harness also records how much CPU the rest of the machine used meanwhile " +
      "(`/proc/stat` busy time minus the worker's and the runner's own); each scenario says so, and samples " +
      "where other processes used more than 25 % of a core are listed.",
    "- **Rotation and warm-up.** Each scenario runs rounds; in round *i* the contenders run one after the " +
      "other, starting from contender *i* mod *k* (so none is always first). The first round(s) are warm-ups " +
      "and are not counted.",
    "- **Summaries.** Tables show the median and the min–max over the counted samples. Comparisons are " +
      "ratios computed pair by pair (same round) and then summarized, never ratios of medians.",
    "- **Nothing but the measured work is timed.** Tasks are built (and, for the drain, loaded) before the " +
      "clock starts. Drain: from start to the last consumption. Submit: the `submitAll` call.",
    "- **Lateness** is `performance.now()` at the handler's first line minus the due instant mapped onto the " +
      "`performance.now()` timeline (through an anchor taken at a `Date.now()` millisecond edge). Due instants " +
      "are integer epoch milliseconds, as every contender takes them. Percentiles are nearest-rank over the " +
      "sorted lateness of every task of the sample; p99.9 is `p999`. Negative values mean a handler ran " +
      "before `Date.now()` reached its instant (Node's timers are millisecond-granular).",
    "- **Memory.** Peak RSS is `process.resourceUsage().maxRSS`; bytes per pending task is the heap-used " +
      "delta after `global.gc()` over the number of tasks.",
    "- **Fibers.** A `Supervisor` (`Effect.supervised`) counts the fibers started by the scheduler and the " +
      "peak alive at once.",
    "- **The plain-JS limit** (`bench/lib/plain.ts`) is a binary heap + one `setTimeout` + per-source async " +
      "worker loops with the same per-source limits: the physical reference for \"how fast could this be\". " +
      "The naive Effect design (`bench/lib/naive.ts`) forks one fiber per task at its due time, each waiting " +
      "on its source's `Semaphore`.",
    ""
  )
  return { markdown: out.join("\n"), charts }
}
