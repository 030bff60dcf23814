/**
 * The naive Effect design the library is compared against: one dispatcher
 * fiber sleeps until the earliest pending task is due, then forks one fiber
 * per due task; each task fiber waits on its source's Effect `Semaphore`
 * (`concurrency` permits) and runs the consumer. Due tasks beyond the
 * permits wait as parked fibers, not as data.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Task } from "../../src/scheduler/Task.js"
import { PlainHeap } from "./plain.js"
import type { BenchConsumer } from "./ray.js"

export interface NaiveScheduler {
  readonly submitAll: (tasks: Iterable<Task>) => Effect.Effect<void>
  readonly submit: (task: Task) => Effect.Effect<void>
  /** Forks the dispatcher into the current scope. */
  readonly start: Effect.Effect<void, never, Scope.Scope>
}

export const makeNaive = (consumers: ReadonlyArray<BenchConsumer>): Effect.Effect<NaiveScheduler> =>
  Effect.gen(function*() {
    const lanes = new Map<string, { readonly semaphore: Effect.Semaphore; readonly consumer: BenchConsumer }>()
    for (const consumer of consumers) {
      lanes.set(consumer.name, { semaphore: yield* Effect.makeSemaphore(consumer.concurrency), consumer })
    }
    const heap = new PlainHeap<Task>()
    let seq = 0
    let wake: Deferred.Deferred<void> | undefined
    let sleepingUntil = Infinity

    const push = (task: Task): boolean => {
      const due = task.dueMillis
      heap.push({ due, seq: seq++, value: task })
      return due < sleepingUntil
    }
    const signal = (earlier: boolean): Effect.Effect<void> => {
      if (!earlier || wake === undefined) return Effect.void
      const w = wake
      wake = undefined
      return Effect.asVoid(Deferred.succeed(w, undefined))
    }

    const dispatcher = Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        let head = heap.peek()
        while (head !== undefined && head.due <= now) {
          heap.pop()
          const lane = lanes.get(head.value.source)
          if (lane !== undefined) {
            yield* Effect.forkDaemon(lane.semaphore.withPermits(1)(lane.consumer.consume(head.value)))
          }
          head = heap.peek()
        }
        const w = yield* Deferred.make<void>()
        wake = w
        if (head === undefined) {
          sleepingUntil = Infinity
          yield* Deferred.await(w)
        } else {
          sleepingUntil = head.due
          yield* Effect.raceFirst(Effect.sleep(Duration.millis(head.due - now)), Deferred.await(w))
        }
        wake = undefined
        sleepingUntil = Infinity
      }
    })

    return {
      submit: (task) => Effect.suspend(() => signal(push(task))),
      submitAll: (tasks) =>
        Effect.suspend(() => {
          let earlier = false
          for (const task of tasks) if (push(task)) earlier = true
          return signal(earlier)
        }),
      start: Effect.asVoid(Effect.forkScoped(dispatcher))
    }
  })
