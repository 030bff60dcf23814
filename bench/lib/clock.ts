/**
 * Wall-clock instants with sub-millisecond resolution, aligned with
 * `performance.now()`.
 *
 * Schedulers are given due instants as epoch milliseconds (integers, what
 * `Date.now()` and `DateTime` use). Lateness is measured with
 * `performance.now()`: the due instant is mapped into the `performance.now()`
 * timeline through an anchor taken at a `Date.now()` millisecond edge, so a
 * handler that starts exactly when `Date.now()` reaches the due instant has
 * lateness 0 (± a few microseconds).
 */

export interface EpochClock {
  /** `Date.now()`'s timeline at `performance.now()` resolution. */
  readonly now: () => number
  /** The `performance.now()` value of the epoch instant `epochMillis`. */
  readonly toPerf: (epochMillis: number) => number
}

export const makeEpochClock = (): EpochClock => {
  // Spin to the next Date.now() edge: there, epoch = the new integer value exactly.
  const start = Date.now()
  let edge = Date.now()
  while (edge === start) edge = Date.now()
  const offset = edge - performance.now()
  return {
    now: () => offset + performance.now(),
    toPerf: (epochMillis) => epochMillis - offset
  }
}

/** A small deterministic PRNG (mulberry32), so every contender gets the same workload. */
export const makeRandom = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Resolves after `ms` (a plain timer). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs a full garbage collection if the process was started with `--expose-gc`. */
export const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g !== undefined) {
    g()
    g()
  }
}
