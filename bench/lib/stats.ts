/**
 * Small statistics helpers: nearest-rank percentiles over sorted samples,
 * and median / min / max summaries over benchmark samples.
 */

/** Nearest-rank percentile of an ascending array (`q` in [0, 1]). */
export const percentileSorted = (sorted: ArrayLike<number>, q: number): number => {
  const n = sorted.length
  if (n === 0) return NaN
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)))
  return sorted[rank - 1]!
}

/** Lateness percentiles from raw samples (ms). Sorts a copy. */
export interface Percentiles {
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly min: number
  readonly mean: number
}

export const percentiles = (samples: ArrayLike<number>): Percentiles => {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!
  return {
    p50: percentileSorted(sorted, 0.5),
    p99: percentileSorted(sorted, 0.99),
    p999: percentileSorted(sorted, 0.999),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    min: sorted.length === 0 ? NaN : sorted[0]!,
    mean: sorted.length === 0 ? NaN : sum / sorted.length
  }
}

/** Median and range of a set of samples. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export const summarize = (values: ReadonlyArray<number>): Summary | undefined => {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  const n = finite.length
  if (n === 0) return undefined
  const median = n % 2 === 1 ? finite[(n - 1) >> 1]! : (finite[n / 2 - 1]! + finite[n / 2]!) / 2
  return { median, min: finite[0]!, max: finite[n - 1]!, n }
}
