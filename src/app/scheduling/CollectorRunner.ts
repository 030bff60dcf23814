/**
 * `CollectorRunner` — runs one collector instance once: fetch → pipeline →
 * job state, whatever triggered it (a scheduler adapter or a manual run).
 * Both scheduler adapters share it, so they differ only in *when* they run
 * instances; manual runs (`runInstance`) and what is known about each
 * instance (`listInstances`) are the runner's, with or without an adapter
 * (the CLI's `trigger` and `collectors` use the runner alone). Its
 * guarantees are described in docs/architecture.md ("Supervision",
 * "Shutdown", "Processes sharing a database"); in short:
 *
 * - **A run always ends in an outcome.** Whatever happens inside it — a
 *   failure, a defect or an interruption in the fetch, the pipeline, or
 *   while recording the outcome — `run` and `runInstance` return a
 *   {@link RunOutcome}; nothing escapes to the adapter, which can therefore
 *   always plan the job's next run. The outcome is logged, counted and kept
 *   for `/collectors`.
 * - **Runs of one job never overlap**: a per-job lock in this process and a
 *   `job:<id>` lease in the database (`Leases`) across processes.
 * - **Manual runs do not pile up**: at most one manual run per job waits for
 *   its turn; further requests join it and get its outcome.
 * - **Bounded shutdown**: `drain` rejects new runs, drops the waiting ones,
 *   waits for the running ones up to a timeout (or until `ForceShutdown`)
 *   and then interrupts them.
 * - Each run executes in its own fiber (a `FiberSet` owned by the runner):
 *   interrupting a caller (an HTTP client that went away) never cuts a
 *   collection in half.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { MisfirePolicy } from "../../scheduler/Scheduler.js"
import type { Collector, CollectorJob } from "../collectors/Collector.js"
import { instanceId } from "../collectors/Collector.js"
import type { PipelineResult } from "../pipeline/Pipeline.js"
import { Pipeline } from "../pipeline/Pipeline.js"
import * as ProcessOwner from "../ProcessOwner.js"
import { ForceShutdown } from "../Shutdown.js"
import { emptyState, type JobState, JobStateStore } from "../storage/JobStateStore.js"
import { Leases } from "../storage/Leases.js"
import * as AppMetrics from "../telemetry/AppMetrics.js"
import { defaultRetryPolicy, maxRetryDelay, retryDelay, type RetryPolicy } from "./Timing.js"

/** Runs of a job missed while the service was down or stopped (the scheduler's `misfire` option). */
export interface JobMisfire {
  /** `coalesce` (one catch-up run), `all` (each missed run, oldest first) or `skip`. */
  readonly policy: MisfirePolicy
  /** A missed run older than this is never run. Default: no limit. */
  readonly grace?: Duration.Duration | undefined
}

/** The default {@link JobMisfire}: one catch-up run for all missed ones, however old. */
export const defaultMisfire: JobMisfire = { policy: "coalesce" }

/** A collector with its scheduling settings, as configured. */
export interface ConfiguredCollector {
  readonly collector: Collector
  /** Concurrency of each of its instances' consumers. Default 1. */
  readonly concurrency: number
  /** Missed runs of its jobs. Default: {@link defaultMisfire}. */
  readonly misfire?: JobMisfire | undefined
}

/** When a job runs: every `interval`, or at the times of a cron expression in a time zone. */
export type JobTiming =
  | { readonly _tag: "Every"; readonly interval: Duration.Duration }
  | { readonly _tag: "Cron"; readonly cron: string; readonly timeZone: string }

/**
 * The base of a job's retry cap (see `Timing.retryDelay`): its interval, or
 * 24 hours for a cron job (whose retries also end at its next cron time).
 */
export const retryCapBase = (timing: JobTiming): Duration.Duration =>
  timing._tag === "Every" ? timing.interval : maxRetryDelay

/** `every 1800s` or `cron "0 7 * * *" (Europe/Berlin)`: a timing for people. */
export const formatTiming = (timing: JobTiming): string =>
  timing._tag === "Every"
    ? `every ${Duration.toSeconds(timing.interval)}s`
    : `cron ${JSON.stringify(timing.cron)} (${timing.timeZone})`

