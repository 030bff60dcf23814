/**
 * The RayScheduler, assembled: the state (`state.ts`) held in a `Ref`, the
 * dispatcher fiber (`dispatcher.ts`), the workers (`worker.ts`), the
 * lifecycle (`start`, `stop`, the scope) and the service. How it works is
 * described once, in docs/architecture.md; `Scheduler.ts` is the public API.
 *
 * Atomicity: every change of the state is one synchronous section — a
 * `Ref.modify` callback here, or a worker's `Effect.suspend` step — and
 * JavaScript runs one synchronous section at a time. No section awaits.
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
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { ConsumerRegistry } from "../ConsumerRegistry.js"
import type { SchedulerOptions, SchedulerService, SchedulerStats, SourceStats } from "../Scheduler.js"
import { Task } from "../Task.js"
import type { TaskConsumer } from "../TaskConsumer.js"
import { type Backend, memoryBackend, olderThanMillis } from "./backend.js"
import { ClockWatch } from "./clockWatch.js"
import { tracingEnabled } from "./consumer.js"
import { dispatcher } from "./dispatcher.js"
import type { Lane } from "./lane.js"
import * as Metrics from "./metrics.js"
import { makeSchedules } from "./schedules.js"
import { type Host, SchedulerState } from "./state.js"
import { bySeq, resolveTaskQuery } from "./taskQuery.js"
import { type RunHooks, worker } from "./worker.js"

/** Defaults of {@link SchedulerOptions}. @internal */
export const defaultMaxSleep: Duration.Duration = Duration.minutes(1)
/** @internal */
export const defaultBatchSize = 4096
/** @internal */
export const defaultWorkerIdleTimeout: Duration.Duration = Duration.seconds(1)

/** @internal */
export const defaultDeadLetterLimit = 10_000

/** The longest a JS timer can wait (2^31 − 1 ms, ~24.8 days); longer sleeps are clamped to it. @internal */
export const maxTimerMillis = 2 ** 31 - 1

const encodeTask = Schema.encodeEither(Task)

/** An invalid option: a defect naming it (`where`: the constructor, e.g. `Scheduler.layerSql`). @internal */
export const invalidOption = (option: string, expected: string, value: unknown, where = "Scheduler"): never => {
  throw new Cause.IllegalArgumentException(
    `${where}: option ${option} must be ${expected}, got ${typeof value === "number" ? value : JSON.stringify(value)}`
  )
}

/** The options, validated and normalised; an invalid option is a defect naming it. @internal */
export const resolveOptions = (options: SchedulerOptions, defaultGrace: Duration.DurationInput = 0) => {
  const maxSleep = Duration.decodeUnknown(options.maxSleep ?? defaultMaxSleep)
  if (Option.isNone(maxSleep) || !(Duration.toMillis(maxSleep.value) > 0)) {
    invalidOption("maxSleep", "a positive duration", options.maxSleep)
  }
  const batchSize = options.batchSize ?? defaultBatchSize
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) invalidOption("batchSize", "an integer >= 1", batchSize)
  const shutdownTimeout = Duration.decodeUnknown(options.shutdownTimeout ?? Duration.infinity)
  if (Option.isNone(shutdownTimeout)) invalidOption("shutdownTimeout", "a duration", options.shutdownTimeout)
  const workerIdle = Duration.decodeUnknown(options.workerIdleTimeout ?? defaultWorkerIdleTimeout)
  if (Option.isNone(workerIdle) || !Duration.isFinite(workerIdle.value)) {
    invalidOption("workerIdleTimeout", "a finite duration", options.workerIdleTimeout)
  }
  const grace = Duration.decodeUnknown(options.noConsumerGrace ?? defaultGrace)
  if (Option.isNone(grace) || !Duration.isFinite(grace.value)) {
    invalidOption("noConsumerGrace", "a finite duration", options.noConsumerGrace)
  }
  const maxConcurrency = options.maxConcurrency ?? Infinity
  if (maxConcurrency !== Infinity && (!Number.isSafeInteger(maxConcurrency) || maxConcurrency < 1)) {
    invalidOption("maxConcurrency", "an integer >= 1 (or Infinity: no cap)", maxConcurrency)
  }
  const deadLetterLimit = options.deadLetterLimit ?? defaultDeadLetterLimit
  if (!Number.isSafeInteger(deadLetterLimit) || deadLetterLimit < 0) {
    invalidOption("deadLetterLimit", "an integer >= 0", deadLetterLimit)
  }
  if (options.metrics !== undefined && typeof options.metrics !== "boolean") {
    invalidOption("metrics", "true or false", options.metrics)
  }
  return {
    metrics: options.metrics === true,
    noConsumerGraceMillis: Math.min(Duration.toMillis(Option.getOrThrow(grace)), maxTimerMillis),
    deadLetterLimit,
    maxConcurrency,
    workerIdleMillis: Duration.toMillis(Option.getOrThrow(workerIdle)),
    maxSleepMillis: Math.min(Duration.toMillis(Option.getOrThrow(maxSleep)), maxTimerMillis),
    batchSize,
    shutdownTimeout: Option.getOrThrow(shutdownTimeout),
    autoStart: options.autoStart !== false
  }
}

