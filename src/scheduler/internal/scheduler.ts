/**
 * The RayScheduler dispatcher. See `Scheduler.ts` for the public API and
 * `docs/architecture.md` for the design.
 *
 * Data:
 * - `state` (a `Ref`): lifecycle status, the min-heap of pending entries
 *   ordered by (due epoch ms, sequence), the next sequence number and the
 *   dispatcher's wake-up `Deferred`. Every transition is one `Ref.modify`;
 *   the heap and the lanes are mutable and only touched inside those
 *   synchronous callbacks, so each transition is atomic.
 * - one lane per source, created lazily at first dispatch: the consumer,
 *   a `Semaphore` with `concurrency` permits, a ready queue of due entries
 *   waiting for a permit, and the number of worker fibers.
 *
 * Fibers: one dispatcher, plus at most `concurrency` worker fibers per
 * source. A worker holds one permit of its source's semaphore for its whole
 * life and runs the source's ready entries one after the other; it exits
 * when the ready queue is empty. A worker is only forked when the lane has fewer
 * workers than permits, so the semaphore never has waiters (Effect 3 wakes
 * every waiter on each release) and due tasks beyond the limit wait as data.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { ConsumerRegistry } from "../ConsumerRegistry.js"
import type { LatenessStats, SchedulerOptions, SchedulerService, SchedulerStats, SourceStats } from "../Scheduler.js"
import { Task } from "../Task.js"
import * as TaskConsumer from "../TaskConsumer.js"
import { type Entry, MinHeap } from "./heap.js"
import { ReadyQueue } from "./readyQueue.js"

/** Lifecycle of the scheduler (the dispatcher's own states are in `Scheduler.ts`). */
type Status = "stopped" | "running" | "stopping"

interface State {
  readonly status: Status
  /** Pending entries not yet due (or due but not yet dispatched). Mutable, owned by the Ref. */
  readonly heap: MinHeap<Task>
  readonly seq: number
  /** Completed by `submit` when a task earlier than `sleepingUntil` arrives, and by `stop`. */
  readonly wake: Deferred.Deferred<void> | undefined
  /** Due time of the head when the dispatcher went to sleep; `Infinity` when idle. */
  readonly sleepingUntil: number
  /** Worker fibers alive, all sources. */
  readonly workers: number
  /** Completed by the last worker to exit while stopping. */
  readonly drained: Deferred.Deferred<void> | undefined
  readonly dispatcher: Fiber.RuntimeFiber<void> | undefined
}

interface Lane {
  readonly source: string
  consumer: TaskConsumer.TaskConsumer
  readonly semaphore: Effect.Semaphore
  permits: number
  /**
   * Due entries waiting for a permit, popped in (due, seq) order like the
   * main heap, so a past-due task submitted late still overtakes later-due
   * ones.
   */
  readonly ready: ReadyQueue<Task>
  workers: number
  /** Set while a dispatch round collects the lanes it pushed to. */
  touched: boolean
  /** This source's counters (the same object as in `bySource`). */
  readonly counters: Counters
}

interface Counters {
  submitted: number
  started: number
  succeeded: number
  failed: number
  dropped: number
  inFlight: number
  pending: number
  latenessCount: number
  latenessTotal: number
  latenessMax: number
}

const makeCounters = (): Counters => ({
  submitted: 0,
  started: 0,
  succeeded: 0,
  failed: 0,
  dropped: 0,
  inFlight: 0,
  pending: 0,
  latenessCount: 0,
  latenessTotal: 0,
  latenessMax: 0
})

const countSubmitted = (c: Counters): void => {
  c.submitted++
  c.pending++
}

const countDropped = (c: Counters): void => {
  c.dropped++
  c.pending--
}

const countStarted = (c: Counters, lateness: number): void => {
  c.started++
  c.inFlight++
  c.pending--
  c.latenessCount++
  c.latenessTotal += lateness
  if (lateness > c.latenessMax) c.latenessMax = lateness
}

const countEnded = (c: Counters, succeeded: boolean): void => {
  c.inFlight--
  if (succeeded) c.succeeded++
  else c.failed++
}