/**
 * A job's timing, first match wins: the job's `cron`; the job's
 * `interval`; the collector's `cron`; the collector's `interval` (or its
 * type's default). Cron times are in the job's `timeZone`, else the
 * collector's, else UTC.
 */
const timingOf = (collector: Collector, job: CollectorJob | undefined): JobTiming => {
  const timeZone = job?.timeZone ?? collector.timeZone ?? "UTC"
  if (job?.cron !== undefined) return { _tag: "Cron", cron: job.cron, timeZone }
  if (job?.interval !== undefined) return { _tag: "Every", interval: job.interval }
  if (collector.cron !== undefined) return { _tag: "Cron", cron: collector.cron, timeZone }
  return { _tag: "Every", interval: collector.defaultInterval }
}

/** The configured collectors (built from the config file, or supplied by tests). */
export class Collectors extends Context.Tag("rayinfo/Collectors")<Collectors, ReadonlyArray<ConfiguredCollector>>() {}

/** One schedulable job: a collector and one of its params (or none). */
export interface Instance {
  /** `collector` or `collector:param`. */
  readonly id: string
  readonly collector: Collector
  readonly param: string | undefined
  readonly timing: JobTiming
  readonly misfire: JobMisfire
  readonly concurrency: number
}

/**
 * The instances of the configured collectors, in configuration order. Two
 * instances with the same id are a programming error (the configuration
 * loader rejects them): it dies with an `IllegalArgumentException`.
 */
export const instancesOf = (collectors: ReadonlyArray<ConfiguredCollector>): ReadonlyArray<Instance> => {
  const instances = collectors.flatMap((
    { collector, concurrency, misfire = defaultMisfire }
  ): ReadonlyArray<Instance> =>
    collector.jobs === undefined || collector.jobs.length === 0
      ? [{
        id: instanceId(collector.name, undefined),
        collector,
        param: undefined,
        timing: timingOf(collector, undefined),
        misfire,
        concurrency
      }]
      : collector.jobs.map((job) => ({
        id: instanceId(collector.name, job.param),
        collector,
        param: job.param,
        timing: timingOf(collector, job),
        misfire,
        concurrency
      }))
  )
  const ids = new Set<string>()
  for (const instance of instances) {
    if (ids.has(instance.id)) {
      throw new Cause.IllegalArgumentException(`Two collector jobs have the instance id ${JSON.stringify(instance.id)}`)
    }
    ids.add(instance.id)
  }
  return instances
}

/** What one run did. */
export type RunOutcome = Data.TaggedEnum<{
  /** The run completed and was recorded; its counts. */
  Succeeded: { readonly instance: string; readonly startedAt: DateTime.Utc; readonly result: PipelineResult }
  /**
   * The run failed for a reason that passes (quota, HTTP 429/503, network,
   * a locked database): run again after `retryAfter` (already clamped to the
   * retry policy); the last run time is unchanged.
   */
  Retry: {
    readonly instance: string
    readonly startedAt: DateTime.Utc
    readonly error: string
    readonly retryAfter: Duration.Duration
  }
  /** The run failed, died or was interrupted from inside; the job runs again at its next interval. */
  Failed: { readonly instance: string; readonly startedAt: DateTime.Utc; readonly error: string }
  /** The run did not happen or was interrupted because the service is shutting down. */
  Cancelled: { readonly instance: string; readonly reason: string }
}>
export const RunOutcome = Data.taggedEnum<RunOutcome>()

/** No instance has this id. */
export class UnknownInstanceError extends Data.TaggedError("UnknownInstanceError")<{ readonly instance: string }> {
  override get message(): string {
    return `No collector instance ${JSON.stringify(this.instance)}`
  }
}

/** Counters over all runs since start. */
export interface RunCounters {
  readonly started: number
  readonly succeeded: number
  readonly failed: number
  readonly retried: number
  /** Runs dropped or interrupted by a shutdown. */
  readonly cancelled: number
  readonly inFlight: number
  readonly itemsStored: number
}

/** An outcome and when its run ended. */
export type EndedRun = RunOutcome & {
  /** When the run ended. */
  readonly at: DateTime.Utc
}

