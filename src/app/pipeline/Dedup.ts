/**
 * `Dedup` — a bounded-memory "recently seen" set of (source, key) pairs,
 * least recently used first out.
 *
 * It is a plain synchronous, mutable data structure (like a `Map`): call it
 * from inside `Effect.sync` or another effect. It is a cheap first filter
 * only; idempotent storage on (source, key) is what guarantees an item is
 * stored once.
 */

/** Default capacity of {@link make}: 10 000 pairs. */
export const defaultCapacity = 10_000

/** A recently-seen set of (source, key) pairs. */
export interface Dedup {
  /**
   * `true` if (source, key) is in the set (and marks it most recently
   * used); otherwise adds it — evicting the least recently used pair when
   * the set is full — and returns `false`. O(1).
   */
  readonly seen: (source: string, key: string) => boolean
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
 * (`seen` always returns `false`).
 *
 * Uses a `Map`'s insertion order as the recency order: a hit is deleted and
 * re-inserted, and the first key is the one to evict.
 */
export const make = (capacity: number = defaultCapacity): Dedup => {
  const max = normaliseCapacity(capacity)
  const entries = new Map<string, true>()
  const seen = (source: string, key: string): boolean => {
    const id = pairKey(source, key)
    if (entries.has(id)) {
      entries.delete(id)
      entries.set(id, true)
      return true
    }
    if (max < 1) return false
    entries.set(id, true)
    if (entries.size > max) {
      const oldest = entries.keys().next()
      if (oldest.done !== true) entries.delete(oldest.value)
    }
    return false
  }
  return { seen, size: () => entries.size, capacity: max }
}
