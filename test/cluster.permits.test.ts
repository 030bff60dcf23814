/**
 * The cluster source's permits (src/scheduler/internal/cluster/source.ts):
 * a FIFO of `limit` permits whose waiters are woken one at a time, and
 * that gives a permit back when its waiter is interrupted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, FiberId } from "effect"
import { Permits } from "../src/scheduler/internal/cluster/source.js"

describe("cluster Permits", () => {
  it.effect("at most `limit` holders; waiters in arrival order; an interrupted waiter leaves no permit behind", () =>
    Effect.gen(function*() {
      const permits = new Permits(2)
      const gates = Array.from({ length: 6 }, () => Deferred.unsafeMake<void>(FiberId.none))
      const order: Array<number> = []
      let holding = 0
      let most = 0
      const job = (i: number) =>
        permits.withPermit(Effect.gen(function*() {
          order.push(i)
          most = Math.max(most, ++holding)
          yield* Deferred.await(gates[i]!)
          holding--
        }))
      const fibers = yield* Effect.forEach([0, 1, 2, 3, 4, 5], (i) => Effect.fork(job(i)))
      yield* Effect.yieldNow()
      assert.deepStrictEqual(order, [0, 1], "two hold, four wait")
      yield* Fiber.interrupt(fibers[2]!) // a waiter gives up
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Fiber.join(fibers[0]!)
      yield* Effect.yieldNow()
      assert.deepStrictEqual(order, [0, 1, 3], "the next waiter, not the interrupted one")
      for (const i of [1, 3, 4, 5]) {
        yield* Deferred.succeed(gates[i]!, undefined)
        yield* Effect.yieldNow()
      }
      yield* Effect.forEach([1, 3, 4, 5], (i) => Fiber.join(fibers[i]!))
      assert.deepStrictEqual(order, [0, 1, 3, 4, 5])
      assert.strictEqual(most, 2)
      assert.strictEqual(permits.peak, 2)
      // every permit is back: two run at once again
      const again: Array<number> = []
      const hold = Deferred.unsafeMake<void>(FiberId.none)
      const two = yield* Effect.forEach(
        [0, 1],
        (i) => Effect.fork(permits.withPermit(Effect.zipRight(Effect.sync(() => again.push(i)), Deferred.await(hold))))
      )
      yield* Effect.yieldNow()
      assert.deepStrictEqual(again, [0, 1])
      yield* Deferred.succeed(hold, undefined)
      yield* Effect.forEach(two, Fiber.join)
    }))
})