/**
 * An instance and what is known about it: its settings, whether it runs,
 * its stored state (`lastRunAt`, `runCount`, `errorCount`, `lastError`; as
 * for a job that never ran when the state is not recorded or cannot be read)
 * and its last outcome in this process.
 */
export interface InstanceInfo extends Pick<JobState, "lastRunAt" | "runCount" | "errorCount" | "lastError"> {
  readonly id: string
  readonly collector: string
  readonly param: Option.Option<string>
  readonly timing: JobTiming
  readonly misfire: JobMisfire
  readonly concurrency: number
  readonly running: boolean
  /** A manual run is waiting for its turn (further manual runs join it). */
  readonly manualRunQueued: boolean
  /** Why the stored state could not be read, if it could not. */
  readonly stateError: Option.Option<string>
  /** The last outcome in this process (also when it could not be recorded). */
  readonly lastOutcome: Option.Option<EndedRun>
}

/** The runner's operations. */
export interface CollectorRunnerService {
  /** The configured instances, in configuration order. */
  readonly instances: ReadonlyArray<Instance>
  /** The floor and cap of retry delays, for planning. */
  readonly retryPolicy: RetryPolicy
  /** The instance with this id. */
  readonly find: (id: string) => Effect.Effect<Instance, UnknownInstanceError>
  /**
   * Runs the instance once (a scheduled run): waits for the job's turn, runs,
   * records and reports the outcome. Never fails; `Cancelled` when the
   * runner is draining.
   */
  readonly run: (instance: Instance) => Effect.Effect<RunOutcome>
  /**
   * Runs the instance now, outside its schedule (a manual run). If a manual
   * run of it is already waiting for its turn, joins that one instead.
   * `Cancelled` when the runner is draining.
   */
  readonly runInstance: (id: string) => Effect.Effect<RunOutcome, UnknownInstanceError>
  /** Every instance and what is known about it, in configuration order. */
  readonly listInstances: Effect.Effect<ReadonlyArray<InstanceInfo>>
  /** Counters over all runs since the runner was built. */
  readonly counters: Effect.Effect<RunCounters>
  /** Whether `drain` has begun: no new run starts. */
  readonly draining: Effect.Effect<boolean>
  /**
   * Stops accepting runs, cancels the waiting ones and waits for the running
   * ones up to the shutdown timeout — or until `ForceShutdown` completes —
   * then interrupts them. Idempotent.
   */
  readonly drain: Effect.Effect<void>
}

/** The collector runner. */
export class CollectorRunner
  extends Context.Tag("rayinfo/CollectorRunner")<CollectorRunner, CollectorRunnerService>()
{}

/** Options of {@link make} and {@link layer}. */
export interface CollectorRunnerOptions {
  /** Floor and cap of retry delays. Default: {@link defaultRetryPolicy} (≥ 30 s, ≤ the job's interval). */
  readonly retry?: RetryPolicy | undefined
  /** How long `drain` waits for running collections before interrupting them. Default: 30 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

/** Default shutdown timeout: 30 seconds. */
export const defaultShutdownTimeout: Duration.Duration = Duration.seconds(30)

/** After interrupting the runs, how long `drain` waits for them to stop (their finalizers) before giving up. */
const INTERRUPT_GRACE = Duration.seconds(5)

/**
 * Runs `effect` in a fiber of its own, interruptible, and waits for it.
 * `drain` usually runs in a finalizer of a fiber that is being interrupted
 * (the service's main fiber on SIGTERM): there, a timeout could not stop a
 * wait (finalizers are uninterruptible), and an interruptible region would
 * end at once (the interruption is pending). A fresh fiber has neither.
 */
const detached = <A>(effect: Effect.Effect<A>): Effect.Effect<A> =>
  Effect.flatMap(Effect.forkDaemon(Effect.interruptible(effect)), Fiber.join)

/** One line saying what went wrong, from a run's cause. */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return error instanceof Error || (typeof error === "object" && error !== null && "message" in error)
      ? String((error as { readonly message: unknown }).message)
      : String(error)
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const value = defect.value
    return `defect: ${value instanceof Error ? `${value.name}: ${value.message}` : String(value)}`
  }
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  return Cause.pretty(cause).split("\n")[0] ?? "unknown failure"
}

