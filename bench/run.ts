/**
 * The benchmark harness: runs every scenario's contenders, one fresh Node
 * process per sample, in rotated order, and writes the report.
 *
 *   npm run bench                         # full run → docs/benchmarks.md + docs/benchmarks/*.svg
 *   npm run bench:quick                   # tiny sizes → bench/results/quick/
 *   tsx bench/run.ts --out DIR [--quick] [--only drain,submit] [--samples N] [--warmup N] [--jobs N] [--loader tsx]
 *
 * Opt-in scenarios (`optIn` in bench/config.ts) run only when `--only` names them (and always with `--quick`).
 *
 *   tsx bench/run.ts --from docs/benchmarks/raw.json                    # re-render the report from raw samples
 *   tsx bench/run.ts --from docs/benchmarks/raw.json --merge OUT/benchmarks.json
 *       # a later `--only` run's scenarios replace the same ones in raw.json (marked in the report as
 *       # measured in another run, with its date and commit), then the report is re-rendered
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ScenarioDef } from "./config.js"
import { quickSamples, scenarios } from "./config.js"
import type { Job, Params, SampleResult } from "./lib/protocol.js"
import { RESULT_MARKER } from "./lib/protocol.js"
import { renderReport } from "./lib/report.js"
import type { Machine, RunData, SampleRecord, ScenarioRun } from "./lib/results.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(benchDir, "..")

// ---- options ----------------------------------------------------------------

interface Options {
  readonly quick: boolean
  readonly out: string
  readonly only: ReadonlyArray<string> | undefined
  readonly samples: number | undefined
  readonly warmup: number | undefined
  readonly jobs: number
  readonly loader: "bundle" | "tsx"
  readonly profile: string | undefined
  readonly profileAlloc: boolean
  /** Re-render the report from a raw JSON file instead of measuring. */
  readonly from: string | undefined
  /**
   * With `--from`: a second raw file whose scenarios replace the same ones
   * of the first (each marked in the report with its own run's date and
   * commit); the merged raw samples are written back to the first file.
   */
  readonly merge: string | undefined
}

