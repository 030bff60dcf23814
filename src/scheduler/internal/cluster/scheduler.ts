/**
 * The cluster layer's `Scheduler` service on a runner (or a client-only
 * instance) of @effect/cluster: submits are a task row and a `Run` message
 * committed together, runs happen in the source entity (`source.ts`) on the
 * runner that holds the source's shard. See docs/architecture.md, "The
 * cluster layer", and docs/cluster.md.
 *
 * @internal
 */
import * as EntityAddress from "@effect/cluster/EntityAddress"
import * as EntityId from "@effect/cluster/EntityId"
import * as Envelope from "@effect/cluster/Envelope"
import * as Message from "@effect/cluster/Message"
import type * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as Headers from "@effect/platform/Headers"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { ClusterSchedulerOptions as PublicOptions } from "../../ClusterScheduler.js"
import type { ConsumerRegistry } from "../../ConsumerRegistry.js"
import {
  Scheduler,
  type SchedulerService,
  type SchedulerStats,
  type SourceStats,
  type TaskInfo
} from "../../Scheduler.js"
import { Task } from "../../Task.js"
import { olderThanMillis } from "../backend.js"
import { tracingEnabled } from "../consumer.js"
import { Counters } from "../counters.js"
import { SourceMetrics } from "../metrics.js"
import { invalidOption, notATask } from "../scheduler.js"
import { declare, encodeDeclaration, InvalidScheduleError } from "../schedules.js"
import { taskOfRow } from "../sqlStore.js"
import { byId, pageOf, resolveTaskQuery } from "../taskQuery.js"
import * as DueTimer from "./dueTimer.js"
import * as Schedules from "./schedules.js"
import * as Source from "./source.js"
import { ClusterStorage, missingStorageMessage } from "./storage.js"
import type * as Store from "./store.js"

/** Options of `ClusterScheduler.layer`, and a report of each run (tests). @internal */
export interface ClusterSchedulerOptions extends PublicOptions {
  readonly onRun?: ((report: Source.RunReport) => Effect.Effect<void>) | undefined
}

const where = "ClusterScheduler.layer"

const resolve = (options: ClusterSchedulerOptions) => {
  const shutdownTimeout = Duration.decodeUnknown(options.shutdownTimeout ?? Duration.infinity)
  if (Option.isNone(shutdownTimeout)) invalidOption("shutdownTimeout", "a duration", options.shutdownTimeout, where)
  const grace = Duration.decodeUnknown(options.noConsumerGrace ?? Duration.seconds(30))
  if (Option.isNone(grace) || !Duration.isFinite(grace.value)) {
    invalidOption("noConsumerGrace", "a finite duration", options.noConsumerGrace, where)
  }
  const runnerName = options.runnerName ??
    (typeof process === "object" ? `${process.env.HOSTNAME ?? "runner"}:${process.pid}` : "runner")
  if (typeof runnerName !== "string" || runnerName.length === 0) {
    invalidOption("runnerName", "a non-empty string", runnerName, where)
  }
  const retention = Duration.decodeUnknown(options.messageRetention ?? Duration.days(1))
  if (Option.isNone(retention)) invalidOption("messageRetention", "a duration", options.messageRetention, where)
  if (options.metrics !== undefined && typeof options.metrics !== "boolean") {
    invalidOption("metrics", "true or false", options.metrics, where)
  }
  return {
    metrics: options.metrics === true,
    retentionMillis: Duration.toMillis(Option.getOrThrow(retention)),
    autoStart: options.autoStart !== false,
    shutdownTimeout: Option.getOrThrow(shutdownTimeout),
    noConsumerGraceMillis: Duration.toMillis(Option.getOrThrow(grace)),
    runnerName
  }
}

const missingStorage = () => Effect.dieMessage(missingStorageMessage(where))

/**
 * Stores a `Run` message as @effect/cluster's client would (same envelope,
 * same row), without telling its runner: in a transaction a runner's read
 * could not see it yet, and telling a remote runner is a round trip per
 * message (it made a submit 2-3 times slower). The caller tells the
 * sources' runners after the commit (`Wake`, or `pollStorage` for this
 * runner's own sources).
 */
const saveRunWith =
  (sharding: Sharding.Sharding["Type"], messages: MessageStorage.MessageStorage["Type"]) =>
  (message: Source.RunMessage) =>
    Effect.gen(function*() {
      const entityId = EntityId.make(message.task.source)
      const address = EntityAddress.make({
        shardId: sharding.getShardId(entityId, Source.SourceEntity.getShardGroup(entityId)),
        entityType: Source.SourceEntity.type,
        entityId
      })
      yield* messages.saveRequest(
        new Message.OutgoingRequest({
          envelope: Envelope.makeRequest<typeof Source.Run>({
            requestId: yield* sharding.getSnowflake,
            address,
            tag: "Run",
            payload: message,
            headers: Headers.empty
          }),
          lastReceivedReply: Option.none(),
          rpc: Source.Run,
          context: Context.empty() as Context.Context<never>,
          respond: () => Effect.void
        })
      )
    })

