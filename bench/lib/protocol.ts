/**
 * What the runner sends a worker process (one job: one scenario, one
 * contender, one sample) and what the worker prints back on stdout.
 */

/** Parameters of a scenario run; plain JSON. */
export type Params = Readonly<Record<string, number | string | boolean | ReadonlyArray<number>>>

/** One job for a fresh worker process. */
export interface Job {
  readonly scenario: string
  readonly contender: string
  readonly params: Params
}

/** What a worker measured in one sample. */
export interface SampleResult {
  /** Named measurements; units are given by the scenario's metric definitions. */
  readonly metrics: Readonly<Record<string, number>>
  /** Remarks to show in the report (e.g. "setup overran the lead time"). */
  readonly notes?: ReadonlyArray<string>
  /** Set when the contender could not run here (e.g. no Redis); the reason. */
  readonly skipped?: string
  /** CPU time (user + system) of the whole worker process, ms; filled in by the worker entry point. */
  readonly cpuMs?: number
}

/** Prefix of the one stdout line that carries the worker's JSON result. */
export const RESULT_MARKER = "@@BENCH_RESULT@@ "

/** Reads a numeric parameter (throws when missing: a harness bug). */
export const num = (params: Params, key: string): number => {
  const value = params[key]
  if (typeof value !== "number") throw new Error(`bench: parameter ${key} must be a number, got ${String(value)}`)
  return value
}