const usage = "usage: tsx bench/run.ts [--quick] [--out DIR] [--only id,id] [--samples N] [--warmup N] " +
  "[--jobs N] [--loader bundle|tsx] [--profile DIR [--profile-alloc]] [--from RAW.json [--merge OTHER.json]]"

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  let quick = false
  let out: string | undefined
  let only: Array<string> | undefined
  let samples: number | undefined
  let warmup: number | undefined
  let jobs: number | undefined
  let loader: "bundle" | "tsx" = "bundle"
  let profile: string | undefined
  let from: string | undefined
  let merge: string | undefined
  let profileAlloc = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value\n${usage}`)
      return v
    }
    const count = (min: number): number => {
      const n = Number(value())
      if (!Number.isInteger(n) || n < min) throw new Error(`${arg} needs an integer >= ${min}\n${usage}`)
      return n
    }
    switch (arg) {
      case "--quick":
        quick = true
        break
      case "--out":
        out = value()
        break
      case "--only":
        only = value().split(",").map((s) => s.trim()).filter((s) => s.length > 0)
        break
      case "--samples":
        samples = count(1)
        break
      case "--warmup":
        warmup = count(0)
        break
      case "--jobs":
        jobs = count(1)
        break
      case "--loader": {
        const v = value()
        if (v !== "bundle" && v !== "tsx") throw new Error(`--loader is bundle or tsx\n${usage}`)
        loader = v
        break
      }
      case "--profile":
        profile = path.resolve(value())
        break
      case "--profile-alloc":
        profileAlloc = true
        break
      case "--from":
        from = path.resolve(value())
        break
      case "--merge":
        merge = path.resolve(value())
        break
      case "--help":
        console.log(usage)
        process.exit(0)
        break
      default:
        throw new Error(`unknown option ${arg}\n${usage}`)
    }
  }
  for (const id of only ?? []) {
    if (!scenarios.some((s) => s.id === id)) {
      throw new Error(`unknown scenario ${id}; known: ${scenarios.map((s) => s.id).join(", ")}`)
    }
  }
  return {
    quick,
    out: path.resolve(out ?? (quick ? path.join(benchDir, "results", "quick") : path.join(root, "docs"))),
    only,
    samples,
    warmup,
    jobs: jobs ?? (quick ? 2 : 1),
    loader,
    profile,
    profileAlloc,
    from,
    merge
  }
}

// ---- workers ----------------------------------------------------------------

interface WorkerCommand {
  readonly args: ReadonlyArray<string>
  readonly cleanup: () => void
}

/**
 * How to start a worker: an esbuild bundle of bench/worker.ts (library
 * source included, packages external) starts in a fraction of the time tsx
 * needs to resolve effect's modules; `--loader tsx` runs the TypeScript directly.
 */
const prepareWorker = async (loader: "bundle" | "tsx"): Promise<WorkerCommand> => {
  const source = path.join(benchDir, "worker.ts")
  if (loader === "tsx") return { args: ["--import", "tsx", source], cleanup: () => {} }
  // the bundle lives inside the repository so that its package imports resolve from node_modules
  const dir = path.join(benchDir, "results", `.build-${process.pid}`)
  const outfile = path.join(dir, "worker.mjs")
  try {
    const esbuild = await import("esbuild")
    await esbuild.build({
      entryPoints: [source],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      logLevel: "error"
    })
  } catch (error) {
    console.warn(`bench: bundling failed (${String(error)}); running workers under tsx`)
    return { args: ["--import", "tsx", source], cleanup: () => {} }
  }
  return { args: [outfile], cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

interface Outcome {
  readonly result?: SampleResult | undefined
  readonly error?: string | undefined
  readonly wallMs: number
  readonly otherCpuPercent?: number | undefined
}

/**
 * CPU time the whole machine has been busy (ms), from the first line of
 * /proc/stat (user + nice + system + irq + softirq + steal, in USER_HZ = 100
 * ticks); undefined where there is no /proc.
 */
const machineBusyMs = (): number | undefined => {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = fields
    const busy = [user, nice, system, irq, softirq, steal].reduce((a: number, b) => a + (b ?? 0), 0)
    return Number.isFinite(busy) ? busy * 10 : undefined
  } catch {
    return undefined
  }
}

const runWorker = (
  command: WorkerCommand,
  job: Job,
  timeoutMs: number,
  env: NodeJS.ProcessEnv
): Promise<Outcome> =>
  new Promise((resolve) => {
    const t0 = performance.now()
    const busy0 = machineBusyMs()
    const own0 = process.cpuUsage()
    const child = spawn(
      process.execPath,
      ["--expose-gc", "--max-old-space-size=8192", ...command.args, JSON.stringify(job)],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], env }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const wallMs = performance.now() - t0
      const busy1 = machineBusyMs()
      const own = process.cpuUsage(own0)
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_MARKER))
      if (line !== undefined) {
        try {
          const result = JSON.parse(line.slice(RESULT_MARKER.length)) as SampleResult
          // what the rest of the machine used meanwhile: busy time minus the worker's and the runner's own
          const other = busy0 === undefined || busy1 === undefined || result.cpuMs === undefined
            ? undefined
            : Math.max(0, busy1 - busy0 - result.cpuMs - (own.user + own.system) / 1000)
          return resolve({
            result,
            wallMs,
            otherCpuPercent: other === undefined ? undefined : (other / wallMs) * 100
          })
        } catch (error) {
          return resolve({ error: `unreadable result: ${String(error)}`, wallMs })
        }
      }
      const tail = stderr.trim().split("\n").slice(-6).join(" / ")
      const why = timedOut
        ? `timed out after ${(timeoutMs / 1000).toFixed(0)} s`
        : `exited with ${signal ?? code}${tail.length > 0 ? `: ${tail}` : ""}`
      resolve({ error: why, wallMs })
    })
  })

// ---- machine ----------------------------------------------------------------

/** The commit of the library source being measured (the workers' bundle is built from the tree as it is now). */
const librarySnapshot = (): string | undefined => {
  try {
    const git = (...args: Array<string>) =>
      execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
    const commit = git("log", "-1", "--format=%h (%cI)")
    const dirty = git("status", "--porcelain", "--", "src").length > 0
    return `${commit}${dirty ? " plus uncommitted changes in src/" : ""}`
  } catch {
    return undefined
  }
}

const machine = (library: string | undefined): Machine => {
  const cpus = os.cpus()
  let effect = "?"
  try {
    effect = (JSON.parse(readFileSync(path.join(root, "node_modules", "effect", "package.json"), "utf8")) as {
      version: string
    }).version
  } catch {
    // keep "?"
  }
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown CPU",
    cores: cpus.length,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    effect,
    library
  }
}

// ---- the run ----------------------------------------------------------------

const short = (result: SampleResult | undefined): string => {
  if (result === undefined) return ""
  if (result.skipped !== undefined) return `skipped: ${result.skipped}`
  const m = result.metrics
  const pick = ["tasksPerSec", "p99", "cpuPercent", "bytesPerTask", "peakRssMB", "peakFibers", "wallMs"]
  return pick.filter((k) => m[k] !== undefined).map((k) => `${k}=${Number(m[k]!.toPrecision(4))}`).join(" ")
}

/** Runs `tasks` with at most `jobs` at once, in order. */
const pool = async <A>(jobs: number, tasks: ReadonlyArray<() => Promise<A>>): Promise<Array<A>> => {
  const results = new Array<A>(tasks.length)
  let next = 0
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, lane))
  return results
}

const runScenario = async (
  def: ScenarioDef,
  options: Options,
  command: WorkerCommand,
  records: Array<SampleRecord>
): Promise<ScenarioRun> => {
  const base = options.quick ? quickSamples : def.samples
  const warmup = options.warmup ?? base.warmup
  const counted = options.samples ?? base.counted
  const params = def.params(options.quick)
  const contenderParams: Record<string, Params> = {}
  for (const c of def.contenders) contenderParams[c.id] = c.params?.(options.quick) ?? {}
  const k = def.contenders.length
  const tasks: Array<() => Promise<void>> = []
  for (let index = 0; index < warmup + counted; index++) {
    const order = [...def.contenders.slice(index % k), ...def.contenders.slice(0, index % k)]
    order.forEach((contender, position) => {
      tasks.push(async () => {
        const job: Job = {
          scenario: def.worker,
          contender: contender.id,
          params: { ...params, ...contenderParams[contender.id] }
        }
        const env = options.profile === undefined
          ? process.env
          : {
            ...process.env,
            BENCH_PROFILE: options.profile,
            BENCH_PROFILE_KIND: options.profileAlloc ? "alloc" : "cpu",
            BENCH_PROFILE_TAG: `${def.id}-${contender.id}-${index}`
          }
        const outcome = await runWorker(command, job, def.timeoutMs, env)
        const warm = index < warmup
        records.push({
          scenario: def.id,
          contender: contender.id,
          index,
          warmup: warm,
          order: position,
          wallMs: outcome.wallMs,
          otherCpuPercent: outcome.otherCpuPercent,
          result: outcome.result,
          error: outcome.error
        })
        const tag = `${def.id} ${warm ? "warm-up" : `sample ${index - warmup + 1}/${counted}`}`
        console.log(
          `[${tag}] ${contender.id.padEnd(12)} ${(outcome.wallMs / 1000).toFixed(1).padStart(6)} s  ${
            outcome.error !== undefined ? `ERROR ${outcome.error}` : short(outcome.result)
          }`
        )
      })
    })
  }
  await pool(options.jobs, tasks)
  return { id: def.id, params, contenderParams, warmup, counted }
}

/** Writes the report (and, unless it was read from there, the raw data). */
const write = (data: RunData, options: Options, writeRaw: boolean): void => {
  const chartDir = "benchmarks"
  const report = renderReport(data, scenarios, chartDir)
  mkdirSync(path.join(options.out, chartDir), { recursive: true })
  // bench/history.md (hand-written: what was profiled and changed, with
  // before/after numbers) is appended to the generated report.
  const historyFile = path.join(benchDir, "history.md")
  const history = existsSync(historyFile) ? "\n" + readFileSync(historyFile, "utf8") : ""
  writeFileSync(path.join(options.out, "benchmarks.md"), report.markdown + history)
  for (const [file, svg] of report.charts) writeFileSync(path.join(options.out, chartDir, file), svg)
  console.log(`bench: report ${path.join(options.out, "benchmarks.md")}`)
  if (!writeRaw) return
  const defaultDocs = options.out === path.join(root, "docs")
  const rawFile = defaultDocs
    ? path.join(options.out, chartDir, "raw.json")
    : path.join(options.out, "benchmarks.json")
  mkdirSync(path.dirname(rawFile), { recursive: true })
  writeFileSync(rawFile, JSON.stringify(data, null, 2) + "\n")
  console.log(`bench: raw samples ${rawFile}`)
}

const main = async (): Promise<void> => {
  const options = parseOptions(process.argv.slice(2))
  if (options.from !== undefined) {
    const base = JSON.parse(readFileSync(options.from, "utf8")) as RunData
    if (options.merge === undefined) {
      write(base, options, false)
      return
    }
    const other = JSON.parse(readFileSync(options.merge, "utf8")) as RunData
    const replaced = new Set(other.scenarios.map((s) => s.id))
    const from = { date: other.date, library: other.machine.library }
    const merged: RunData = {
      ...base,
      scenarios: base.scenarios.map((s) =>
        replaced.has(s.id) ? { ...other.scenarios.find((o) => o.id === s.id)!, from } : s
      ).concat(other.scenarios.filter((o) => !base.scenarios.some((s) => s.id === o.id)).map((o) => ({ ...o, from }))),
      samples: base.samples.filter((s) => !replaced.has(s.scenario)).concat(other.samples)
    }
    writeFileSync(options.from, JSON.stringify(merged, null, 2) + "\n")
    console.log(`bench: ${[...replaced].join(", ")} from ${options.merge} merged into ${options.from}`)
    write(merged, options, false)
    return
  }
  // opt-in scenarios run in a full run only when --only names them
  const selected = scenarios.filter((s) =>
    options.only === undefined ? options.quick || s.optIn === undefined : options.only.includes(s.id)
  )
  const t0 = performance.now()
  const date = new Date().toISOString()
  console.log(
    `bench: ${options.quick ? "quick" : "full"} run of ${selected.map((s) => s.id).join(", ")} → ${options.out}`
  )
  // taken when the workers' bundle is built: every sample runs this snapshot, even if src/ changes meanwhile
  const library = librarySnapshot()
  const command = await prepareWorker(options.loader)
  const records: Array<SampleRecord> = []
  const runs: Array<ScenarioRun> = []
  try {
    for (const def of selected) runs.push(await runScenario(def, options, command, records))
  } finally {
    command.cleanup()
  }
  const data: RunData = {
    date,
    quick: options.quick,
    argv: process.argv.slice(2),
    machine: machine(library),
    scenarios: runs,
    samples: records,
    totalMs: performance.now() - t0,
    partial: scenarios.some((s) => !selected.includes(s) && (s.optIn === undefined || options.quick)),
    jobs: options.jobs
  }
  write(data, options, true)
  const failed = records.filter((r) => r.error !== undefined).length
  console.log(
    `bench: done in ${((performance.now() - t0) / 1000).toFixed(1)} s${failed > 0 ? `; ${failed} samples FAILED` : ""}`
  )
  if (failed > 0) process.exitCode = 1
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(2)
})