/** The per-runner state shared by the service and the source entity's handlers. */
const makeLocal = (options: ReturnType<typeof resolve>, onRun: ClusterSchedulerOptions["onRun"]) =>
  Effect.gen(function*() {
    const storage = yield* Effect.serviceOption(ClusterStorage)
    if (Option.isNone(storage)) return yield* missingStorage()
    const sharding = yield* Sharding.Sharding
    const client = yield* Source.SourceEntity.client
    const saveRun = saveRunWith(sharding, storage.value.messages)
    const bySource = new Map<string, Counters>()
    const gates = new Map<string, Source.Gate>()
    const local: Source.Local = {
      store: storage.value.store,
      runner: options.runnerName,
      total: new Counters(),
      counters: (source) => {
        let c = bySource.get(source)
        // the runs of this runner; no pending/running gauges (the cluster's counts are in the tasks table)
        if (c === undefined) {
          bySource.set(source, c = new Counters(options.metrics ? SourceMetrics.of(source, false) : undefined))
        }
        return c
      },
      running: new Map(),
      started: new Source.Gate(false),
      gate: (source) => {
        let g = gates.get(source)
        if (g === undefined) gates.set(source, g = new Source.Gate(true))
        return g
      },
      noConsumerGraceMillis: options.noConsumerGraceMillis,
      send: (message) => saveRun(message),
      waiting: 0,
      onRun,
      tracing: yield* tracingEnabled,
      metrics: options.metrics
    }
    return { local, bySource, sharding, client, timer: storage.value.timer }
  })

const isTask = Schema.is(Task)

/**
 * A task's row as `tasks` shows it: running once claimed (`started_ms`),
 * at its run number (`attempt`: 2 and more for a retry); none if corrupt.
 */
const infoOfRow = (row: Store.ClusterTaskRow): TaskInfo | undefined => {
  const task = taskOfRow(row)
  if (task === undefined) return undefined
  return {
    task,
    state: row.started_ms === null ? "pending" : "running",
    dueAt: task.scheduleAt,
    attempt: Number(row.attempt)
  }
}

/** Fails a transaction (a rollback) without an error of the store. */
class Conflict {
  readonly _tag = "Conflict"
}

