/**
 * Test support: a scheduler with recording consumers, log capture, and the
 * "let other fibers run without moving time" step.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Chunk, Clock, DateTime, Duration, Effect, Layer, List, Logger, type LogLevel, TestClock } from "effect"
import type * as Cause from "effect/Cause"
import type * as Scope from "effect/Scope"
import * as ConsumerRegistry from "../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import { Task } from "../src/scheduler/Task.js"
import * as TaskConsumer from "../src/scheduler/TaskConsumer.js"

/** One consumption of a task, as seen by a recording consumer (virtual ms). */
export interface Run {
  readonly id: string
  readonly label: string
  readonly source: string
  readonly due: number
  readonly start: number
  end: number | undefined
}

/** A log line captured by {@link captureLogs}. */
export interface CapturedLog {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  readonly cause: Cause.Cause<unknown>
}

/**
 * Runs `effect` with a logger that records every log line (instead of
 * printing it). The scheduler captures the logger when it is built, so build
 * it inside `effect`.
 */
export const captureLogs = <A, E, R>(
  f: (logs: ReadonlyArray<CapturedLog>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const logs: Array<CapturedLog> = []
  const logger = Logger.make<unknown, void>(({ annotations, cause, logLevel, message }) => {
    const list = List.fromIterable(Array.isArray(message) ? message : [message])
    logs.push({
      level: logLevel,
      message: List.toArray(list).map(String).join(" "),
      annotations: Object.fromEntries(annotations),
      cause
    })
  })
  return Effect.provide(f(logs), Logger.replace(Logger.defaultLogger, logger))
}

/** Let every other fiber run until it blocks, without advancing virtual time. */
export const settle: Effect.Effect<void> = TestClock.adjust(Duration.zero)

/** Advance virtual time to the absolute instant `millis`. */
export const advanceTo = (millis: number): Effect.Effect<void> => TestClock.setTime(millis)

/**
 * A consumer that records each run: start and end (virtual ms). It sleeps
 * `args.ms` milliseconds (default 0) and then fails, dies or interrupts
 * itself if `args.outcome` says so.
 */
export const recordingConsumer = (name: string, runs: Array<Run>, concurrency = 1) => ({
  name,
  concurrency,
  consume: (task: Task) =>
    Effect.gen(function*() {
      const run: Run = {
        id: task.id,
        label: String(task.args.label ?? ""),
        source: task.source,
        due: task.dueMillis,
        start: yield* Clock.currentTimeMillis,
        end: undefined
      }
      runs.push(run)
      const ms = typeof task.args.ms === "number" ? task.args.ms : 0
      if (ms > 0) yield* Effect.sleep(Duration.millis(ms))
      run.end = yield* Clock.currentTimeMillis
      switch (task.args.outcome) {
        case "fail":
          return yield* Effect.fail(new Error(`boom ${run.label}`))
        case "die":
          return yield* Effect.die(new Error(`defect ${run.label}`))
        case "interrupt":
          return yield* Effect.interrupt
      }
    })
})

/** Builds a registry with the given consumers and a started scheduler on it (optionally on another clock). */
export const setup = (
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a consumer's error type is its own (a retry schedule's input)
  consumers: ReadonlyArray<TaskConsumer.TaskConsumerOptions<any, never>>,
  options?: Scheduler.SchedulerOptions,
  clock?: Clock.Clock
): Effect.Effect<
  { readonly scheduler: Scheduler.SchedulerService; readonly registry: ConsumerRegistry.ConsumerRegistryService },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const registry = yield* ConsumerRegistry.make
    for (const options of consumers) {
      yield* Effect.orDie(Effect.flatMap(TaskConsumer.make(options), registry.register))
    }
    const make = makeScheduler(options).pipe(Effect.provideService(ConsumerRegistry.ConsumerRegistry, registry))
    // The scheduler (and the consumers it runs) use the clock it was built with.
    const scheduler = yield* (clock === undefined ? make : Effect.withClock(make, clock))
    // Closing the scope stops the scheduler, which waits for running tasks.
    // If a test ends (or fails) with tasks still sleeping on the TestClock,
    // drive the clock so that they finish instead of hanging the test.
    yield* Effect.addFinalizer(() => finishRunning(scheduler))
    return { scheduler, registry }
  })

/**
 * Which scheduler layer the conformance tests run against: the memory layer,
 * or (`RAY_SCHEDULER_LAYER=sql`, the "sql" project of vitest.config.ts) the
 * SQL layer on a private SQLite `:memory:` database. The SQL layer runs with
 * the memory layer's semantics where they are options: no grace period for
 * sources without a consumer (the SPEC's immediate drop), and a long lease
 * (so its renewals do not add TestClock sleeps).
 */
