/**
 * `Dedup` — a bounded-memory "recently seen" set of (source, key) pairs,
 * least recently used first out.
 *
 * It is a plain synchronous, mutable data structure (like a `Map`): call it
 * from inside `Effect.sync` or another effect. It is a cheap first filter
 * only; idempotent storage on (source, key) is what guarantees an item is
 * stored once. Checking ({@link Dedup.has}) and remembering
 * ({@link Dedup.add}) are separate steps so that a pair is remembered only
 * once it is safely stored: a pair whose write failed must not be skipped
 * as a "duplicate" by the next run.
 */

/** Default capacity of {@link make}: 10 000 pairs. */
export const defaultCapacity = 10_000

/** A recently-seen set of (source, key) pairs. */
export interface Dedup {
  /** Whether (source, key) is in the set; a hit marks it most recently used. O(1). */
  readonly has: (source: string, key: string) => boolean
  /**
   * Adds (source, key) as the most recently used pair, evicting the least
   * recently used one when the set is full. O(1).
   */
  readonly add: (source: string, key: string) => void
  /** How many pairs the set holds now (at most {@link Dedup.capacity}). */
  readonly size: () => number
  /** The maximum number of pairs held. */
  readonly capacity: number
}

/**
 * Normalises a capacity: non-integers are rounded down; `Infinity` means
 * unbounded; a capacity below 1 (or `NaN`) remembers nothing.
 */
const normaliseCapacity = (capacity: number): number =>
  capacity === Infinity ? Infinity : Number.isFinite(capacity) ? Math.max(0, Math.floor(capacity)) : 0

/**
 * Length-prefixing the source makes the pair encoding unambiguous
 * ("a:b" + "c" and "a" + "b:c" differ).
 */
const pairKey = (source: string, key: string): string => `${source.length}:${source}${key}`

/**
 * A new, empty set holding at most `capacity` pairs (default
 * {@link defaultCapacity}). Non-integer capacities are rounded down,
 * `Infinity` means unbounded, and a capacity below 1 remembers nothing
 * (`has` always returns `false`).
 *
 * Uses a `Map`'s insertion order as the recency order: a hit is deleted and
 * re-inserted, and the first key is the one to evict.
 */
export const make = (capacity: number = defaultCapacity): Dedup => {
  const max = normaliseCapacity(capacity)
  const entries = new Map<string, true>()
  const has = (source: string, key: string): boolean => {
    const id = pairKey(source, key)
    if (!entries.has(id)) return false
    entries.delete(id)
    entries.set(id, true)
    return true
  }
  const add = (source: string, key: string): void => {
    if (max < 1) return
    const id = pairKey(source, key)
    entries.delete(id)
    entries.set(id, true)
    if (entries.size > max) {
      const oldest = entries.keys().next()
      if (oldest.done !== true) entries.delete(oldest.value)
    }
  }
  return { has, add, size: () => entries.size, capacity: max }
}