/** The service (see `ClusterScheduler.layer`). @internal */
export const layer = (
  options: ClusterSchedulerOptions = {}
): Layer.Layer<Scheduler, never, ConsumerRegistry | Sharding.Sharding> =>
  Layer.scoped(
    Scheduler,
    Effect.gen(function*() {
      const settings = resolve(options)
      const { bySource, client, local, sharding, timer } = yield* makeLocal(settings, options.onRun)
      const { store } = local
      const scope = yield* Effect.scope
      yield* DueTimer.loop(sharding, timer)
      // the source entity, registered on this runner (nothing for a client-only instance: no shards)
      yield* Layer.buildWithScope(Source.layer.pipe(Layer.provide(Layer.succeed(Source.LocalState, local))), scope)

      /**
       * Tells the runners holding `sources` to read their due messages (after
       * a commit; best effort). Awaited: a forked wake died with a
       * client-only instance closed right after its submit, and the task
       * waited for its runner's poll (10 s).
       */
      const wake = (sources: Iterable<string>) =>
        Effect.forEach(
          new Set(sources),
          (source) =>
            client(source).Wake().pipe(
              Effect.timeout("5 seconds"),
              Effect.catchAllCause((cause) =>
                Effect.logDebug("Scheduler: waking a source's runner failed; its poll reads the task", cause)
              )
            ),
          { concurrency: 8, discard: true }
        )

      const orDieSql = <A, E>(operation: string, effect: Effect.Effect<A, E>) =>
        Effect.catchAllCause(effect, (cause) =>
          Effect.die(
            new Cause.RuntimeException(`Scheduler.${operation}: the cluster's database failed: ${Cause.pretty(cause)}`)
          ))

      const newToken = Effect.map(sharding.getSnowflake, String)

      /** Adds the tasks whose id is free, rows and messages, in the caller's transaction; the tasks added. */
      const submitTx = (tasks: ReadonlyArray<Task>) =>
        Effect.gen(function*() {
          const tokens = new Map<Task, string>()
          for (const task of tasks) tokens.set(task, yield* newToken)
          const ids = yield* store.insert(tasks, (task) => tokens.get(task)!)
          const seen = new Set<string>()
          const added: Array<Task> = []
          for (const task of tasks) {
            if (ids.has(task.id) && !seen.has(task.id)) {
              seen.add(task.id)
              added.push(task)
            }
          }
          yield* Effect.forEach(
            added,
            (task) => local.send(new Source.RunMessage({ task, token: tokens.get(task)!, attempt: 1 })),
            { discard: true } // one at a time: the transaction has one connection
          )
          for (const task of added) {
            local.total.submitted++
            local.counters(task.source).submitted++
          }
          const duplicates = tasks.length - added.length
          local.total.duplicates += duplicates
          if (duplicates > 0) {
            const addedSet = new Set(added)
            for (const task of tasks) if (!addedSet.has(task)) local.counters(task.source).duplicates++
          }
          return added
        })

      const submitAll = (operation: string, input: Iterable<Task>) =>
        Effect.gen(function*() {
          let tasks: Array<Task>
          try {
            tasks = Array.from(input)
          } catch (error) {
            return yield* Effect.die(error)
          }
          for (let i = 0; i < tasks.length; i++) {
            if (!isTask(tasks[i])) return yield* notATask(operation, tasks[i], operation === "submit" ? undefined : i)
          }
          if (tasks.length === 0) return
          const added = yield* orDieSql(operation, store.sql.withTransaction(submitTx(tasks)))
          yield* wake(added.map((task) => task.source))
        })

      // the cluster's schedules: hosted by one runner (the one holding their entity), reached by rpcs
      yield* Layer.buildWithScope(
        Schedules.layer.pipe(Layer.provide(Layer.succeed(Schedules.HostState, {
          store,
          submitTx,
          wake,
          endPollMillis: 1000,
          retentionMillis: settings.retentionMillis
        }))),
        scope
      )
      const host = (yield* Schedules.SchedulesEntity.client)(Schedules.hostId)
      // every instance activates the host (the runner holding it then keeps it alive); retried until it answers
      yield* host.Ping().pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("Scheduler: reaching the schedules' host failed", cause)),
        Effect.retry(Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
        Effect.forkIn(scope)
      )
      /** A schedules rpc: its transport failures are defects. */
      const viaHost = <A, E>(operation: string, effect: Effect.Effect<A, E>) =>
        Effect.catchIf(
          effect,
          (e): e is Exclude<E, string> => typeof e !== "string",
          (e) =>
            Effect.die(new Cause.RuntimeException(`Scheduler.${operation}: the schedules' host failed: ${String(e)}`))
        )

      const start = Effect.sync(() => local.started.open())

      const stop = Effect.gen(function*() {
        local.started.close()
        const runs = Array.from(local.running.values())
        if (runs.length === 0) return
        const ended = Fiber.awaitAll(runs.map((r) => r.fiber))
        const timedOut = Option.isNone(yield* Effect.timeoutOption(ended, settings.shutdownTimeout))
        if (timedOut) {
          for (const run of runs) run.stopped = true
          yield* Fiber.interruptAll(runs.map((r) => r.fiber))
        }
      })

      const stats = Effect.gen(function*() {
        const counts = yield* orDieSql("stats", store.countsBySource)
        const deadLetters = yield* orDieSql("stats", store.deadLetterCount)
        const next = yield* orDieSql("stats", store.nextDue)
        const view = (c: Counters, pending: number, running: number): SourceStats => ({
          ...c.toStats(),
          pending,
          inFlight: running
        })
        const out: Record<string, SourceStats> = {}
        let pending = 0
        let running = 0
        for (const [source, n] of counts) {
          pending += n.pending
          running += n.running
          out[source] = view(local.counters(source), n.pending, n.running)
        }
        for (const [source, c] of bySource) {
          if (out[source] === undefined) out[source] = view(c, 0, 0)
        }
        return {
          ...view(local.total, pending, running),
          running: local.started.isOpen,
          waiting: local.waiting,
          clockJumps: 0,
          deadLetters,
          nextAt: next === undefined ? Option.none() : Option.some(DateTime.unsafeMake(next)),
          bySource: out
        } satisfies SchedulerStats
      })

      /**
       * A transaction that stores a task's new message; `false` when `body`
       * finds nothing to send (or fails with `Conflict`: a rollback).
       */
      const resend = <E>(operation: string, body: (token: string) => Effect.Effect<Task | undefined, E>) =>
        Effect.gen(function*() {
          const token = yield* newToken
          const task = yield* orDieSql(
            operation,
            store.sql.withTransaction(Effect.gen(function*() {
              const task = yield* body(token)
              if (task !== undefined) yield* local.send(new Source.RunMessage({ task, token, attempt: 1 }))
              return task
            })).pipe(Effect.catchIf((e) => e instanceof Conflict, () => Effect.succeed(undefined)))
          )
          if (task === undefined) return false
          yield* wake([task.source])
          return true
        })

      const service: SchedulerService = {
        submit: (task) => submitAll("submit", [task]),
        submitAll: (tasks) => submitAll("submitAll", tasks),
        start,
        stop,
        isRunning: Effect.sync(() => local.started.isOpen),
        pending: orDieSql("pending", store.pendingCount),
        nextAt: Effect.map(
          orDieSql("nextAt", store.nextDue),
          (next) => next === undefined ? Option.none() : Option.some(DateTime.unsafeMake(next))
        ),
        stats,
        deadLetters: orDieSql("deadLetters", store.deadLetters),
        replay: (taskId) =>
          resend("replay", (token) =>
            Effect.gen(function*() {
              const task = yield* store.takeDeadLetter(taskId)
              if (task === undefined) return undefined
              const now = yield* Clock.currentTimeMillis
              const again = new Task({
                id: task.id,
                source: task.source,
                args: task.args,
                scheduleAt: DateTime.unsafeMake(now)
              }, true)
              const added = yield* store.insert([again], () => token)
              if (added.size === 0) return yield* Effect.fail(new Conflict()) // pending or running: keep the dead letter
              return again
            })),
        purgeDeadLetters: (olderThan) =>
          Effect.gen(function*() {
            const age = olderThanMillis(olderThan)
            const bound = age === undefined ? undefined : (yield* Clock.currentTimeMillis) - age
            return yield* orDieSql("purgeDeadLetters", store.purgeDeadLetters(bound))
          }),
        pause: (source) => setPaused(source, true),
        resume: (source) => setPaused(source, false),
        paused: orDieSql("paused", store.paused),
        cancel: (taskId) =>
          Effect.gen(function*() {
            const removed = yield* orDieSql("cancel", store.remove(taskId))
            if (removed === undefined) return false
            if (removed.running) {
              // its runner interrupts the run and answers once it ended
              yield* client(removed.source).Cancel({ taskId }).pipe(
                Effect.catchAllCause((cause) =>
                  Effect.logWarning("Scheduler: the cancelled task's runner did not answer; its row is gone", cause)
                )
              )
            } else {
              local.total.cancelled++
              local.counters(removed.source).cancelled++
            }
            return true
          }),
        reschedule: (taskId, scheduleAt) =>
          resend("reschedule", (token) => store.move(taskId, DateTime.toEpochMillis(scheduleAt), token)),
        schedule: (options) =>
          Effect.gen(function*() {
            const decl = yield* declare(options)
            yield* viaHost(
              "schedule",
              host.Declare({ id: decl.id, spec: encodeDeclaration(decl), startMillis: decl.startMillis })
            ).pipe(Effect.mapError((reason) => new InvalidScheduleError({ id: decl.id, reason })))
          }),
        unschedule: (id) => viaHost("unschedule", host.Unschedule({ id })),
        schedules: Effect.map(viaHost("schedules", host.List()), (infos) => infos.map(Schedules.fromJson)),
        tasks: (query) =>
          // (due, id) order: the cluster's tasks have no submission sequence (a cursor of the local layers' is invalid here)
          Effect.flatMap(resolveTaskQuery(query, byId), (q) =>
            Effect.map(
              orDieSql("tasks", store.page(q, q.limit + 1)),
              (rows) =>
                pageOf(
                  byId,
                  rows.flatMap((row) => {
                    const info = infoOfRow(row)
                    return info === undefined ? [] : [{ info, dueMillis: Number(row.due_ms), id: row.id }]
                  }),
                  q.limit,
                  (item) => item.info
                )
            )),
        task: (id) =>
          typeof id === "string" && id.length > 0
            ? Effect.map(
              orDieSql("task", store.find(id)),
              (row) => Option.fromNullable(row === undefined ? undefined : infoOfRow(row))
            )
            : Effect.succeed(Option.none())
      }

      function setPaused(source: string, paused: boolean) {
        return Effect.gen(function*() {
          yield* orDieSql(paused ? "pause" : "resume", store.setPaused(source, paused))
          yield* client(source).SetPaused({ paused }).pipe(
            Effect.timeout("10 seconds"),
            Effect.catchAllCause((cause) =>
              Effect.logWarning(
                "Scheduler: the source's runner did not answer; it reads the pause when it starts",
                cause
              )
            )
          )
        })
      }

      yield* Effect.addFinalizer(() => stop)
      if (settings.autoStart) yield* start
      return service
    })
  )
