/**
 * Building RayScheduler the way an application does (a registry, consumers
 * registered in it, `Scheduler.make` in a scope), plus a fiber-counting
 * Supervisor for the "live fibers" measurement.
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Supervisor from "effect/Supervisor"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import type { Task } from "../../src/scheduler/Task.js"
import * as TaskConsumer from "../../src/scheduler/TaskConsumer.js"

/** Counts the fibers started under it and records the peak number alive at once. */
export class PeakFibers extends Supervisor.AbstractSupervisor<number> {
  live = 0
  peak = 0
  started = 0
  get value() {
    return Effect.sync(() => this.peak)
  }
  override onStart(): void {
    this.started++
    this.live++
    if (this.live > this.peak) this.peak = this.live
  }
  override onEnd<A, E>(_value: Exit.Exit<A, E>, _fiber: Fiber.RuntimeFiber<A, E>): void {
    this.live--
  }
}

/** A benchmark consumer. */
export interface BenchConsumer {
  readonly name: string
  readonly concurrency: number
  readonly consume: (task: Task) => Effect.Effect<void>
}

/** A registry with `consumers` and a scheduler on it, supervised by `supervisor` when given. */
export const buildRay = (
  consumers: ReadonlyArray<BenchConsumer>,
  options: Scheduler.SchedulerOptions,
  supervisor?: PeakFibers
): Effect.Effect<Scheduler.SchedulerService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* ConsumerRegistry.make
    for (const consumer of consumers) {
      yield* Effect.orDie(Effect.flatMap(TaskConsumer.make(consumer), registry.register))
    }
    const make = Scheduler.make(options).pipe(Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry))
    return yield* supervisor === undefined ? make : Effect.supervised(make, supervisor)
  })
