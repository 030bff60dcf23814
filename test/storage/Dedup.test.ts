import { assert, describe, it } from "@effect/vitest"
import * as Dedup from "../../src/app/pipeline/Dedup.js"

/** The old "check and remember" step, for the LRU tests. */
const seen = (dedup: Dedup.Dedup, source: string, key: string): boolean => {
  if (dedup.has(source, key)) return true
  dedup.add(source, key)
  return false
}

describe("Dedup", () => {
  it("has nothing until added; checking does not add", () => {
    const dedup = Dedup.make()
    assert.strictEqual(dedup.capacity, Dedup.defaultCapacity)
    assert.isFalse(dedup.has("feed", "a"))
    assert.isFalse(dedup.has("feed", "a"), "has() alone remembers nothing")
    dedup.add("feed", "a")
    assert.isTrue(dedup.has("feed", "a"))
    assert.isFalse(dedup.has("other", "a"))
    dedup.add("feed", "a")
    assert.strictEqual(dedup.size(), 1)
  })

  it("keeps (source, key) pairs apart even when their concatenations match", () => {
    const dedup = Dedup.make(10)
    assert.isFalse(seen(dedup, "a:b", "c"))
    assert.isFalse(seen(dedup, "a", "b:c"))
    assert.isFalse(seen(dedup, "a:bc", ""))
    assert.isFalse(seen(dedup, "", "a:bc"))
  })

  it("holds at most `capacity` pairs, evicting the least recently used", () => {
    const dedup = Dedup.make(3)
    for (const key of ["a", "b", "c"]) assert.isFalse(seen(dedup, "s", key))
    assert.isTrue(seen(dedup, "s", "a")) // touch: order is now b, c, a
    assert.isFalse(seen(dedup, "s", "d")) // evicts b
    assert.strictEqual(dedup.size(), 3)
    assert.isTrue(seen(dedup, "s", "c"))
    assert.isTrue(seen(dedup, "s", "a"))
    assert.isTrue(seen(dedup, "s", "d"))
    assert.isFalse(seen(dedup, "s", "b")) // was evicted; re-added, evicts c
    assert.isFalse(seen(dedup, "s", "c"))
    dedup.add("s", "e") // adding touches too: evicts the least recent (a)
    assert.isFalse(dedup.has("s", "a"))
  })

  it("stays bounded over many distinct pairs", () => {
    const dedup = Dedup.make(1_000)
    for (let i = 0; i < 50_000; i++) dedup.add("s", String(i))
    assert.strictEqual(dedup.size(), 1_000)
    assert.isTrue(dedup.has("s", "49999"))
    assert.isFalse(dedup.has("s", "48999"))
  })

  it("normalises the capacity", () => {
    assert.strictEqual(Dedup.make(2.9).capacity, 2)
    assert.strictEqual(Dedup.make(Infinity).capacity, Infinity)
    const none = Dedup.make(0)
    none.add("s", "a")
    assert.isFalse(none.has("s", "a"))
    assert.strictEqual(none.size(), 0)
    assert.strictEqual(Dedup.make(Number.NaN).capacity, 0)
  })
})
