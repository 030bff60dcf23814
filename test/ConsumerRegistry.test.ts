import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Option, Scope } from "effect"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"

const noop = () => Effect.void

describe("ConsumerRegistry", () => {
  it.effect("registers, finds, lists and unregisters consumers", () =>
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry.make
      const a = yield* TaskConsumer.make({ name: "a", consume: noop })
      const b = yield* TaskConsumer.make({ name: "b", concurrency: 3, consume: noop })
      yield* registry.register(a)
      yield* registry.register(b)
      assert.deepStrictEqual(yield* registry.find("a"), Option.some(a))
      assert.deepStrictEqual(yield* registry.find("missing"), Option.none())
      assert.deepStrictEqual((yield* registry.list).map((c) => [c.name, c.concurrency]), [["a", 1], ["b", 3]])
      assert.isTrue(yield* registry.unregister("a"))
      assert.isFalse(yield* registry.unregister("a"))
      assert.deepStrictEqual(yield* registry.find("a"), Option.none())
      assert.deepStrictEqual((yield* registry.list).map((c) => c.name), ["b"])
    }))

  it.effect("a duplicate name is a DuplicateConsumerError", () =>
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry.make
      yield* registry.register(yield* TaskConsumer.make({ name: "dup", consume: noop }))
      const again = yield* TaskConsumer.make({ name: "dup", consume: noop })
      const result = yield* Effect.either(registry.register(again))
      assert.isTrue(Either.isLeft(result))
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      assert.strictEqual(error._tag, "DuplicateConsumerError")
      assert.strictEqual(error.name, "dup")
      assert.strictEqual(error.message, "A consumer named \"dup\" is already registered")
    }))

  it.effect("unregister with `only` leaves a successor of the same name alone", () =>
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry.make
      const first = yield* TaskConsumer.make({ name: "x", consume: noop })
      const second = yield* TaskConsumer.make({ name: "x", consume: noop })
      yield* registry.register(first)
      yield* registry.unregister("x")
      yield* registry.register(second)
      assert.isFalse(yield* registry.unregister("x", first))
      assert.deepStrictEqual(yield* registry.find("x"), Option.some(second))
    }))

  it.effect("each layer build is its own registry (no global singleton)", () =>
    Effect.gen(function*() {
      const one = yield* Effect.provide(ConsumerRegistry.ConsumerRegistry, ConsumerRegistry.ConsumerRegistry.layer)
      const two = yield* Effect.provide(ConsumerRegistry.ConsumerRegistry, ConsumerRegistry.ConsumerRegistry.layer)
      yield* one.register(yield* TaskConsumer.make({ name: "only-in-one", consume: noop }))
      assert.isTrue(Option.isNone(yield* two.find("only-in-one")))
    }))

  it.effect("a consumer layer registers on build and unregisters on release", () =>
    Effect.gen(function*() {
      const registry = yield* ConsumerRegistry.make
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(TaskConsumer.layer({ name: "scoped", concurrency: 2, consume: noop }), scope).pipe(
        Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry)
      )
      const found = yield* registry.find("scoped")
      assert.isTrue(Option.isSome(found))
      assert.strictEqual(Option.getOrThrow(found).concurrency, 2)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Option.isNone(yield* registry.find("scoped")))
    }))

  it.effect("a consumer layer with a taken name fails to build with DuplicateConsumerError", () =>
    Effect.gen(function*() {
      const layer = Layer.merge(
        TaskConsumer.layer({ name: "same", consume: noop }),
        TaskConsumer.layer({ name: "same", consume: noop })
      ).pipe(Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer))
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(layer)))
      assert.isTrue(Exit.isFailure(exit))
      assert.match(String(exit), /DuplicateConsumerError/)
    }))

  it.effect("invalid consumer options are an InvalidConsumerError with a clear message", () =>
    Effect.gen(function*() {
      for (
        const [options, pattern] of [
          [{ name: "c", concurrency: 0 }, /concurrency must be an integer >= 1, got 0/],
          [{ name: "c", concurrency: -2 }, /got -2/],
          [{ name: "c", concurrency: 1.5 }, /got 1.5/],
          [{ name: "c", concurrency: Number.NaN }, /got NaN/],
          [{ name: "", concurrency: 1 }, /name must be a non-empty string/]
        ] as const
      ) {
        const result = yield* Effect.either(TaskConsumer.make({ ...options, consume: noop }))
        const error = Either.getLeft(result).pipe(Option.getOrThrow)
        assert.strictEqual(error._tag, "InvalidConsumerError")
        assert.match(error.message, pattern)
      }
      const layerExit = yield* Effect.exit(
        Effect.scoped(Layer.build(TaskConsumer.layer({ name: "bad", concurrency: 0, consume: noop }))).pipe(
          Effect.provide(ConsumerRegistry.ConsumerRegistry.layer)
        )
      )
      assert.match(String(layerExit), /InvalidConsumerError/)
    }))
})

describe("TaskConsumer", () => {
  it.effect("produce builds a task for the consumer's own source", () =>
    Effect.gen(function*() {
      const consumer = yield* TaskConsumer.make({ name: "mailer", consume: noop })
      const task = yield* consumer.produce({ to: "a@b.c" })
      assert.strictEqual(task.source, "mailer")
      assert.deepStrictEqual(task.args, { to: "a@b.c" })
      const empty = yield* consumer.produce()
      assert.deepStrictEqual(empty.args, {})
    }))

  it.effect("captures the requirements of consume and produce from the layer's context", () =>
    Effect.gen(function*() {
      class Prefix extends Effect.Tag("test/Prefix")<Prefix, { readonly value: string }>() {}
      const seen: Array<string> = []
      const consumer = yield* TaskConsumer.make({
        name: "needs-prefix",
        consume: (task) => Effect.map(Prefix, (p) => void seen.push(`${p.value}:${task.source}`)),
        produce: (args) =>
          Effect.flatMap(Prefix, (p) => TaskConsumer.make({ name: p.value, consume: noop })).pipe(
            Effect.orDie,
            Effect.flatMap((c) => c.produce(args))
          )
      }).pipe(Effect.provideService(Prefix, { value: "ctx" }))
      // no Prefix here: it was captured
      const task = yield* consumer.produce({})
      yield* consumer.consume(task)
      assert.deepStrictEqual(seen, ["ctx:ctx"])
    }))
})
