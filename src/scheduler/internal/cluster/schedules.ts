/**
 * The cluster layer's schedules: one host for the whole cluster, the
 * entity `RaySchedulerSchedules` (id `all`) running the local layers'
 * schedules (`../schedules.ts`) over the table `<prefix>_schedules`. The
 * entity starts them when it is activated (every instance pings it at its
 * start) and keeps itself alive with @effect/cluster's `Entity.keepAlive`,
 * a persisted message left unprocessed while the entity lives: when its
 * runner dies, that message activates the entity on the runner that takes
 * it over — a durable singleton. An occurrence fires in one transaction that moves the
 * schedule's next occurrence only if no one else did (compare-and-set) and
 * submits its task: an occurrence becomes a task once in the cluster, even
 * if two hosts overlap for a moment. See docs/architecture.md, "The cluster
 * layer".
 *
 * @internal
 */
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { ScheduleInfo, ScheduleOptions } from "../../Scheduler.js"
import type { JsonObject, Task } from "../../Task.js"
import {
  type Declaration,
  decodeDeclaration,
  makeSchedules,
  type ScheduleRow,
  type Schedules,
  type ScheduleStore
} from "../schedules.js"
import type { ClusterStore } from "./store.js"

/** Activates the host (a no-op rpc). @internal */
export const Ping = Rpc.make("Ping")

/** A validated declaration (`encodeDeclaration`) and its `startAt`. @internal */
export const Declare = Rpc.make("Declare", {
  payload: { id: Schema.String, spec: Schema.String, startMillis: Schema.optional(Schema.Number) },
  error: Schema.String
})

/** @internal */
export const Unschedule = Rpc.make("Unschedule", { payload: { id: Schema.String }, success: Schema.Boolean })

/** A schedule's `ScheduleInfo` as JSON (`args` as JSON text; `graceMillis` absent: no limit). @internal */
export const InfoJson = Schema.Struct({
  id: Schema.String,
  source: Schema.String,
  args: Schema.String,
  cron: Schema.optional(Schema.String),
  everyMillis: Schema.optional(Schema.Number),
  timeZone: Schema.String,
  policy: Schema.Literal("coalesce", "all", "skip"),
  graceMillis: Schema.optional(Schema.Number),
  nextRun: Schema.Number,
  current: Schema.optional(Schema.String),
  runs: Schema.Number,
  skippedOverlap: Schema.Number,
  skippedMissed: Schema.Number
})

/** @internal */
export const toJson = (info: ScheduleInfo): typeof InfoJson.Type => ({
  id: info.id,
  source: info.source,
  args: JSON.stringify(info.args),
  cron: info.cron,
  everyMillis: info.every === undefined ? undefined : Duration.toMillis(info.every),
  timeZone: info.timeZone,
  policy: info.misfire.policy,
  graceMillis: Duration.isFinite(info.misfire.grace) ? Duration.toMillis(info.misfire.grace) : undefined,
  nextRun: DateTime.toEpochMillis(info.nextRun),
  current: info.current,
  runs: info.runs,
  skippedOverlap: info.skippedOverlap,
  skippedMissed: info.skippedMissed
})

/** @internal */
export const fromJson = (json: typeof InfoJson.Type): ScheduleInfo => ({
  id: json.id,
  source: json.source,
  args: JSON.parse(json.args) as JsonObject,
  cron: json.cron,
  every: json.everyMillis === undefined ? undefined : Duration.millis(json.everyMillis),
  timeZone: json.timeZone,
  misfire: {
    policy: json.policy,
    grace: json.graceMillis === undefined ? Duration.infinity : Duration.millis(json.graceMillis)
  },
  nextRun: DateTime.unsafeMake(json.nextRun),
  current: json.current,
  runs: json.runs,
  skippedOverlap: json.skippedOverlap,
  skippedMissed: json.skippedMissed
})

/** @internal */
export const List = Rpc.make("List", { success: Schema.Array(InfoJson) })

/** @internal */
export const SchedulesEntity = Entity.make("RaySchedulerSchedules", [Ping, Declare, Unschedule, List])

/** The entity id of the one host. @internal */
export const hostId = "all"

/** The options a declaration was made from. @internal */
export const optionsOf = (d: Declaration, startMillis: number | undefined): ScheduleOptions => ({
  id: d.id,
  source: d.source,
  args: d.args,
  cron: d.cron?.expression,
  every: d.everyMillis === undefined ? undefined : Duration.millis(d.everyMillis),
  timeZone: d.timeZone,
  startAt: startMillis === undefined ? undefined : DateTime.unsafeMake(startMillis),
  misfire: { policy: d.policy, grace: Number.isFinite(d.graceMillis) ? Duration.millis(d.graceMillis) : undefined }
})

/** What the host needs of its runner's scheduler. @internal */
export interface HostContext {
  readonly store: ClusterStore
  /** Submits tasks in the caller's transaction; the tasks added. */
  readonly submitTx: (tasks: ReadonlyArray<Task>) => Effect.Effect<ReadonlyArray<Task>, unknown>
  /** After a commit: tells the sources' runners. */
  readonly wake: (sources: Iterable<string>) => Effect.Effect<void>
  /** How often the host checks whether the occurrence tasks it tracks have ended. */
  readonly endPollMillis: number
  /** How long processed task messages are kept (`Infinity`: for ever); the host prunes older ones. */
  readonly retentionMillis: number
}

