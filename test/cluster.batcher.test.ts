/**
 * The cluster layer's group commit (src/scheduler/internal/cluster/batcher.ts):
 * the first request runs alone and at once; requests made while a wave runs
 * go together in the next wave; each caller gets its own item's result; a
 * failed wave fails each of its callers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { Batcher } from "../src/scheduler/internal/cluster/batcher.js"

describe("cluster Batcher", () => {
  it.effect("waves: the first alone, the ones that came meanwhile together; results per item", () =>
    Effect.gen(function*() {
      const waves: Array<ReadonlyArray<number>> = []
      const gate = yield* Deferred.make<void>()
      const batcher = new Batcher((items: ReadonlyArray<number>) =>
        Effect.gen(function*() {
          waves.push(items)
          if (waves.length === 1) yield* Deferred.await(gate) // the first wave holds until the others queued
          return items.map((n) => n * 10)
        })
      )
      const first = yield* Effect.fork(batcher.submit(1))
      yield* Effect.yieldNow()
      const rest = yield* Effect.fork(Effect.all([2, 3, 4].map(batcher.submit), { concurrency: "unbounded" }))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow() // the three have queued behind the first wave
      yield* Deferred.succeed(gate, void 0)
      assert.strictEqual(yield* Fiber.join(first), 10)
      assert.deepStrictEqual(yield* Fiber.join(rest), [20, 30, 40])
      assert.deepStrictEqual(waves, [[1], [2, 3, 4]])
      // idle again: the next request runs at once, alone
      assert.strictEqual(yield* batcher.submit(5), 50)
      assert.deepStrictEqual(waves.at(-1), [5])
    }))

  it.effect("a failed wave fails each of its callers; the next wave runs", () =>
    Effect.gen(function*() {
      let calls = 0
      const batcher = new Batcher((items: ReadonlyArray<string>) =>
        ++calls === 1 ? Effect.fail("down" as const) : Effect.succeed(items.map((s) => s.length))
      )
      const exit = yield* Effect.exit(batcher.submit("a"))
      assert.deepStrictEqual(exit, Exit.fail("down" as const))
      assert.strictEqual(yield* batcher.submit("abc"), 3)
    }))

  it.effect("at most maxBatch items a wave", () =>
    Effect.gen(function*() {
      const waves: Array<number> = []
      const batcher = new Batcher((items: ReadonlyArray<number>) =>
        Effect.sync(() => {
          waves.push(items.length)
          return items
        }), 2)
      const results = yield* Effect.all([1, 2, 3, 4, 5].map(batcher.submit), { concurrency: "unbounded" })
      assert.deepStrictEqual(results, [1, 2, 3, 4, 5])
      assert.isTrue(waves.every((n) => n <= 2))
      assert.strictEqual(waves.reduce((a, b) => a + b, 0), 5)
    }))
})