/** Logs a dropped task at Error level with its JSON (built only when Error is logged). */
const logDropped = (task: Task): Effect.Effect<void> =>
  Effect.asVoid(Effect.whenLogLevel(
    Effect.suspend(() =>
      Effect.annotateLogs(
        Effect.logError(`Dropped task: no consumer is registered for source ${JSON.stringify(task.source)}`),
        {
          module: "Scheduler",
          source: task.source,
          taskId: task.id,
          task: Either.getOrElse(encodeTask(task), () => ({ id: task.id, source: task.source }))
        }
      )
    ),
    "Error"
  ))

/** A defect: the argument of `operation` is not a `Task`. @internal */
export const notATask = (operation: string, value: unknown, index?: number) =>
  Effect.die(
    new Cause.IllegalArgumentException(
      `Scheduler.${operation}: ${index === undefined ? "the task" : `element ${index}`} is not a Task (got ${
        value === null ? "null" : typeof value
      })`
    )
  )

const closed = (operation: string) =>
  Effect.die(new Cause.RuntimeException(`Scheduler.${operation}: the scheduler's scope is closed`))

/** What a layer's backend is built from. @internal */
export interface BackendContext {
  readonly state: SchedulerState
  readonly now: () => number
  readonly settings: ReturnType<typeof resolveOptions>
  /** The scheduler's `stop` (the SQL layer stops when it loses its store lease). */
  readonly stop: Effect.Effect<void>
}

/** The memory layer's scheduler. @internal */
export const make = (
  options: SchedulerOptions = {}
): Effect.Effect<SchedulerService, never, ConsumerRegistry | Scope.Scope> =>
  Effect.suspend(() =>
    makeWith(
      resolveOptions(options),
      ({ now, settings, state }) => Effect.succeed(memoryBackend(state, now, settings.deadLetterLimit))
    )
  )

/**
 * A scheduler on the backend `makeBackend` builds (memory or SQL); the
 * backend is built after the state and before the dispatcher starts. @internal
 */