interface Live {
  readonly instance: Instance
  /** One run of the job at a time in this process. */
  readonly lock: Effect.Semaphore
  /** The outcome of the manual run waiting for its turn, if any: further triggers join it. */
  queuedManual: Option.Option<Deferred.Deferred<RunOutcome>>
  /** When the current run started (epoch ms); none when not running. */
  runningSince: Option.Option<number>
  lastOutcome: Option.Option<EndedRun>
}

/** What started a run: its schedule, or a manual trigger (with the outcome its callers wait for). */
type Trigger = { readonly _tag: "Scheduled" } | {
  readonly _tag: "Manual"
  readonly outcome: Deferred.Deferred<RunOutcome>
}

const scheduled: Trigger = { _tag: "Scheduled" }

/** Builds the runner over the configured collectors; its runs are interrupted when the scope closes. */
export const make = (
  options: CollectorRunnerOptions = {}
): Effect.Effect<CollectorRunnerService, never, Collectors | Pipeline | JobStateStore | Leases | Scope.Scope> =>
  Effect.gen(function*() {
    const collectors = yield* Collectors
    const pipeline = yield* Pipeline
    const store = yield* JobStateStore
    const leases = yield* Leases
    const force = yield* ForceShutdown
    const policy = options.retry ?? defaultRetryPolicy
    const shutdownTimeout = Duration.decode(options.shutdownTimeout ?? defaultShutdownTimeout)
    const instances = instancesOf(collectors)
    const live = new Map<string, Live>()
    for (const instance of instances) {
      live.set(instance.id, {
        instance,
        lock: yield* Effect.makeSemaphore(1),
        queuedManual: Option.none(),
        runningSince: Option.none(),
        lastOutcome: Option.none()
      })
    }
    const runs = yield* FiberSet.make<RunOutcome>()
    const closing = yield* Deferred.make<void>()
    const self = ProcessOwner.describe(ProcessOwner.current())
    const counters = { started: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, itemsStored: 0 }

    const cancelled = (instance: Instance) =>
      RunOutcome.Cancelled({ instance: instance.id, reason: "the service is shutting down" })

    /** Fetch → pipeline, classified. */
    const execute = (instance: Instance, startedAt: DateTime.Utc): Effect.Effect<RunOutcome> =>
      Effect.gen(function*() {
        // a span per fetch (through the pipeline): the collector, the job, what it stored or why it failed
        const exit = yield* Effect.exit(
          pipeline.run(instance.collector.fetch(instance.param)).pipe(
            Effect.tap((result) =>
              Effect.annotateCurrentSpan({
                "rayinfo.received": result.received,
                "rayinfo.stored": result.stored,
                "rayinfo.duplicates": result.duplicates
              })
            ),
            Effect.withSpan("RayInfo.fetch", {
              attributes: { "rayinfo.collector": instance.collector.name, "rayinfo.instance": instance.id }
            })
          )
        )
        if (Exit.isSuccess(exit)) return RunOutcome.Succeeded({ instance: instance.id, startedAt, result: exit.value })
        const error = Cause.failureOption(exit.cause)
        const message = describeCause(exit.cause)
        if (Option.isSome(error) && error.value._tag === "RetryableCollectorError") {
          return RunOutcome.Retry({
            instance: instance.id,
            startedAt,
            error: message,
            retryAfter: retryDelay(error.value.retryAfter, retryCapBase(instance.timing), policy)
          })
        }
        if (Option.isSome(error) && error.value._tag === "StorageError") {
          return RunOutcome.Retry({
            instance: instance.id,
            startedAt,
            error: message,
            retryAfter: retryDelay(Duration.zero, retryCapBase(instance.timing), policy)
          })
        }
        if (Cause.isDie(exit.cause) || Cause.isInterrupted(exit.cause)) {
          yield* Effect.logError(`${instance.id}: run died`, exit.cause)
        }
        return RunOutcome.Failed({ instance: instance.id, startedAt, error: message })
      })

    /** Stores the outcome in the job state; a failure to do so changes the outcome. */
    const record = (instance: Instance, outcome: RunOutcome): Effect.Effect<RunOutcome> =>
      Effect.gen(function*() {
        if (outcome._tag === "Cancelled") return outcome
        const at = yield* DateTime.now
        const exit = yield* Effect.exit(
          outcome._tag === "Succeeded"
            ? store.recordSuccess(instance.id, outcome.startedAt)
            : store.recordFailure(instance.id, at, outcome.error)
        )
        if (Exit.isSuccess(exit)) return outcome
        const failure = `recording the outcome (${outcome._tag.toLowerCase()}) failed: ${describeCause(exit.cause)}`
        const error = outcome._tag === "Succeeded" ? failure : `${outcome.error}; ${failure}`
        if (Cause.isDie(exit.cause)) yield* Effect.logError(`${instance.id}: ${failure}`, exit.cause)
        const storageError = Option.exists(Cause.failureOption(exit.cause), (e) => e._tag === "StorageError")
        return storageError || outcome._tag === "Retry"
          ? RunOutcome.Retry({
            instance: instance.id,
            startedAt: outcome.startedAt,
            error,
            retryAfter: outcome._tag === "Retry"
              ? outcome.retryAfter
              : retryDelay(Duration.zero, retryCapBase(instance.timing), policy)
          })
          : RunOutcome.Failed({ instance: instance.id, startedAt: outcome.startedAt, error })
      })

    /** Counts, remembers and logs an outcome. */
    const report = (entry: Live, outcome: RunOutcome) =>
      Effect.gen(function*() {
        const id = entry.instance.id
        entry.lastOutcome = Option.some({ ...outcome, at: yield* DateTime.now })
        yield* AppMetrics.recordRun(
          entry.instance.collector.name,
          outcome._tag === "Succeeded"
            ? "succeeded"
            : outcome._tag === "Retry"
            ? "retry"
            : outcome._tag === "Failed"
            ? "failed"
            : "cancelled",
          outcome._tag === "Succeeded" ? outcome.result.stored : 0
        )
        switch (outcome._tag) {
          case "Succeeded": {
            counters.succeeded++
            counters.itemsStored += outcome.result.stored
            const { duplicates, received, stored } = outcome.result
            return yield* Effect.logInfo(`${id}: ${stored} new, ${duplicates} duplicate, ${received} received`)
          }
          case "Retry":
            counters.retried++
            return yield* Effect.logWarning(
              `${id}: ${outcome.error}; retrying in ${Duration.format(outcome.retryAfter)}`
            )
          case "Failed":
            counters.failed++
            return yield* Effect.logError(`${id}: run failed: ${outcome.error}`)
          case "Cancelled":
            counters.cancelled++
            return yield* Effect.logInfo(`${id}: run cancelled: ${outcome.reason}`)
        }
      })

    /** Waits for `effect` unless draining begins first (then none). */
    const unlessClosing = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.raceFirst(Effect.asSome(effect), Effect.as(Deferred.await(closing), Option.none<A>()))

    /** A whole run, from waiting for its turn to the reported outcome. Never fails. */
    const runEntry = (entry: Live, trigger: Trigger): Effect.Effect<RunOutcome> =>
      Effect.gen(function*() {
        const { instance } = entry
        // interruptible wait for the lock (acquireRelease would make it uninterruptible), released with the scope
        const turn = yield* unlessClosing(Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(restore(entry.lock.take(1)), Effect.addFinalizer(() => entry.lock.release(1)))
        ))
        // a manual run that got its turn (or was dropped) is no longer the one to join
        if (
          trigger._tag === "Manual" && Option.exists(entry.queuedManual, (queued) =>
            queued === trigger.outcome)
        ) {
          entry.queuedManual = Option.none()
        }
        if (Option.isNone(turn)) return yield* Effect.as(report(entry, cancelled(instance)), cancelled(instance))
        const lease = yield* unlessClosing(
          leases.acquire(`job:${instance.id}`, {
            description: `a ${trigger._tag === "Manual" ? "manual" : "scheduled"} run of ${instance.id} (${self})`,
            onWait: (holder) =>
              Effect.logInfo(`${instance.id} is being run by ${holder.description}; waiting for it to finish`)
          })
        ).pipe(Effect.either)
        if (lease._tag === "Right" && Option.isNone(lease.right)) {
          return yield* Effect.as(report(entry, cancelled(instance)), cancelled(instance))
        }
        const startedAt = yield* DateTime.now
        counters.started++
        entry.runningSince = Option.some(DateTime.toEpochMillis(startedAt))
        yield* Effect.addFinalizer(() => Effect.sync(() => (entry.runningSince = Option.none())))
        const outcome = lease._tag === "Left"
          ? RunOutcome.Retry({
            instance: instance.id,
            startedAt,
            error: lease.left.message,
            retryAfter: retryDelay(Duration.zero, retryCapBase(instance.timing), policy)
          })
          : yield* Effect.flatMap(execute(instance, startedAt), (outcome) => record(instance, outcome))
        yield* report(entry, outcome)
        return outcome
      }).pipe(
        Effect.scoped,
        // The supervision boundary: anything unexpected above still ends in an outcome.
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            yield* Effect.logError(`${entry.instance.id}: run died`, cause)
            const outcome = RunOutcome.Failed({
              instance: entry.instance.id,
              startedAt: yield* DateTime.now,
              error: describeCause(cause)
            })
            yield* report(entry, outcome)
            return outcome
          })
        ),
        Effect.annotateLogs({ module: "CollectorRunner", instance: entry.instance.id })
      )

    const interruptedByShutdown = (entry: Live) =>
      RunOutcome.Cancelled({ instance: entry.instance.id, reason: "interrupted by the shutdown" })

    /**
     * Forks a run into the runner's fiber set; its outcome, once it ends. A
     * run fiber interrupted by `drain` is a cancelled run.
     */
    const fork = (entry: Live, trigger: Trigger): Effect.Effect<Effect.Effect<RunOutcome>> =>
      Effect.map(
        FiberSet.run(
          runs,
          // interruptible whatever the caller's region (`trigger` forks from an uninterruptible one)
          Effect.interruptible(runEntry(entry, trigger)).pipe(
            Effect.onExit((exit) =>
              Effect.gen(function*() {
                if (Exit.isFailure(exit)) {
                  counters.cancelled++
                  entry.lastOutcome = Option.some({ ...interruptedByShutdown(entry), at: yield* DateTime.now })
                }
                if (trigger._tag === "Manual") {
                  yield* Deferred.succeed(
                    trigger.outcome,
                    Exit.isSuccess(exit) ? exit.value : interruptedByShutdown(entry)
                  )
                }
              })
            )
          )
        ),
        (fiber) =>
          Effect.map(Fiber.await(fiber), (exit) => Exit.isSuccess(exit) ? exit.value : interruptedByShutdown(entry))
      )

    const run = (instance: Instance): Effect.Effect<RunOutcome> =>
      Effect.suspend(() => {
        const entry = live.get(instance.id)
        if (entry === undefined) {
          return Effect.die(new Cause.IllegalArgumentException(`unknown collector instance ${instance.id}`))
        }
        return Effect.flatMap(Deferred.isDone(closing), (done) =>
          done ? Effect.succeed(cancelled(instance)) : Effect.flatten(fork(entry, scheduled)))
      }).pipe(Effect.withSpan("CollectorRunner.run", { attributes: { instance: instance.id } }))

    const find = (id: string) =>
      Effect.suspend(() => {
        const entry = live.get(id)
        return entry === undefined
          ? Effect.fail(new UnknownInstanceError({ instance: id }))
          : Effect.succeed(entry.instance)
      })

    const runInstance = (id: string): Effect.Effect<RunOutcome, UnknownInstanceError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const entry = live.get(id)
          if (entry === undefined) return yield* new UnknownInstanceError({ instance: id })
          if (yield* Deferred.isDone(closing)) return cancelled(entry.instance)
          if (Option.isSome(entry.queuedManual)) return yield* restore(Deferred.await(entry.queuedManual.value))
          // queued (in the same synchronous step as the check) before the run is forked, so that no
          // other trigger queues a second one; not interruptible until forked, so it always completes
          const outcome = Deferred.unsafeMake<RunOutcome>(FiberId.none)
          entry.queuedManual = Option.some(outcome)
          yield* fork(entry, { _tag: "Manual", outcome })
          return yield* restore(Deferred.await(outcome))
        })
      ).pipe(Effect.withSpan("CollectorRunner.runInstance", { attributes: { instance: id } }))

    const runningNow = (now: number) =>
      instances.flatMap((instance) => {
        const since = live.get(instance.id)!.runningSince
        return Option.isSome(since)
          ? [`${instance.id} (running for ${Duration.format(Duration.millis(now - since.value))})`]
          : []
      })

    const drain = Effect.gen(function*() {
      if (!(yield* Deferred.succeed(closing, undefined))) return yield* FiberSet.awaitEmpty(runs)
      const now = DateTime.toEpochMillis(yield* DateTime.now)
      const running = runningNow(now)
      if (running.length === 0 && (yield* FiberSet.size(runs)) === 0) return
      if (running.length > 0) {
        yield* Effect.logInfo(
          `waiting up to ${Duration.format(shutdownTimeout)} for ${running.length} running collection(s): ` +
            `${running.join(", ")} (a second signal interrupts them now)`
        )
      }
      const finished = yield* detached(
        FiberSet.awaitEmpty(runs).pipe(
          Effect.as("finished" as const),
          Effect.timeoutTo({ duration: shutdownTimeout, onSuccess: (a) => a, onTimeout: () => "timeout" as const }),
          Effect.raceFirst(Effect.as(force, "forced" as const))
        )
      )
      if (finished === "finished") return
      const still = runningNow(DateTime.toEpochMillis(yield* DateTime.now))
      yield* Effect.logWarning(
        `interrupting ${still.length} running collection(s) ${
          finished === "forced" ? "at once (second signal)" : `after ${Duration.format(shutdownTimeout)}`
        }: ${still.join(", ")}`
      )
      const stopped = yield* detached(FiberSet.clear(runs).pipe(Effect.timeout(INTERRUPT_GRACE), Effect.option))
      if (Option.isNone(stopped)) {
        yield* Effect.logError(
          `some collections did not stop within ${Duration.format(INTERRUPT_GRACE)} of being interrupted`
        )
      }
    }).pipe(Effect.annotateLogs({ module: "CollectorRunner" }), Effect.withSpan("CollectorRunner.drain"))

    const describe = (instance: Instance): Effect.Effect<InstanceInfo> =>
      Effect.map(Effect.either(store.get(instance.id)), (read): InstanceInfo => {
        const entry = live.get(instance.id)!
        const state = Option.getOrElse(Either.getRight(read).pipe(Option.flatten), () => emptyState(instance.id))
        return {
          id: instance.id,
          collector: instance.collector.name,
          param: Option.fromNullable(instance.param),
          timing: instance.timing,
          misfire: instance.misfire,
          concurrency: instance.concurrency,
          running: Option.isSome(entry.runningSince),
          manualRunQueued: Option.isSome(entry.queuedManual),
          lastRunAt: state.lastRunAt,
          runCount: state.runCount,
          errorCount: state.errorCount,
          lastError: state.lastError,
          stateError: Option.map(Either.getLeft(read), (error) => error.message),
          lastOutcome: entry.lastOutcome
        }
      })

    yield* Effect.addFinalizer(() => drain)

    return {
      instances,
      retryPolicy: policy,
      find,
      run,
      runInstance,
      listInstances: Effect.forEach(instances, describe).pipe(Effect.withSpan("CollectorRunner.listInstances")),
      counters: Effect.sync(() => ({
        ...counters,
        inFlight: instances.filter((i) => Option.isSome(live.get(i.id)!.runningSince)).length
      })),
      draining: Deferred.isDone(closing),
      drain
    }
  })

/** The runner as a layer (its runs are drained when the layer is released). */
export const layer = (
  options: CollectorRunnerOptions = {}
): Layer.Layer<CollectorRunner, never, Collectors | Pipeline | JobStateStore | Leases> =>
  Layer.scoped(CollectorRunner, make(options))
