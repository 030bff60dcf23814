/**
 * Recording dispatch lateness: a handler calls `record(dueMillis)` first
 * thing; the lateness is `performance.now()` at that moment minus the
 * `performance.now()` value of the due instant (see `clock.ts`).
 */
import type { EpochClock } from "./clock.js"
import { percentiles } from "./stats.js"

export interface Recorder {
  /** Call first thing in the handler, with the task's due instant (epoch ms). */
  readonly record: (dueMillis: number) => void
  /** Resolves when `expected` handlers ran, or after `timeoutMs` (then `fired < expected`). */
  readonly done: (timeoutMs: number) => Promise<void>
  readonly fired: () => number
  /** p50 / p99 / p99.9 / max / min / mean (ms) of what was recorded. */
  readonly metrics: () => Record<string, number>
}

let sink = 0

/** The "light consume": a few dozen arithmetic steps (well under a microsecond). */
export const lightWork = (seed: number): void => {
  let h = seed | 0
  for (let i = 0; i < 32; i++) h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) + i
  sink ^= h
}

export const makeRecorder = (clock: EpochClock, expected: number): Recorder => {
  const lateness = new Float64Array(expected)
  let fired = 0
  let finish: () => void = () => {}
  const all = new Promise<void>((resolve) => (finish = resolve))
  return {
    record: (dueMillis) => {
      const now = performance.now()
      if (fired < expected) lateness[fired] = now - clock.toPerf(dueMillis)
      lightWork(dueMillis)
      if (++fired === expected) finish()
    },
    done: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs)
        void all.then(() => {
          clearTimeout(timer)
          resolve()
        })
      }),
    fired: () => fired,
    metrics: () => {
      const p = percentiles(lateness.subarray(0, Math.min(fired, expected)))
      return { p50: p.p50, p99: p.p99, p999: p.p999, max: p.max, min: p.min, mean: p.mean, fired, sink: sink & 1 }
    }
  }
}
