/**
 * `ConsumerRegistry` — the consumers the scheduler can run, by name.
 *
 * A service provided by a Layer (`ConsumerRegistry.layer`), not a process-wide
 * singleton: two runtimes (or two tests) each get their own registry.
 * Consumers are usually registered by their own layer
 * (`TaskConsumer.layer`), which registers on build and unregisters on
 * release.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { TaskConsumer } from "./TaskConsumer.js"

/**
 * Raised by `register` when a consumer with the same name is already
 * registered.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateConsumerError extends Data.TaggedError("DuplicateConsumerError")<{
  readonly name: string
}> {
  override get message(): string {
    return `A consumer named ${JSON.stringify(this.name)} is already registered`
  }
}

/**
 * The registry's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerRegistryService {
  /** Adds a consumer; fails with `DuplicateConsumerError` if its name is taken. */
  readonly register: (consumer: TaskConsumer) => Effect.Effect<void, DuplicateConsumerError>
  /** The consumer registered under `name`, if any. */
  readonly find: (name: string) => Effect.Effect<Option.Option<TaskConsumer>>
  /**
   * Removes the consumer registered under `name`; `true` if one was removed.
   * When `only` is given, removes it only if it is that very consumer (a
   * consumer layer uses this so it never removes a successor of the same name).
   */
  readonly unregister: (name: string, only?: TaskConsumer) => Effect.Effect<boolean>
  /** Every registered consumer, in registration order. */
  readonly list: Effect.Effect<ReadonlyArray<TaskConsumer>>
  /**
   * An immutable snapshot of the registry, name → consumer. O(1): the
   * scheduler reads it once per dispatch round.
   */
  readonly snapshot: Effect.Effect<ReadonlyMap<string, TaskConsumer>>
}

/**
 * Name → consumer registry service.
 *
 * @since 0.1.0
 * @category tags
 */
export class ConsumerRegistry extends Context.Tag("ray-scheduler/ConsumerRegistry")<
  ConsumerRegistry,
  ConsumerRegistryService
>() {
  /**
   * An empty in-memory registry.
   */
  static readonly layer: Layer.Layer<ConsumerRegistry> = Layer.effect(
    ConsumerRegistry,
    Effect.suspend(() => make)
  )
}

/**
 * Creates an empty registry. The map is copied on write (registration is
 * rare, dispatch reads are frequent), so `snapshot` is free.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ConsumerRegistryService> = Effect.map(
  Ref.make<ReadonlyMap<string, TaskConsumer>>(new Map()),
  (ref): ConsumerRegistryService => ({
    register: (consumer) =>
      Effect.flatten(
        Ref.modify(
          ref,
          (map): readonly [Effect.Effect<void, DuplicateConsumerError>, ReadonlyMap<string, TaskConsumer>] => {
            if (map.has(consumer.name)) {
              return [Effect.fail(new DuplicateConsumerError({ name: consumer.name })), map]
            }
            const next = new Map(map)
            next.set(consumer.name, consumer)
            return [Effect.void, next]
          }
        )
      ),
    find: (name) => Effect.map(Ref.get(ref), (map) => Option.fromNullable(map.get(name))),
    unregister: (name, only) =>
      Ref.modify(ref, (map) => {
        const current = map.get(name)
        if (current === undefined || (only !== undefined && current !== only)) return [false, map] as const
        const next = new Map(map)
        next.delete(name)
        return [true, next] as const
      }),
    list: Effect.map(Ref.get(ref), (map) => Array.from(map.values())),
    snapshot: Ref.get(ref)
  })
)