export const makeWith = <E, R>(
  settings: ReturnType<typeof resolveOptions>,
  makeBackend: (context: BackendContext) => Effect.Effect<Backend, E, R>
): Effect.Effect<SchedulerService, E, ConsumerRegistry | Scope.Scope | R> =>
  Effect.gen(function*() {
    const registry = yield* ConsumerRegistry
    const clock: Clock.Clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const tracing = yield* tracingEnabled
    const fork = <A>(effect: Effect.Effect<A>) => Runtime.runFork(runtime)(effect, { immediate: false })
    const now = () => clock.unsafeCurrentTimeMillis()

    const host: Host = {
      now,
      consumerOf: registry.unsafeGet,
      // Workers run in the runtime the scheduler was built in (its Clock,
      // logger and supervisor), interruptible whatever the caller's region.
      forkWorker: (lane: Lane, consumer: TaskConsumer) => {
        const self: { fiber: Fiber.RuntimeFiber<void> | undefined } = { fiber: undefined }
        self.fiber = fork(Effect.interruptible(worker(state, lane, consumer, self, hooks, tracing)))
        return self.fiber
      },
      makeSemaphore: (permits) => Effect.unsafeMakeSemaphore(permits),
      idleMillis: settings.workerIdleMillis,
      metrics: settings.metrics,
      noConsumerGraceMillis: settings.noConsumerGraceMillis,
      maxConcurrency: settings.maxConcurrency
    }
    const state = new SchedulerState(host)
    const backend: Backend = yield* makeBackend({ state, now, settings, stop: Effect.suspend(() => stop) })
    const schedules = yield* makeSchedules({
      clock,
      store: backend.scheduleStore,
      maxSleepMillis: settings.maxSleepMillis,
      isPaused: (source) => state.paused.has(source)
    })
    /** The backend's hooks, telling the schedules when one of their occurrence tasks ended. */
    const hooks: RunHooks = {
      ...backend.hooks,
      succeeded: (task, seq) => {
        backend.hooks.succeeded(task, seq)
        if (schedules.tracking()) schedules.ended(task.id)
      },
      failed: (task, cause, attempt, stopped) => {
        backend.hooks.failed(task, cause, attempt, stopped)
        if (!stopped && schedules.tracking()) schedules.ended(task.id)
      },
      cancelled: (task, seq) => {
        backend.hooks.cancelled(task, seq)
        if (schedules.tracking()) schedules.ended(task.id)
      }
    }
    const ref = yield* Ref.make(state)
    /** Runs `f` on the state in one synchronous section. */
    const step = <A>(f: (s: SchedulerState) => A): Effect.Effect<A> => Ref.modify(ref, (s) => [f(s), s])

    const lifecycle = yield* Effect.makeSemaphore(1)
    let dispatcherFiber: Fiber.RuntimeFiber<void> | undefined
    /** Completed when a stop that was cut short (interrupted) has finished in the background. */
    let stopped: Deferred.Deferred<void> | undefined

    // ---- submission -------------------------------------------------------

    /** Accepts validated tasks, unless the scope is closed (checked in the same synchronous step). */
    const accept = (operation: string, tasks: ReadonlyArray<Task>): Effect.Effect<void> =>
      Effect.suspend(() => state.phase === "closed" ? closed(operation) : backend.accept(tasks))

    const submit = (task: Task): Effect.Effect<void> =>
      task instanceof Task ? accept("submit", [task]) : notATask("submit", task)

    const submitAll = (tasks: Iterable<Task>): Effect.Effect<void> =>
      Effect.suspend(() => {
        // materialise and validate first: all the tasks are accepted in one step, or none
        let all: Array<Task>
        try {
          all = Array.from(tasks)
        } catch (error) {
          return Effect.die(
            new Cause.IllegalArgumentException(
              `Scheduler.submitAll: iterating the tasks failed (nothing was submitted): ${
                error instanceof Error ? error.message : String(error)
              }`
            )
          )
        }
        for (let i = 0; i < all.length; i++) if (!(all[i] instanceof Task)) return notATask("submitAll", all[i], i)
        return accept("submitAll", all)
      })

    // ---- lifecycle --------------------------------------------------------

    /**
     * Clock jumps (docs/architecture.md, "Time and clock jumps"): at every
     * wake-up, wall-clock time minus monotonic time (`currentTimeNanos`,
     * which timers follow) is compared with its value at the previous one; a
     * change beyond `clockJumpThresholdMillis` (`clockWatch.ts`) is a jump: counted, logged
     * once with its size. Tasks whose instant a forward jump skipped are due
     * in this round, so they start at once.
     */
    const clockWatch = new ClockWatch(clock)
    const watchClock = Effect.suspend(() => {
      const size = clockWatch.check()
      if (size === 0) return Effect.void
      state.clockJumps++
      if (settings.metrics) Metrics.clockJump()
      return Effect.logWarning(
        `Scheduler: the wall clock jumped ${size > 0 ? "forward" : "back"} by ${
          Duration.format(Duration.millis(Math.abs(size)))
        } (against the monotonic clock); ${
          size > 0 ? "tasks due in the skipped span start now" : "tasks wait for the wall clock to reach them again"
        }`
      ).pipe(Effect.annotateLogs({ module: "Scheduler", clockJumpMillis: size }))
    })
    const round = Effect.zipRight(
      watchClock,
      step((s) => s.round(clock.unsafeCurrentTimeMillis(), settings.batchSize, settings.maxSleepMillis))
    )

    const start: Effect.Effect<void> = lifecycle.withPermits(1)(
      Effect.gen(function*() {
        if (state.phase === "closed") return yield* closed("start")
        const refused = backend.refuseStart()
        if (refused !== undefined) {
          return yield* Effect.logError(refused).pipe(Effect.annotateLogs({ module: "Scheduler" }))
        }
        if (state.phase === "stopping" && stopped !== undefined) yield* Deferred.await(stopped)
        const started = yield* step((s) => s.phase === "stopped" ? (s.setStarted(), true) : false)
        if (!started) return
        dispatcherFiber = fork(dispatcher(clock, round, onDropped, onWaiting))
        yield* schedules.start
        yield* Effect.logDebug("Scheduler started").pipe(Effect.annotateLogs({ module: "Scheduler" }))
      })
    ).pipe(Effect.uninterruptible)

    const finishStop = Effect.gen(function*() {
      yield* step((s) => s.setStopped())
      yield* Effect.logDebug("Scheduler stopped").pipe(Effect.annotateLogs({ module: "Scheduler" }))
    })

    const interruptWorkers = (fibers: ReadonlyArray<Fiber.RuntimeFiber<void>>, why: string) =>
      Effect.gen(function*() {
        if (fibers.length === 0) return
        yield* Effect.logWarning(`Scheduler: interrupting ${fibers.length} running task(s): ${why}`).pipe(
          Effect.annotateLogs({ module: "Scheduler" })
        )
        for (const fiber of fibers) {
          state.interruptedByScheduler.add(fiber)
          fiber.unsafeInterruptAsFork(FiberId.none)
        }
      })

    /**
     * Waits for `done`, up to the shutdown timeout; interruptible through
     * `restore`. The wait itself is interruptible whatever the caller's
     * region: a finalizer (a layer's release, the scope's stop) runs
     * uninterruptibly, and a timeout cannot cut short an uninterruptible wait.
     */
    const awaitBounded = (
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
      done: Deferred.Deferred<void>
    ) =>
      Effect.exit(restore(
        Duration.isFinite(settings.shutdownTimeout)
          ? Effect.timeoutOption(Effect.interruptible(Deferred.await(done)), settings.shutdownTimeout)
          : Effect.asSome(Deferred.await(done))
      ))

    const stop: Effect.Effect<void> = lifecycle.withPermits(1)(
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const self = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) =>
            Effect.succeed(fiber)
          )
          if (state.running) yield* schedules.stop
          const begun = yield* step((s) => s.running ? { drained: s.setStopping(s.isWorker(self) ? 1 : 0) } : undefined)
          if (begun === undefined) {
            if (state.phase === "stopping" && stopped !== undefined) yield* restore(Deferred.await(stopped))
            return
          }
          if (dispatcherFiber !== undefined) yield* Fiber.await(dispatcherFiber)
          dispatcherFiber = undefined
          const drained = begun.drained
          if (drained !== undefined) {
            const waited = yield* awaitBounded(restore, drained)
            if (Exit.isSuccess(waited) && Option.isSome(waited.value)) return yield* finishStop
            const workers = yield* step((s) => s.allWorkers(self))
            if (Exit.isFailure(waited)) {
              // the caller gave up (e.g. `Effect.timeout(stop, ...)`): interrupt the tasks and finish in the background
              yield* interruptWorkers(workers, "stop was interrupted")
              const done = yield* Deferred.make<void>()
              stopped = done
              yield* Effect.forkDaemon(
                Deferred.await(drained).pipe(
                  Effect.zipRight(finishStop),
                  Effect.ensuring(Deferred.succeed(done, undefined))
                )
              )
              return
            }
            yield* interruptWorkers(
              workers,
              `still running after the shutdown timeout (${Duration.format(settings.shutdownTimeout)})`
            )
            yield* Deferred.await(drained)
          }
          yield* finishStop
        })
      )
    )

    // A consumer leaving the registry: none of its tasks starts any more;
    // its running tasks end (bounded by the shutdown timeout) before
    // `unregister` returns.
    yield* registry.onUnregister((consumer) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const done = yield* step((s) => s.release(consumer))
          if (done === undefined) return
          const waited = yield* awaitBounded(restore, done)
          if (Exit.isSuccess(waited) && Option.isSome(waited.value)) return
          yield* interruptWorkers(
            yield* step((s) => s.workersServing(consumer)),
            `consumer ${JSON.stringify(consumer.name)} was unregistered`
          )
          if (Exit.isSuccess(waited)) yield* Deferred.await(done)
        })
      )
    )

    // A consumer arriving: a source waiting for one starts at once.
    yield* registry.onRegister((consumer) => state.registered(consumer))

    // ---- dead letters -----------------------------------------------------

    const onDropped = (tasks: ReadonlyArray<Task>): Effect.Effect<void> =>
      Effect.zipRight(
        Effect.sync(() => {
          backend.dropped(tasks)
          if (schedules.tracking()) { for (const task of tasks) schedules.ended(task.id) }
        }),
        Effect.forEach(tasks, logDropped, { discard: true })
      )

    const onWaiting = (sources: ReadonlyArray<string>): Effect.Effect<void> =>
      Effect.forEach(sources, (source) =>
        Effect.logWarning(
          `Scheduler: source ${JSON.stringify(source)} has due tasks and no consumer; they wait up to ${
            Duration.format(Duration.millis(settings.noConsumerGraceMillis))
          } for one, then become dead letters`
        ).pipe(Effect.annotateLogs({ module: "Scheduler", source })), { discard: true })

    const replay = (taskId: string): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        const letter = yield* backend.takeDeadLetter(taskId)
        if (letter === undefined) return false
        if (state.ids.has(taskId)) {
          yield* backend.restoreDeadLetter(letter)
          return false
        }
        const task = new Task({ ...letter.task, scheduleAt: DateTime.unsafeMake(now()) })
        yield* accept("replay", [task])
        return true
      })

    const purgeDeadLetters = (olderThan?: Duration.DurationInput): Effect.Effect<number> =>
      Effect.suspend(() => backend.purgeDeadLetters(olderThanMillis(olderThan)))

    // ---- pause and resume ---------------------------------------------------

    /** One pause or resume at a time: the SQL layer's window moves with each. */
    const pausing = yield* Effect.makeSemaphore(1)
    const checkSource = (operation: string, source: unknown): void => {
      if (typeof source !== "string" || source.length === 0) {
        throw new Cause.IllegalArgumentException(
          `Scheduler.${operation}: source must be a non-empty string, got ${JSON.stringify(source)}`
        )
      }
    }
    const pause = (source: string): Effect.Effect<void> =>
      pausing.withPermits(1)(Effect.suspend(() => {
        checkSource("pause", source)
        return Effect.flatMap(step((s) => s.pause(source)), (changed) =>
          changed
            ? Effect.zipRight(
              backend.pausedChanged(source, true),
              Effect.logInfo(`Scheduler: source ${JSON.stringify(source)} paused`).pipe(
                Effect.annotateLogs({ module: "Scheduler", source })
              )
            )
            : Effect.void)
      }))
    const resume = (source: string): Effect.Effect<void> =>
      pausing.withPermits(1)(Effect.suspend(() => {
        checkSource("resume", source)
        if (!state.paused.has(source)) return Effect.void
        return backend.pausedChanged(source, false).pipe(
          Effect.zipRight(step((s) => s.resume(source))),
          Effect.zipRight(Effect.sync(() => schedules.resumed(source))),
          Effect.zipRight(
            Effect.logInfo(`Scheduler: source ${JSON.stringify(source)} resumed`).pipe(
              Effect.annotateLogs({ module: "Scheduler", source })
            )
          )
        )
      }))

    // ---- cancel and reschedule ---------------------------------------------

    const logCancelled = (taskId: string, what: string) =>
      Effect.logInfo(`Scheduler: ${what}`).pipe(Effect.annotateLogs({ module: "Scheduler", taskId }))

    type Found =
      | { readonly _tag: "None" }
      | { readonly _tag: "Pending" }
      | { readonly _tag: "Running"; readonly fiber: Fiber.RuntimeFiber<void> }

    const cancel = (taskId: string): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        const found = yield* step((s): Found => {
          const entry = s.ids.get(taskId)
          if (entry === undefined) return { _tag: "None" }
          if (entry.runner === undefined) {
            s.cancelPending(entry)
            hooks.cancelled(entry.value, entry.seq)
            return { _tag: "Pending" }
          }
          const fiber = entry.runner as Fiber.RuntimeFiber<void>
          s.cancelling.add(fiber)
          s.cancelRequests++
          return { _tag: "Running", fiber }
        })
        switch (found._tag) {
          case "None": {
            // the SQL layer: a pending task beyond the memory window
            if (!(yield* backend.cancelStored(taskId))) return false
            if (schedules.tracking()) schedules.ended(taskId)
            yield* logCancelled(taskId, "pending task cancelled (it was in the store only)")
            return true
          }
          case "Pending": {
            yield* backend.committed
            yield* logCancelled(taskId, "pending task cancelled")
            return true
          }
          case "Running": {
            const self = yield* Effect.fiberId
            if (FiberId.threadName(self) === FiberId.threadName(found.fiber.id())) {
              // a task cancelling itself: its run ends here (onExit counts it as cancelled)
              yield* step((s) => void s.cancelRequests--)
              return yield* Effect.interrupt
            }
            yield* Fiber.interrupt(found.fiber).pipe(Effect.ensuring(step((s) => void s.cancelRequests--)))
            yield* backend.committed
            return true
          }
        }
      })

    const reschedule = (taskId: string, scheduleAt: DateTime.DateTime): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        if (!DateTime.isDateTime(scheduleAt) || !Number.isFinite(DateTime.toEpochMillis(scheduleAt))) {
          throw new Cause.IllegalArgumentException(
            `Scheduler.reschedule: scheduleAt must be a valid DateTime, got ${String(scheduleAt)}`
          )
        }
        const entry = state.ids.get(taskId)
        if (entry !== undefined && entry.runner !== undefined) return Effect.succeed(false) // running
        return backend.reschedule(taskId, entry, DateTime.toEpochMillis(scheduleAt))
      })

    // ---- observation ------------------------------------------------------

    const nextAt = (s: SchedulerState): Option.Option<DateTime.Utc> => {
      const millis = s.nextAt()
      return millis === undefined ? Option.none() : Option.some(DateTime.unsafeMake(millis))
    }

    const service: SchedulerService = {
      submit,
      submitAll,
      start,
      stop,
      isRunning: step((s) => s.running),
      pending: step((s) => s.totals.pending),
      nextAt: step(nextAt),
      stats: step((s): SchedulerStats => {
        const bySource: Record<string, SourceStats> = {}
        for (const [source, counters] of s.retired) bySource[source] = counters.toStats()
        for (const [source, lane] of s.lanes) bySource[source] = lane.counters.toStats()
        return {
          ...s.totals.toStats(),
          running: s.running,
          nextAt: nextAt(s),
          waiting: s.waiting(),
          clockJumps: s.clockJumps,
          deadLetters: backend.deadLetterCount(),
          bySource
        }
      }),
      deadLetters: backend.deadLetters,
      replay,
      purgeDeadLetters,
      pause,
      resume,
      paused: step((s): ReadonlySet<string> => new Set(s.paused)),
      cancel,
      reschedule,
      schedule: (options) =>
        Effect.suspend(() => state.phase === "closed" ? closed("schedule") : schedules.schedule(options)),
      unschedule: (id) =>
        Effect.suspend(() => state.phase === "closed" ? closed("unschedule") : schedules.unschedule(id)),
      schedules: schedules.list,
      tasks: (query) => Effect.flatMap(resolveTaskQuery(query, bySeq), backend.tasks),
      task: (id) => typeof id === "string" && id.length > 0 ? backend.task(id) : Effect.succeed(Option.none())
    }

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* stop
        if (state.phase === "stopping" && stopped !== undefined) yield* Deferred.await(stopped)
        yield* step((s) => s.phase === "stopped" && s.setClosed())
      })
    )
    if (settings.autoStart) yield* start
    return service
  })