const latenessOf = (c: Counters): LatenessStats => ({
  count: c.latenessCount,
  totalMillis: c.latenessTotal,
  maxMillis: c.latenessMax,
  meanMillis: c.latenessCount === 0 ? 0 : c.latenessTotal / c.latenessCount
})

const sourceStatsOf = (c: Counters): SourceStats => ({
  submitted: c.submitted,
  started: c.started,
  succeeded: c.succeeded,
  failed: c.failed,
  dropped: c.dropped,
  inFlight: c.inFlight,
  pending: c.pending,
  lateness: latenessOf(c)
})

type Decision =
  | { readonly _tag: "Exit" }
  | { readonly _tag: "Continue" }
  | { readonly _tag: "Idle"; readonly wake: Deferred.Deferred<void> }
  | { readonly _tag: "Sleep"; readonly millis: number; readonly wake: Deferred.Deferred<void> }

const EXIT: Decision = { _tag: "Exit" }
const CONTINUE: Decision = { _tag: "Continue" }

const encodeTask = Schema.encodeEither(Task)

/** Defaults of {@link SchedulerOptions}. */
export const defaultMaxSleep: Duration.Duration = Duration.minutes(1)
export const defaultBatchSize = 4096

/** @internal */
export const make = (
  options: SchedulerOptions = {}
): Effect.Effect<SchedulerService, never, ConsumerRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* ConsumerRegistry
    const clock: Clock.Clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const maxSleepMillis = Math.max(1, Duration.toMillis(Duration.decode(options.maxSleep ?? defaultMaxSleep)))
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? defaultBatchSize))

    const state = yield* Ref.make<State>({
      status: "stopped",
      heap: new MinHeap<Task>(),
      seq: 0,
      wake: undefined,
      sleepingUntil: Infinity,
      workers: 0,
      drained: undefined,
      dispatcher: undefined
    })
    // Mirrors `status === "running"` for the workers' hot path; written only
    // inside the Ref.modify callbacks that change the status.
    let accepting = false
    const lanes = new Map<string, Lane>()
    const totals = makeCounters()
    const bySource = new Map<string, Counters>()
    const lifecycle = yield* Effect.makeSemaphore(1)

    const countersFor = (source: string): Counters => {
      let c = bySource.get(source)
      if (c === undefined) {
        c = makeCounters()
        bySource.set(source, c)
      }
      return c
    }

    // ---- submission -------------------------------------------------------

    const enqueue = (s: State, task: Task, seq: number): boolean => {
      const dueMillis = task.dueMillis
      s.heap.push({ dueMillis, seq, value: task })
      countSubmitted(totals)
      countSubmitted(countersFor(task.source))
      return dueMillis < s.sleepingUntil
    }

    const wakeIfEarlier = (s: State, earlier: boolean): readonly [Deferred.Deferred<void> | undefined, State] =>
      earlier && s.status === "running" && s.wake !== undefined
        ? [s.wake, { ...s, wake: undefined }]
        : [undefined, s]

    const signal = (wake: Deferred.Deferred<void> | undefined): Effect.Effect<void> =>
      wake === undefined ? Effect.void : Deferred.succeed(wake, undefined)

    const submit = (task: Task): Effect.Effect<void> =>
      Effect.flatMap(
        Ref.modify(state, (s) => {
          const earlier = enqueue(s, task, s.seq)
          return wakeIfEarlier({ ...s, seq: s.seq + 1 }, earlier)
        }),
        signal
      )

    const submitAll = (tasks: Iterable<Task>): Effect.Effect<void> =>
      Effect.flatMap(
        Ref.modify(state, (s) => {
          let seq = s.seq
          let earlier = false
          for (const task of tasks) {
            if (enqueue(s, task, seq++)) earlier = true
          }
          return wakeIfEarlier({ ...s, seq }, earlier)
        }),
        signal
      )

    // ---- workers ----------------------------------------------------------

    const recordFailure = (lane: Lane, task: Task, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
      countEnded(totals, false)
      countEnded(lane.counters, false)
      const message = Cause.isInterruptedOnly(cause)
        ? "Task was interrupted"
        : Cause.isFailType(cause) || Cause.isFailure(cause)
        ? "Task failed"
        : "Task died"
      return Effect.annotateLogs(Effect.logError(message, cause), {
        module: "Scheduler",
        source: lane.source,
        taskId: task.id
      })
    }

    /**
     * Takes the lane's next ready entry, unless the scheduler is stopping or
     * the lane's consumer is no longer the one this worker serves. Runs
     * synchronously inside the worker's step: no other fiber runs between
     * the check and the pop.
     */
    const takeNext = (lane: Lane, consumer: TaskConsumer.TaskConsumer): Entry<Task> | undefined => {
      if (!accepting || lane.consumer !== consumer) return undefined
      const entry = lane.ready.pop()
      if (entry === undefined) return undefined
      const lateness = Math.max(0, clock.unsafeCurrentTimeMillis() - entry.dueMillis)
      countStarted(totals, lateness)
      countStarted(lane.counters, lateness)
      return entry
    }

    /**
     * A worker serves one consumer (the lane's consumer when it was forked).
     * A consumer built by `TaskConsumer.make` gets its captured context
     * provided once for the whole worker rather than once per task. If the
     * lane's consumer is replaced (re-registered), the worker exits after its
     * current task and a replacement serves the new consumer.
     *
     * The loop is the hot path: per task, one synchronous step (take, count,
     * call `consume`), the consumer's effect, and `matchCauseEffect`.
     */
    const workerLoop = (lane: Lane): Effect.Effect<void> => {
      const consumer = lane.consumer
      const raw = TaskConsumer.unprovided(consumer)
      const consume = raw === undefined ? consumer.consume : raw.consume
      const onSuccess = (): Effect.Effect<void> => {
        countEnded(totals, true)
        countEnded(lane.counters, true)
        return loop
      }
      const loop: Effect.Effect<void> = Effect.suspend(() => {
        const entry = takeNext(lane, consumer)
        if (entry === undefined) return Effect.void
        let effect: Effect.Effect<void, unknown>
        try {
          effect = consume(entry.value)
        } catch (defect) {
          // a consumer that throws instead of returning an Effect: a defect of that task only
          effect = Effect.die(defect)
        }
        return Effect.matchCauseEffect(effect, {
          onFailure: (cause) => Effect.zipRight(recordFailure(lane, entry.value, cause), loop),
          onSuccess
        })
      })
      return raw === undefined ? loop : Effect.mapInputContext(loop, () => raw.context)
    }

    const forkWorkers = (lane: Lane, count: number): Effect.Effect<void> => {
      if (count === 0) return Effect.void
      // Workers may be forked from a finalizer (see onWorkerExit): make sure
      // the consumer runs interruptible, whatever the forking fiber's flags.
      const worker = Effect.ensuring(
        Effect.interruptible(Effect.suspend(() => lane.semaphore.withPermits(1)(workerLoop(lane)))),
        Effect.suspend(() => onWorkerExit(lane))
      )
      return Effect.asVoid(Effect.replicateEffect(Effect.forkDaemon(worker), count, { discard: true }))
    }

    /**
     * Runs after a worker released its permit. If entries arrived after the
     * worker saw an empty ready queue, a replacement is forked, so nothing strands.
     */
    const onWorkerExit = (lane: Lane): Effect.Effect<void> =>
      Effect.flatten(Ref.modify(state, (s) => {
        lane.workers--
        const workers = s.workers - 1
        if (s.status === "running" && lane.ready.size > 0 && lane.workers < lane.permits) {
          lane.workers++
          return [forkWorkers(lane, 1), { ...s, workers: workers + 1 }] as const
        }
        if (workers === 0 && s.drained !== undefined) {
          return [Deferred.succeed(s.drained, undefined), { ...s, workers, drained: undefined }] as const
        }
        return [Effect.void, { ...s, workers }] as const
      }))

    // ---- dispatcher -------------------------------------------------------

    interface Round {
      readonly decision: Decision
      readonly spawn: Array<readonly [Lane, number]>
      readonly resize: Array<Lane>
      readonly dropped: Array<Task>
    }

    const dispatchRound = (consumers: ReadonlyMap<string, TaskConsumer.TaskConsumer>): Effect.Effect<Round> =>
      Ref.modify(state, (s): readonly [Round, State] => {
        const spawn: Array<readonly [Lane, number]> = []
        const resize: Array<Lane> = []
        const dropped: Array<Task> = []
        if (s.status !== "running") return [{ decision: EXIT, spawn, resize, dropped }, s]
        const now = clock.unsafeCurrentTimeMillis()
        const touched: Array<Lane> = []
        let n = 0
        let head = s.heap.peek()
        while (head !== undefined && head.dueMillis <= now && n < batchSize) {
          s.heap.pop()
          n++
          const task = head.value
          const consumer = consumers.get(task.source)
          if (consumer === undefined) {
            countDropped(totals)
            countDropped(countersFor(task.source))
            dropped.push(task)
          } else {
            let lane = lanes.get(task.source)
            if (lane === undefined) {
              lane = {
                source: task.source,
                consumer,
                semaphore: Effect.unsafeMakeSemaphore(consumer.concurrency),
                permits: consumer.concurrency,
                ready: new ReadyQueue(),
                workers: 0,
                touched: false,
                counters: countersFor(task.source)
              }
              lanes.set(task.source, lane)
            } else if (lane.consumer !== consumer) {
              // the consumer was re-registered (possibly with another concurrency)
              lane.consumer = consumer
              if (lane.permits !== consumer.concurrency) {
                lane.permits = consumer.concurrency
                resize.push(lane)
              }
            }
            lane.ready.push(head)
            if (!lane.touched) {
              lane.touched = true
              touched.push(lane)
            }
          }
          head = s.heap.peek()
        }
        let workers = s.workers
        for (const lane of touched) {
          lane.touched = false
          const count = Math.min(lane.permits - lane.workers, lane.ready.size)
          if (count > 0) {
            lane.workers += count
            workers += count
            spawn.push([lane, count])
          }
        }
        if (head !== undefined && head.dueMillis <= now) {
          return [{ decision: CONTINUE, spawn, resize, dropped }, { ...s, workers }]
        }
        const wake = Deferred.unsafeMake<void>(FiberId.none)
        if (head === undefined) {
          return [{ decision: { _tag: "Idle", wake }, spawn, resize, dropped }, {
            ...s,
            workers,
            wake,
            sleepingUntil: Infinity
          }]
        }
        const millis = Math.min(head.dueMillis - now, maxSleepMillis)
        return [{ decision: { _tag: "Sleep", millis, wake }, spawn, resize, dropped }, {
          ...s,
          workers,
          wake,
          sleepingUntil: head.dueMillis
        }]
      })

    const logDropped = (task: Task): Effect.Effect<void> =>
      Effect.annotateLogs(
        Effect.logError(`Dropped task: no consumer is registered for source ${JSON.stringify(task.source)}`),
        {
          module: "Scheduler",
          source: task.source,
          taskId: task.id,
          task: Either.getOrElse(encodeTask(task), () => ({ id: task.id, source: task.source }))
        }
      )

    const afterRound = (round: Round): Effect.Effect<Decision> => {
      let effect: Effect.Effect<void> = Effect.void
      for (const lane of round.resize) effect = Effect.zipRight(effect, lane.semaphore.resize(lane.permits))
      for (const [lane, count] of round.spawn) effect = Effect.zipRight(effect, forkWorkers(lane, count))
      for (const task of round.dropped) effect = Effect.zipRight(effect, logDropped(task))
      return Effect.as(effect, round.decision)
    }

    /**
     * The interruptible sleep: a timer fiber completes the wake-up Deferred
     * when `millis` have passed; `submit` (earlier task) and `stop` complete
     * it sooner. The dispatcher only awaits the Deferred. A timer that lost
     * is interrupted without waiting for it. (One fork per sleep; a
     * `race` would cost two forks and a join.)
     */
    const sleepUntilWoken = (millis: number, wake: Deferred.Deferred<void>): Effect.Effect<void> =>
      Effect.flatMap(
        Effect.forkDaemon(Effect.zipRight(clock.sleep(Duration.millis(millis)), Deferred.succeed(wake, undefined))),
        (timer) =>
          Effect.zipRight(
            Deferred.await(wake),
            Effect.sync(() => {
              if (timer.unsafePoll() === null) timer.unsafeInterruptAsFork(FiberId.none)
            })
          )
      )

    const dispatcher: Effect.Effect<void> = Effect.suspend(() => {
      const loop: Effect.Effect<void> = Effect.flatMap(
        Effect.flatMap(Effect.flatMap(registry.snapshot, dispatchRound), afterRound),
        (decision): Effect.Effect<void> => {
          switch (decision._tag) {
            case "Exit":
              return Effect.void
            case "Continue":
              return Effect.zipRight(Effect.yieldNow(), loop)
            case "Idle":
              return Effect.zipRight(Deferred.await(decision.wake), loop)
            case "Sleep":
              return Effect.zipRight(sleepUntilWoken(decision.millis, decision.wake), loop)
          }
        }
      )
      return loop
    })

    // ---- lifecycle --------------------------------------------------------

    const start: Effect.Effect<void> = lifecycle.withPermits(1)(
      Effect.gen(function*() {
        const wasStopped = yield* Ref.modify(state, (s) => {
          if (s.status !== "stopped") return [false, s] as const
          accepting = true
          return [true, { ...s, status: "running" as const }] as const
        })
        if (!wasStopped) return
        // Forked from the runtime the scheduler was built in (its Clock,
        // logger and supervisor), not from whichever fiber called `start`.
        const fiber = Runtime.runFork(runtime)(dispatcher)
        yield* Ref.update(state, (s) => ({ ...s, dispatcher: fiber }))
        yield* Effect.logDebug("Scheduler started").pipe(Effect.annotateLogs({ module: "Scheduler" }))
      })
    ).pipe(Effect.uninterruptible)

    const stop: Effect.Effect<void> = lifecycle.withPermits(1)(
      Effect.gen(function*() {
        const running = yield* Ref.modify(state, (s) => {
          if (s.status !== "running") return [undefined, s] as const
          accepting = false
          const drained = s.workers > 0 ? Deferred.unsafeMake<void>(FiberId.none) : undefined
          return [
            { wake: s.wake, dispatcher: s.dispatcher, drained },
            { ...s, status: "stopping" as const, wake: undefined, drained }
          ] as const
        })
        if (running === undefined) return
        yield* signal(running.wake)
        if (running.dispatcher !== undefined) yield* Fiber.await(running.dispatcher)
        if (running.drained !== undefined) yield* Deferred.await(running.drained)
        // Due entries that never got a permit go back to the heap, in order.
        yield* Ref.update(state, (s) => {
          for (const lane of lanes.values()) {
            for (const entry of lane.ready.clear()) s.heap.push(entry)
          }
          return { ...s, status: "stopped" as const, dispatcher: undefined, sleepingUntil: Infinity }
        })
        yield* Effect.logDebug("Scheduler stopped").pipe(Effect.annotateLogs({ module: "Scheduler" }))
      })
    ).pipe(Effect.uninterruptible)

    // ---- observation ------------------------------------------------------

    const nextAtMillis = (s: State): number | undefined => {
      let min = s.heap.peek()?.dueMillis
      for (const lane of lanes.values()) {
        const head = lane.ready.peek()
        if (head !== undefined && (min === undefined || head.dueMillis < min)) min = head.dueMillis
      }
      return min
    }

    const service: SchedulerService = {
      submit,
      submitAll,
      start,
      stop,
      isRunning: Effect.map(Ref.get(state), (s) => s.status === "running"),
      pending: Effect.sync(() => totals.pending),
      nextAt: Effect.map(Ref.get(state), (s) => {
        const millis = nextAtMillis(s)
        return millis === undefined ? Option.none() : Option.some(DateTime.unsafeMake(millis))
      }),
      stats: Effect.map(Ref.get(state), (s): SchedulerStats => {
        const sources: Record<string, SourceStats> = {}
        for (const [source, c] of bySource) sources[source] = sourceStatsOf(c)
        const millis = nextAtMillis(s)
        return {
          ...sourceStatsOf(totals),
          running: s.status === "running",
          nextAt: millis === undefined ? Option.none() : Option.some(DateTime.unsafeMake(millis)),
          bySource: sources
        }
      })
    }

    yield* Effect.addFinalizer(() => stop)
    if (options.autoStart !== false) yield* start
    return service
  })
