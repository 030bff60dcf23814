/**
 * What a harness run collects (also written as JSON next to the report's
 * raw data), and the aggregation the report is built from: medians and
 * ranges per contender and metric, and pairwise ratios per sample index.
 */
import type { ScenarioDef } from "../config.js"
import type { Params, SampleResult } from "./protocol.js"
import type { Summary } from "./stats.js"
import { summarize } from "./stats.js"

export interface SampleRecord {
  readonly scenario: string
  readonly contender: string
  /** 0-based; samples with index < warmup are warm-ups. */
  readonly index: number
  readonly warmup: boolean
  /** Position of this contender in the sample's (rotated) order. */
  readonly order: number
  readonly wallMs: number
  /**
   * CPU used by other processes on the machine while this sample ran, in % of one core (from
   * /proc/stat minus the worker's and the runner's own CPU time); a noise indicator.
   */
  readonly otherCpuPercent?: number | undefined
  readonly result?: SampleResult | undefined
  readonly error?: string | undefined
}

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGB: number
  readonly node: string
  readonly platform: string
  readonly effect: string
  /** The library source measured: git commit at the start of the run, and whether src/ had uncommitted changes. */
  readonly library?: string | undefined
}

export interface ScenarioRun {
  readonly id: string
  readonly params: Params
  readonly contenderParams: Readonly<Record<string, Params>>
  readonly warmup: number
  readonly counted: number
  /**
   * Set when the scenario's samples come from another run than the rest of
   * the report (`--merge`): that run's date and library commit.
   */
  readonly from?: { readonly date: string; readonly library: string | undefined } | undefined
}

export interface RunData {
  readonly date: string
  readonly quick: boolean
  readonly argv: ReadonlyArray<string>
  readonly machine: Machine
  readonly scenarios: ReadonlyArray<ScenarioRun>
  readonly samples: ReadonlyArray<SampleRecord>
  readonly totalMs: number
  /** Set when only some scenarios were run (`--only`). */
  readonly partial: boolean
  /** Worker processes run at once (`--jobs`); 1 for measurements. */
  readonly jobs: number
}

/** Counted, successful, not-skipped samples of one contender. */
export const countedSamples = (data: RunData, scenario: string, contender: string): Array<SampleRecord> =>
  data.samples.filter((s) =>
    s.scenario === scenario && s.contender === contender && !s.warmup && s.result !== undefined &&
    s.result.skipped === undefined
  )

export const metricSummary = (
  data: RunData,
  scenario: string,
  contender: string,
  metric: string
): Summary | undefined =>
  summarize(
    countedSamples(data, scenario, contender).flatMap((s) => {
      const v = s.result?.metrics[metric]
      return v === undefined ? [] : [v]
    })
  )

/** Ratios `num / den` of `metric`, paired by sample index (same round of the rotation). */
export const pairedRatios = (data: RunData, scenario: string, metric: string, num: string, den: string) => {
  const a = new Map(countedSamples(data, scenario, num).map((s) => [s.index, s.result?.metrics[metric]]))
  const ratios: Array<number> = []
  for (const s of countedSamples(data, scenario, den)) {
    const x = a.get(s.index)
    const y = s.result?.metrics[metric]
    if (x !== undefined && y !== undefined && y !== 0) ratios.push(x / y)
  }
  return { ratios, summary: summarize(ratios) }
}

/** Why a contender has no numbers, if it has none: skipped (with reason) or failed. */
export const missingReason = (data: RunData, scenario: string, contender: string): string | undefined => {
  if (countedSamples(data, scenario, contender).length > 0) return undefined
  const all = data.samples.filter((s) => s.scenario === scenario && s.contender === contender)
  const skipped = all.find((s) => s.result?.skipped !== undefined)
  if (skipped !== undefined) return `skipped: ${skipped.result!.skipped}`
  const failed = all.find((s) => s.error !== undefined)
  if (failed !== undefined) return `failed: ${failed.error}`
  return "not run"
}

/** The scenario definitions of the scenarios that were run, in order. */
export const ranScenarios = (data: RunData, defs: ReadonlyArray<ScenarioDef>): Array<ScenarioDef> =>
  defs.filter((d) => data.scenarios.some((s) => s.id === d.id))
