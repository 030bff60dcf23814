import { assert, describe, it } from "@effect/vitest"
import * as Dedup from "../../src/app/pipeline/Dedup.js"

describe("Dedup", () => {
  it("returns false the first time, true afterwards", () => {
    const dedup = Dedup.make()
    assert.strictEqual(dedup.capacity, Dedup.defaultCapacity)
    assert.isFalse(dedup.seen("feed", "a"))
    assert.isTrue(dedup.seen("feed", "a"))
    assert.isFalse(dedup.seen("other", "a"))
    assert.strictEqual(dedup.size(), 2)
  })

  it("keeps (source, key) pairs apart even when their concatenations match", () => {
    const dedup = Dedup.make(10)
    assert.isFalse(dedup.seen("a:b", "c"))
    assert.isFalse(dedup.seen("a", "b:c"))
    assert.isFalse(dedup.seen("a:bc", ""))
    assert.isFalse(dedup.seen("", "a:bc"))
  })

  it("holds at most `capacity` pairs, evicting the least recently used", () => {
    const dedup = Dedup.make(3)
    for (const key of ["a", "b", "c"]) assert.isFalse(dedup.seen("s", key))
    assert.isTrue(dedup.seen("s", "a")) // touch: order is now b, c, a
    assert.isFalse(dedup.seen("s", "d")) // evicts b
    assert.strictEqual(dedup.size(), 3)
    assert.isTrue(dedup.seen("s", "c"))
    assert.isTrue(dedup.seen("s", "a"))
    assert.isTrue(dedup.seen("s", "d"))
    assert.isFalse(dedup.seen("s", "b")) // was evicted; re-added, evicts c
    assert.isFalse(dedup.seen("s", "c"))
  })

  it("stays bounded over many distinct pairs", () => {
    const dedup = Dedup.make(1_000)
    for (let i = 0; i < 50_000; i++) dedup.seen("s", String(i))
    assert.strictEqual(dedup.size(), 1_000)
    assert.isTrue(dedup.seen("s", "49999"))
    assert.isFalse(dedup.seen("s", "48999"))
  })

  it("normalises the capacity", () => {
    assert.strictEqual(Dedup.make(2.9).capacity, 2)
    assert.strictEqual(Dedup.make(Infinity).capacity, Infinity)
    const none = Dedup.make(0)
    assert.isFalse(none.seen("s", "a"))
    assert.isFalse(none.seen("s", "a"))
    assert.strictEqual(none.size(), 0)
    assert.strictEqual(Dedup.make(Number.NaN).capacity, 0)
  })
})