export const layerUnderTest: "memory" | "sql" = process.env.RAY_SCHEDULER_LAYER === "sql" ? "sql" : "memory"

const makeScheduler = (
  options: Scheduler.SchedulerOptions = {}
): Effect.Effect<Scheduler.SchedulerService, never, ConsumerRegistry.ConsumerRegistry | Scope.Scope> =>
  layerUnderTest === "memory"
    ? Scheduler.make(options)
    : Effect.gen(function*() {
      const context = yield* Effect.orDie(Layer.build(SqliteClient.layer({ filename: ":memory:" })))
      return yield* Scheduler.makeSql({ noConsumerGrace: 0, leaseTtl: "1 day", ...options }).pipe(
        Effect.provide(context),
        Effect.orDie
      )
    })

const finishRunning = (scheduler: Scheduler.SchedulerService): Effect.Effect<void> =>
  Effect.gen(function*() {
    const stopping = yield* Effect.fork(scheduler.stop)
    for (let i = 0; i < 100 && stopping.unsafePoll() === null; i++) {
      const sleeps = yield* TestClock.sleeps()
      const now = yield* Clock.currentTimeMillis
      const next = Math.min(...Chunk.toReadonlyArray(sleeps).filter((at) => at > now))
      yield* Number.isFinite(next) ? TestClock.setTime(next) : settle
    }
    if (stopping.unsafePoll() === null) {
      yield* Effect.logWarning("test support: tasks are still running after 100 clock steps; the scope will not close")
    }
  })

/** A fixed UUID for a short test name (at most 6 characters): tasks with readable ids. */
export const uid = (name: string): string =>
  `00000000-0000-4000-8000-${Buffer.from(name).toString("hex").padStart(12, "0")}`

/** The name a {@link uid} was made from. */
export const nameOf = (id: string): string =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)
    ? Buffer.from(id.slice(24).replace(/^(00)+/, ""), "hex").toString()
    : id // not a `uid`: a schedule's occurrence, an application's key

/** A task with the id `uid(name)` for `source`, due at virtual instant `at` (ms). */
export const namedTask = (name: string, source: string, at: number, args: Task["args"] = {}): Effect.Effect<Task> =>
  Task.create({ id: uid(name), source, args, scheduleAt: DateTime.unsafeMake(at) })

/** A task for `source` due at absolute virtual instant `at` (ms). */
export const taskAt = (source: string, at: number, args: Task["args"] = {}): Effect.Effect<Task> =>
  Task.create({ source, args, scheduleAt: DateTime.unsafeMake(at) })

/** Layer form of {@link setup}'s registry + scheduler, for layer-composition tests. */
export const schedulerLayer = Scheduler.Scheduler.layer.pipe(
  Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer)
)

/** A test clock whose wall reading can jump, and the jump. */
export interface JumpingClock {
  readonly clock: Clock.Clock
  readonly jump: (millis: number) => Effect.Effect<void>
}

/**
 * The TestClock with a wall reading of TestClock + an offset that `jump`
 * moves; sleeps are measured by the TestClock (like real timers, which are
 * monotonic and do not follow wall-clock jumps). `monotonicJumps`: whether
 * `currentTimeNanos` follows the offset too.
 */
const jumpingClock = (monotonicJumps: boolean): Effect.Effect<JumpingClock> =>
  Effect.map(Effect.clock, (base) => {
    let offset = 0
    const now = () => base.unsafeCurrentTimeMillis() + offset
    const nanos = monotonicJumps ? () => BigInt(now()) * 1_000_000n : () => base.unsafeCurrentTimeNanos()
    const clock: Clock.Clock = {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: now,
      currentTimeMillis: Effect.sync(now),
      unsafeCurrentTimeNanos: nanos,
      currentTimeNanos: Effect.sync(nanos),
      sleep: (duration) => base.sleep(duration)
    }
    return {
      clock,
      jump: (millis) =>
        Effect.sync(() => {
          offset += millis
        })
    }
  })

/**
 * A clock whose wall reading alone can jump, as a real machine's does: the
 * monotonic reading (`currentTimeNanos`) follows the TestClock, so the
 * scheduler's clock-jump detector sees the jump.
 */
export const makeWallJumpingClock: Effect.Effect<JumpingClock> = jumpingClock(false)

/**
 * A wall clock that can jump, its monotonic reading with it (which hides a
 * jump from the scheduler's detector; sleeps still follow the TestClock).
 */
export const makeJumpingClock: Effect.Effect<JumpingClock> = jumpingClock(true)
