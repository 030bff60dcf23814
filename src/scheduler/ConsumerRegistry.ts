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
import type * as Scope from "effect/Scope"
import { type InvalidConsumerError, validate } from "./internal/consumer.js"
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
  /**
   * Adds a consumer; fails with `DuplicateConsumerError` if its name is
   * taken, and with `InvalidConsumerError` if it is not a valid consumer
   * (empty name, `concurrency` not an integer ≥ 1, `consume` not a
   * function). O(1).
   */
  readonly register: (consumer: TaskConsumer) => Effect.Effect<void, DuplicateConsumerError | InvalidConsumerError>
  /** The consumer registered under `name`, if any. */
  readonly find: (name: string) => Effect.Effect<Option.Option<TaskConsumer>>
  /**
   * Removes the consumer registered under `name`; `true` if one was removed.
   * When `only` is given, removes it only if it is that very consumer (a
   * consumer layer uses this so it never removes a successor of the same
   * name). Returns once every scheduler on this registry has stopped starting
   * the consumer's tasks and its running tasks have ended (see
   * {@link ConsumerRegistryService.onUnregister}).
   */
  readonly unregister: (name: string, only?: TaskConsumer) => Effect.Effect<boolean>
  /** Every registered consumer, in registration order. */
  readonly list: Effect.Effect<ReadonlyArray<TaskConsumer>>
  /** A copy of the registry, name → consumer. O(n). */
  readonly snapshot: Effect.Effect<ReadonlyMap<string, TaskConsumer>>
  /**
   * The consumer registered under `name`, synchronously. O(1). For hot
   * paths that already run in a synchronous section (the scheduler's).
   */
  readonly unsafeGet: (name: string) => TaskConsumer | undefined
  /**
   * Calls `onAdded` (synchronously, inside `register`) with each consumer
   * registered, for as long as the current scope is open. A scheduler uses
   * this to start the due tasks of a source that was waiting for a consumer.
   */
  readonly onRegister: (onAdded: (consumer: TaskConsumer) => void) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Calls `onRemoved` with each consumer `unregister` removes, for as long
   * as the current scope is open; `unregister` waits for it. A scheduler
   * uses this to stop starting the removed consumer's tasks and to wait for
   * the running ones.
   */
  readonly onUnregister: (
    onRemoved: (consumer: TaskConsumer) => Effect.Effect<void>
  ) => Effect.Effect<void, never, Scope.Scope>
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
 * Creates an empty registry: a `Map` changed in place (O(1) `register`,
 * `find` and `unregister`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ConsumerRegistryService> = Effect.sync((): ConsumerRegistryService => {
  const consumers = new Map<string, TaskConsumer>()
  const listeners = new Set<(consumer: TaskConsumer) => Effect.Effect<void>>()
  const added = new Set<(consumer: TaskConsumer) => void>()
  return {
    register: (consumer) =>
      Effect.suspend((): Effect.Effect<void, DuplicateConsumerError | InvalidConsumerError> => {
        const invalid = validate(
          consumer?.name,
          consumer?.concurrency,
          consumer?.consume,
          consumer?.timeout,
          consumer?.rateLimit,
          consumer?.retry
        )
        if (invalid !== undefined) return Effect.fail(invalid)
        if (consumers.has(consumer.name)) return Effect.fail(new DuplicateConsumerError({ name: consumer.name }))
        consumers.set(consumer.name, consumer)
        for (const listener of added) listener(consumer)
        return Effect.void
      }),
    find: (name) => Effect.sync(() => Option.fromNullable(consumers.get(name))),
    unregister: (name, only) =>
      Effect.suspend(() => {
        const current = consumers.get(name)
        if (current === undefined || (only !== undefined && current !== only)) return Effect.succeed(false)
        consumers.delete(name)
        return Effect.as(Effect.forEach([...listeners], (listener) => listener(current), { discard: true }), true)
      }),
    list: Effect.sync(() => Array.from(consumers.values())),
    snapshot: Effect.sync(() => new Map(consumers)),
    unsafeGet: (name) => consumers.get(name),
    onRegister: (onAdded) =>
      Effect.acquireRelease(
        Effect.sync(() => void added.add(onAdded)),
        () => Effect.sync(() => void added.delete(onAdded))
      ),
    onUnregister: (onRemoved) =>
      Effect.acquireRelease(
        Effect.sync(() => void listeners.add(onRemoved)),
        () => Effect.sync(() => void listeners.delete(onRemoved))
      )
  }
})