/** @internal */
export class HostState extends Context.Tag("ray-scheduler/cluster/HostState")<HostState, HostContext>() {}

/** A schedule moved by another host meanwhile: the occurrence is not fired here. */
class Moved {
  readonly _tag = "Moved"
  constructor(readonly id: string) {}
}

/** Rows a prune deletes per statement. */
const pruneBatch = 5_000

/**
 * Every 10 minutes (and at the start), deletes the processed task messages
 * older than the retention, in batches (@effect/cluster never deletes them).
 */
const prune = (host: HostContext) =>
  Effect.gen(function*() {
    const before = (yield* Clock.currentTimeMillis) - host.retentionMillis
    let total = 0
    for (;;) {
      const n = yield* host.store.pruneMessages(before, pruneBatch)
      total += n
      if (n < pruneBatch) break
    }
    if (total > 0) {
      yield* Effect.logDebug(`Scheduler: pruned ${total} processed task messages`).pipe(
        Effect.annotateLogs({ module: "Scheduler" })
      )
    }
  }).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("Scheduler: pruning processed task messages failed", cause)),
    Effect.zipRight(Effect.sleep("10 minutes")),
    Effect.forever
  )

/** The schedules' store over PostgreSQL, with the compare-and-set of each firing. */
const makeStore = (host: HostContext): ScheduleStore => {
  const { store } = host
  /** The next occurrence each schedule has in the table as far as this host knows. */
  const expected = new Map<string, number>()
  const orDie = <A, E>(effect: Effect.Effect<A, E>) => Effect.orDie(effect)
  return {
    load: orDie(Effect.tap(store.loadSchedules, (rows) => {
      for (const row of rows) expected.set(row.id, row.next)
    })),
    save: (row, spec) => orDie(Effect.tap(store.saveSchedule(row, spec), () => expected.set(row.id, row.next))),
    remove: (id) => orDie(Effect.tap(store.removeSchedule(id), () => expected.delete(id))),
    fire: (tasks: ReadonlyArray<Task>, rows: ReadonlyArray<ScheduleRow>) =>
      Effect.gen(function*() {
        const added = yield* store.sql.withTransaction(Effect.gen(function*() {
          for (const row of rows) {
            const was = expected.get(row.id)
            if (was === undefined || !(yield* store.advanceSchedule(row, was))) {
              return yield* Effect.fail(new Moved(row.id))
            }
          }
          return yield* host.submitTx(tasks)
        }))
        for (const row of rows) expected.set(row.id, row.next)
        yield* host.wake(added.map((task) => task.source))
      }).pipe(Effect.orDie),
    isPending: (taskId) => orDie(store.isPending(taskId))
  }
}

/**
 * The host entity: once activated on a runner it runs the schedules until
 * that runner loses it, and keeps itself alive (see the module header);
 * `Declare`, `Unschedule` and `List` are answered by the running schedules.
 *
 * @internal
 */
export const layer = SchedulesEntity.toLayer(
  Effect.gen(function*() {
    const host = yield* HostState
    const ready = yield* Deferred.make<Schedules>()
    const schedules = Deferred.await(ready)

    /** Runs the schedules; tells them of the ends of their occurrence tasks (elsewhere in the cluster). */
    const run = Effect.gen(function*() {
      const made = yield* makeSchedules({
        clock: yield* Clock.clockWith(Effect.succeed),
        store: makeStore(host),
        maxSleepMillis: 60_000,
        isPaused: () => false
      })
      yield* Effect.addFinalizer(() =>
        Effect.zipRight(
          made.stop,
          Effect.logInfo("Scheduler: this runner no longer hosts the cluster's schedules").pipe(
            Effect.annotateLogs({ module: "Scheduler" })
          )
        )
      )
      yield* made.start
      yield* Deferred.succeed(ready, made)
      if (Number.isFinite(host.retentionMillis)) yield* Effect.forkScoped(prune(host))
      yield* Effect.logInfo("Scheduler: this runner hosts the cluster's schedules").pipe(
        Effect.annotateLogs({ module: "Scheduler" })
      )
      for (;;) {
        yield* Effect.sleep(Duration.millis(host.endPollMillis))
        for (const id of made.trackedIds()) {
          if (!(yield* Effect.orElseSucceed(host.store.isPending(id), () => true))) made.ended(id)
        }
      }
    }).pipe(Effect.scoped)

    yield* run.pipe(
      Effect.catchAllCause((cause) =>
        Effect.zipRight(
          Effect.logError("Scheduler: the schedules' host failed; it starts again in 1 second", cause),
          Effect.sleep("1 second")
        )
      ),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Entity.keepAlive(true)

    return SchedulesEntity.of({
      Ping: () => Effect.void,
      Declare: ({ payload }) =>
        Effect.gen(function*() {
          const decl = decodeDeclaration(payload.id, payload.spec)
          if (typeof decl === "string") return yield* Effect.fail(decl)
          const made = yield* schedules
          yield* Effect.mapError(made.schedule(optionsOf(decl, payload.startMillis)), (e) => e.reason)
        }),
      Unschedule: ({ payload }) => Effect.flatMap(schedules, (made) => made.unschedule(payload.id)),
      List: () => Effect.map(Effect.flatMap(schedules, (made) => made.list), (infos) => infos.map(toJson))
    })
  }),
  { concurrency: "unbounded" }
)
