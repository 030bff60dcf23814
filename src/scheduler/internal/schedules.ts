/**
 * Recurring schedules (docs/architecture.md, "Schedules"): one fiber for
 * all of them, sleeping until the earliest next occurrence (a heap of
 * schedules by next instant); each due occurrence becomes an ordinary task
 * with id `<schedule id>@<ISO instant>`, submitted through the layer's
 * store, which records the schedule's new state in the same step (the SQL
 * layer: one transaction). Overlap, misfire and the grace period are
 * decided here; the dispatcher and the workers know nothing of schedules.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { MisfirePolicy, ScheduleInfo, ScheduleOptions } from "../Scheduler.js"
import type { JsonObject } from "../Task.js"
import { Task } from "../Task.js"
import { ClockWatch } from "./clockWatch.js"
import { describeValue as show } from "./consumer.js"
import { type CronSpec, nextCron, parseCron } from "./cron.js"
import { MinHeap } from "./heap.js"
import { Signal } from "./signal.js"

/**
 * `schedule` was given invalid options: `reason` names the field and what
 * is wrong.
 *
 * @since 0.3.0
 * @category errors
 */
export class InvalidScheduleError extends Data.TaggedError("InvalidScheduleError")<{
  readonly id: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid schedule ${JSON.stringify(this.id)}: ${this.reason}`
  }
}

/** A validated declaration. @internal */
export interface Declaration {
  readonly id: string
  readonly source: string
  readonly args: JsonObject
  readonly cron: CronSpec | undefined
  readonly everyMillis: number | undefined
  readonly timeZone: string
  readonly policy: MisfirePolicy
  /** Infinity: no limit. */
  readonly graceMillis: number
  /** `startAt` (epoch ms), used only when the schedule starts afresh; not stored. */
  readonly startMillis: number | undefined
}

/** Longest schedule id (its occurrences' ids add 25 characters). @internal */
export const maxScheduleIdLength = 200

const policies: ReadonlyArray<MisfirePolicy> = ["coalesce", "all", "skip"]

/** The id of the occurrence of schedule `id` at `at`. @internal */
export const occurrenceId = (id: string, at: number): string => `${id}@${new Date(at).toISOString()}`

const validTask = Schema.decodeUnknownEither(Task)

/** Validates `schedule`'s options. @internal */
export const declare = (options: ScheduleOptions): Either.Either<Declaration, InvalidScheduleError> => {
  const o = (typeof options === "object" && options !== null ? options : {}) as Partial<ScheduleOptions>
  const id = typeof o.id === "string" ? o.id : show(o.id)
  const fail = (reason: string) => Either.left(new InvalidScheduleError({ id, reason }))
  if (typeof o.id !== "string" || o.id.length === 0) return fail("id must be a non-empty string")
  if (o.id.length > maxScheduleIdLength) return fail(`id must be at most ${maxScheduleIdLength} characters long`)
  // the source, args and id as an occurrence task would have them
  const probe = validTask({
    id: `${o.id}@1970-01-01T00:00:00.000Z`,
    source: o.source,
    args: o.args ?? {},
    scheduleAt: "1970-01-01T00:00:00.000Z"
  })
  if (Either.isLeft(probe)) {
    return fail(ParseResult.TreeFormatter.formatErrorSync(probe.left).replace(/\s+/g, " "))
  }
  const timeZone = o.timeZone ?? "UTC"
  if (typeof timeZone !== "string" || DateTime.zoneMakeNamed(timeZone)._tag === "None") {
    return fail(`timeZone must be an IANA time zone name (e.g. "Europe/Berlin"), got ${show(timeZone)}`)
  }
  if ((o.cron === undefined) === (o.every === undefined)) {
    return fail("exactly one of cron and every must be given")
  }
  let cron: CronSpec | undefined
  let everyMillis: number | undefined
  if (o.cron !== undefined) {
    if (typeof o.cron !== "string") return fail(`cron must be a string, got ${show(o.cron)}`)
    const parsed = parseCron(o.cron, timeZone)
    if (Either.isLeft(parsed)) return fail(parsed.left)
    cron = parsed.right
  } else {
    const every = Duration.decodeUnknown(o.every)
    if (every._tag === "None" || !Duration.isFinite(every.value) || Duration.toMillis(every.value) < 1) {
      return fail(`every must be a finite duration of at least 1 millisecond (e.g. "10 minutes"), got ${show(o.every)}`)
    }
    everyMillis = Math.round(Duration.toMillis(every.value))
  }
  const misfire = o.misfire ?? {}
  if (typeof misfire !== "object" || misfire === null) {
    return fail(`misfire must be { policy, grace }, got ${show(misfire)}`)
  }
  const policy = misfire.policy ?? "coalesce"
  if (!policies.includes(policy)) {
    return fail(`misfire.policy must be one of "coalesce", "all", "skip", got ${show(misfire.policy)}`)
  }
  let startMillis: number | undefined
  if (o.startAt !== undefined) {
    if (!DateTime.isDateTime(o.startAt) || !Number.isFinite(DateTime.toEpochMillis(o.startAt))) {
      return fail(`startAt must be a DateTime, got ${show(o.startAt)}`)
    }
    startMillis = DateTime.toEpochMillis(o.startAt)
  }
  let graceMillis = Infinity
  if (misfire.grace !== undefined) {
    const grace = Duration.decodeUnknown(misfire.grace)
    if (grace._tag === "None") return fail(`misfire.grace must be a duration, got ${show(misfire.grace)}`)
    graceMillis = Duration.toMillis(grace.value)
  }
  return Either.right({
    id: o.id,
    source: probe.right.source,
    args: probe.right.args,
    cron,
    everyMillis,
    timeZone,
    policy,
    graceMillis,
    startMillis
  })
}

/** A declaration as stored (JSON). @internal */
export const encodeDeclaration = (d: Declaration): string =>
  JSON.stringify({
    source: d.source,
    args: d.args,
    cron: d.cron?.expression,
    everyMillis: d.everyMillis,
    timeZone: d.timeZone,
    policy: d.policy,
    graceMillis: Number.isFinite(d.graceMillis) ? d.graceMillis : null
  })

/** A stored declaration back; a string says what is wrong with it. @internal */
export const decodeDeclaration = (id: string, json: string): Declaration | string => {
  let stored: Record<string, unknown>
  try {
    stored = JSON.parse(json)
  } catch (error) {
    return `not JSON: ${String(error)}`
  }
  const declared = declare({
    id,
    source: stored.source as string,
    args: stored.args as JsonObject,
    cron: (stored.cron ?? undefined) as string | undefined,
    every: stored.everyMillis === undefined || stored.everyMillis === null
      ? undefined
      : Duration.millis(Number(stored.everyMillis)),
    timeZone: stored.timeZone as string,
    misfire: {
      policy: stored.policy as MisfirePolicy,
      grace: stored.graceMillis === null || stored.graceMillis === undefined
        ? undefined
        : Duration.millis(Number(stored.graceMillis))
    }
  })
  return Either.isLeft(declared) ? declared.left.reason : declared.right
}

/**
 * A new schedule's first occurrence, declared at `t`: `every` — `startAt` if
 * it is not in the past, else the last instant of its grid (startAt + k ×
 * every) at or before `t`, due at once (the schedule has been running since
 * `startAt`, and its current period has had no run: a `startAt` computed a
 * moment before the declaration with a real clock is "now", not "one period
 * from now"); without `startAt`, `t` + every. `cron` — the first occurrence
 * at or after `startAt`, or after `t` if that is later.
 */
const firstOccurrence = (d: Declaration, t: number): number => {
  const start = d.startMillis
  if (d.everyMillis !== undefined) {
    if (start === undefined) return t + d.everyMillis
    return start >= t ? start : start + Math.floor((t - start) / d.everyMillis) * d.everyMillis
  }
  return start !== undefined && start > t ? nextCron(d.cron!, start - 1)! : nextCron(d.cron!, t)!
}

/** The first occurrence strictly after `t` (a period counts from `anchor`, an occurrence); undefined: none. */
const after = (d: Declaration, anchor: number, t: number): number | undefined => {
  if (d.everyMillis !== undefined) {
    const every = d.everyMillis
    return anchor + (Math.floor((t - anchor) / every) + 1) * every
  }
  return nextCron(d.cron!, t)
}

/** The last occurrence in [lower, t], if any (found in windows that double backwards from t). */
const lastAtOrBefore = (d: Declaration, anchor: number, lower: number, t: number): number | undefined => {
  if (lower > t) return undefined
  if (d.everyMillis !== undefined) {
    const o = anchor + Math.floor((t - anchor) / d.everyMillis) * d.everyMillis
    return o >= lower ? o : undefined
  }
  for (let width = 60_000;; width *= 2) {
    const from = Math.max(lower, t - width)
    let last: number | undefined
    for (let o = after(d, anchor, from - 1); o !== undefined && o <= t; o = after(d, anchor, o)) last = o
    if (last !== undefined || from === lower) return last
  }
}

const sameTiming = (a: Declaration, b: Declaration): boolean =>
  a.cron?.expression === b.cron?.expression && a.everyMillis === b.everyMillis && a.timeZone === b.timeZone

/** A schedule's state. */
interface Live {
  decl: Declaration
  /** The next occurrence not handled yet. */
  next: number
  /**
   * Occurrences before this instant are missed: at a start, a resume or a
   * clock jump it is set just after now (what is due then was missed, the
   * one due at that very instant too: a catch-up covers it); a declaration's
   * first occurrence is later anyway.
   */
  armed: number
  /** The occurrence task pending or running, if any. */
  current: string | undefined
  /** When the last occurrence task seen to end ended: an on-time occurrence due before it overlapped that run. */
  freedAt: number
  /** Its heap entry is live while `queued === version`. */
  version: number
  queued: number
  /** Waiting (out of the heap) for `current` to end: a missed occurrence under `all`. */
  waiting: boolean
  removed: boolean
  runs: number
  skippedOverlap: number
  skippedMissed: number
}

/** A schedule's state as a store records it. @internal */
export interface ScheduleRow {
  readonly id: string
  readonly next: number
  readonly current: string | undefined
}

/** Where a layer keeps its schedules (the memory layer: nowhere) and how occurrences are submitted. @internal */
export interface ScheduleStore {
  /** Stored schedules (at construction). */
  readonly load: Effect.Effect<ReadonlyArray<ScheduleRow & { readonly spec: string }>>
  /** Inserts or replaces a schedule. */
  readonly save: (row: ScheduleRow, spec: string) => Effect.Effect<void>
  readonly remove: (id: string) => Effect.Effect<void>
  /** Submits the occurrence tasks and records the schedules' new state, all or nothing. */
  readonly fire: (tasks: ReadonlyArray<Task>, rows: ReadonlyArray<ScheduleRow>) => Effect.Effect<void>
  /** Whether a task with this id is pending or running. */
  readonly isPending: (taskId: string) => Effect.Effect<boolean>
}

/** What the schedules need from the scheduler. @internal */
export interface ScheduleHost {
  readonly clock: Clock.Clock
  readonly store: ScheduleStore
  readonly maxSleepMillis: number
  readonly isPaused: (source: string) => boolean
}

/** @internal */
export interface Schedules {
  readonly schedule: (options: ScheduleOptions) => Effect.Effect<void, InvalidScheduleError>
  readonly unschedule: (id: string) => Effect.Effect<boolean>
  readonly list: Effect.Effect<ReadonlyArray<ScheduleInfo>>
  /** Starts firing (the scheduler started): every occurrence before now is missed. */
  readonly start: Effect.Effect<void>
  /** Stops firing (the scheduler stops); waits for a round under way. */
  readonly stop: Effect.Effect<void>
  /** A task ended (synchronous; cheap when it is no schedule's). */
  readonly ended: (taskId: string) => void
  /** `source` was resumed: its schedules' missed occurrences are handled now (synchronous). */
  readonly resumed: (source: string) => void
  /** Whether any occurrence task is tracked (`ended` has work to do). */
  readonly tracking: () => boolean
  /** The ids of the occurrence tasks tracked (pending or running as far as the schedules know). */
  readonly trackedIds: () => ReadonlyArray<string>
}

/** @internal */
export const makeSchedules = (host: ScheduleHost): Effect.Effect<Schedules> =>
  Effect.gen(function*() {
    const { clock, store } = host
    const now = () => clock.unsafeCurrentTimeMillis()
    const lives = new Map<string, Live>()
    /** Occurrence task id → its schedule, while pending or running. */
    const tracked = new Map<string, Live>()
    const heap = new MinHeap<Live>()
    /** Schedules of paused sources, out of the heap until their source resumes. */
    const parked = new Map<string, Set<Live>>()
    const lock = yield* Effect.makeSemaphore(1)
    let wake = new Signal<void>()
    let fiber: Fiber.RuntimeFiber<void> | undefined
    let seq = 0

    const enqueue = (live: Live): void => {
      if (live.removed) return
      live.waiting = false
      live.queued = ++live.version
      heap.push({ dueMillis: live.next, seq: seq++, value: live })
      wake.complete(Effect.void)
    }
    const track = (live: Live, id: string | undefined): void => {
      live.current = id
      if (id !== undefined) tracked.set(id, live)
    }
    const untrack = (live: Live): void => {
      if (live.current !== undefined) tracked.delete(live.current)
      live.current = undefined
    }

    // ---- stored schedules (the SQL layer) ----------------------------------

    for (const row of yield* store.load) {
      const decl = decodeDeclaration(row.id, row.spec)
      if (typeof decl === "string") {
        yield* Effect.logError(
          `Scheduler: stored schedule ${JSON.stringify(row.id)} is not valid and is skipped: ${decl}`
        )
          .pipe(Effect.annotateLogs({ module: "Scheduler" }))
        continue
      }
      const live: Live = {
        decl,
        next: row.next,
        armed: -Infinity,
        current: undefined,
        freedAt: -Infinity,
        version: 0,
        queued: -1,
        waiting: false,
        removed: false,
        runs: 0,
        skippedOverlap: 0,
        skippedMissed: 0
      }
      track(live, row.current)
      lives.set(decl.id, live)
    }

    // ---- firing -------------------------------------------------------------

    const occurrence = (live: Live, at: number): Task => {
      const task = new Task({
        id: occurrenceId(live.decl.id, at),
        source: live.decl.source,
        args: live.decl.args,
        scheduleAt: DateTime.unsafeMake(at)
      }, true)
      track(live, task.id)
      live.runs++
      return task
    }

    /**
     * Handles the due occurrences of `live` at `t` (see the misfire rules in
     * docs/scheduler.md, "Schedules"); whether it goes back into the heap
     * (false: it waits for its current run to end).
     */
    const handle = (live: Live, t: number, out: Array<Task>): boolean => {
      const d = live.decl
      for (let guard = 0; live.next <= t && guard < 1000; guard++) {
        const o = live.next
        if (o >= live.armed) {
          // on time (or late only because the scheduler was busy): skipped if due while the previous run
          // was pending or running (it still is, or it ended after o: a schedule waiting for an `all`
          // catch-up to end is handled only then)
          if (live.current !== undefined || o < live.freedAt) live.skippedOverlap++
          else out.push(occurrence(live, o))
          live.next = after(d, o, o)!
          continue
        }
        // missed: o < armed <= t
        const end = live.armed - 1
        const lower = Number.isFinite(d.graceMillis) ? Math.max(o, t - d.graceMillis) : o
        const resume = after(d, o, end)!
        if (d.policy === "coalesce") {
          const last = lastAtOrBefore(d, o, lower, end)
          live.skippedMissed += countBetween(d, o, end) - (last === undefined ? 0 : 1)
          if (last !== undefined) {
            if (live.current !== undefined) live.skippedOverlap++
            else out.push(occurrence(live, last))
          }
          live.next = resume
        } else if (d.policy === "skip") {
          live.skippedMissed += countBetween(d, o, end)
          live.next = resume
        } else {
          // all: the oldest within grace, then the next once this run ended
          const first = lower === o ? o : after(d, o, lower - 1)!
          if (first > end) {
            live.skippedMissed += countBetween(d, o, end)
            live.next = resume
            continue
          }
          live.skippedMissed += countBetween(d, o, first - 1)
          if (live.current !== undefined) {
            live.next = first
            live.waiting = true
            return false
          }
          out.push(occurrence(live, first))
          live.next = after(d, first, first)!
        }
      }
      return true
    }

    /** Occurrences in [from, to] (counted up to 100,000; more count as 100,000). */
    const countBetween = (d: Declaration, from: number, to: number): number => {
      if (from > to) return 0
      if (d.everyMillis !== undefined) return Math.floor((to - from) / d.everyMillis) + 1
      let n = 0
      for (let o: number | undefined = from; o !== undefined && o <= to && n < 100_000; o = after(d, o, o)) n++
      return n
    }

    /** Forward wall-clock jumps since the last round: what they skipped is missed. */
    const clockWatch = new ClockWatch(clock)

    /** One round: every due schedule handled, its tasks submitted with its new state (all or nothing). */
    const round: Effect.Effect<void> = lock.withPermits(1)(
      Effect.gen(function*() {
        const t = now()
        if (clockWatch.check() > 0) { for (const live of lives.values()) live.armed = t + 1 }
        const due: Array<Live> = []
        for (let top = heap.peek(); top !== undefined && top.dueMillis <= t; top = heap.peek()) {
          heap.pop()
          const live = top.value
          if (live.removed || live.queued !== live.version || live.waiting) continue
          live.queued = -1
          if (host.isPaused(live.decl.source)) {
            let set = parked.get(live.decl.source)
            if (set === undefined) parked.set(live.decl.source, set = new Set())
            set.add(live)
            continue
          }
          due.push(live)
        }
        if (due.length === 0) return
        // a current run that ended unseen (the SQL layer: a task recovered, then ended in an earlier process)
        for (const live of due) {
          if (live.current !== undefined && !(yield* store.isPending(live.current))) untrack(live)
        }
        const before = due.map((live) => ({ ...live }))
        const tasks: Array<Task> = []
        const requeue: Array<Live> = []
        for (const live of due) if (handle(live, t, tasks)) requeue.push(live)
        const fired = yield* Effect.exit(
          store.fire(tasks, due.map((live) => ({ id: live.decl.id, next: live.next, current: live.current })))
        )
        if (fired._tag === "Failure") {
          // nothing was submitted: back as it was, tried again soon
          for (let i = 0; i < due.length; i++) {
            const live = due[i]!
            untrack(live)
            Object.assign(live, before[i]!)
            track(live, live.current)
            live.waiting = false
            live.queued = -1
          }
          yield* Effect.logError(
            "Scheduler: submitting schedule occurrences failed (retrying in 1 second)",
            fired.cause
          )
            .pipe(Effect.annotateLogs({ module: "Scheduler" }))
          yield* Effect.sleep("1 second")
          for (const live of due) enqueue(live)
          return
        }
        for (const live of requeue) enqueue(live)
      }).pipe(Effect.uninterruptible)
    )

    const loop: Effect.Effect<void> = Effect.gen(function*() {
      for (;;) {
        const w = new Signal<void>()
        wake = w
        yield* round
        let top = heap.peek()
        while (top !== undefined && (top.value.removed || top.value.queued !== top.value.version)) {
          heap.pop()
          top = heap.peek()
        }
        if (top === undefined) {
          yield* w.await()
          continue
        }
        const millis = Math.min(top.dueMillis - now(), host.maxSleepMillis)
        if (millis > 0) yield* Effect.raceFirst(clock.sleep(Duration.millis(millis)), w.await())
      }
    })

    // ---- the service's operations ------------------------------------------

    const info = (live: Live): ScheduleInfo => ({
      id: live.decl.id,
      source: live.decl.source,
      args: live.decl.args,
      cron: live.decl.cron?.expression,
      every: live.decl.everyMillis === undefined ? undefined : Duration.millis(live.decl.everyMillis),
      timeZone: live.decl.timeZone,
      misfire: {
        policy: live.decl.policy,
        grace: Number.isFinite(live.decl.graceMillis) ? Duration.millis(live.decl.graceMillis) : Duration.infinity
      },
      nextRun: DateTime.unsafeMake(live.next),
      current: live.current,
      runs: live.runs,
      skippedOverlap: live.skippedOverlap,
      skippedMissed: live.skippedMissed
    })

    const schedule = (options: ScheduleOptions): Effect.Effect<void, InvalidScheduleError> =>
      Effect.suspend(() => {
        const declared = declare(options)
        if (Either.isLeft(declared)) return Effect.fail(declared.left)
        const decl = declared.right
        return lock.withPermits(1)(Effect.gen(function*() {
          const old = lives.get(decl.id)
          const t = now()
          const keep = old !== undefined && sameTiming(old.decl, decl)
          const next = firstOccurrence(decl, t)
          const live: Live = keep ? old! : {
            decl,
            next,
            // the first occurrence is on time even when due at once (a past `startAt`)
            armed: Math.min(t, next),
            current: old?.current,
            freedAt: old?.freedAt ?? -Infinity,
            version: old?.version ?? 0,
            queued: -1,
            waiting: false,
            removed: false,
            runs: old?.runs ?? 0,
            skippedOverlap: old?.skippedOverlap ?? 0,
            skippedMissed: old?.skippedMissed ?? 0
          }
          live.decl = decl
          yield* store.save({ id: decl.id, next: live.next, current: live.current }, encodeDeclaration(decl))
          if (old !== undefined && old !== live) {
            old.removed = true
            for (const set of parked.values()) set.delete(old)
            if (old.current !== undefined) tracked.set(old.current, live)
          }
          lives.set(decl.id, live)
          if (keep) { for (const set of parked.values()) set.delete(live) // its source may be another one now
           }
          if (fiber !== undefined) enqueue(live)
          yield* Effect.logInfo(
            `Scheduler: schedule ${JSON.stringify(decl.id)} ${keep ? "re-declared" : "declared"} (${
              decl.cron !== undefined
                ? `cron ${JSON.stringify(decl.cron.expression)} in ${decl.timeZone}`
                : `every ${Duration.format(Duration.millis(decl.everyMillis!))}`
            }); next run ${DateTime.formatIso(DateTime.unsafeMake(live.next))}`
          ).pipe(Effect.annotateLogs({ module: "Scheduler", schedule: decl.id }))
        }))
      })

    const unschedule = (id: string): Effect.Effect<boolean> =>
      lock.withPermits(1)(Effect.gen(function*() {
        const live = lives.get(id)
        if (live === undefined) return false
        yield* store.remove(id)
        lives.delete(id)
        live.removed = true
        untrack(live)
        parked.get(live.decl.source)?.delete(live)
        return true
      }))

    const start: Effect.Effect<void> = Effect.suspend(() => {
      if (fiber !== undefined) return Effect.void
      const t = now()
      clockWatch.reset()
      for (const live of lives.values()) {
        live.armed = t + 1
        enqueue(live)
      }
      parked.clear()
      // interruptible: `start` runs uninterruptibly, and a fork inherits that
      return Effect.map(Effect.forkDaemon(Effect.interruptible(loop)), (f) => void (fiber = f))
    })

    const stop: Effect.Effect<void> = Effect.suspend(() => {
      const f = fiber
      fiber = undefined
      if (f === undefined) return Effect.void
      return Effect.zipRight(Fiber.interrupt(f), Effect.sync(() => heap.clear()))
    })

    return {
      schedule,
      unschedule,
      list: Effect.sync(() => [...lives.values()].sort((a, b) => a.decl.id < b.decl.id ? -1 : 1).map(info)),
      start,
      stop,
      tracking: () => tracked.size > 0,
      trackedIds: () => Array.from(tracked.keys()),
      ended: (taskId) => {
        const live = tracked.get(taskId)
        if (live === undefined) return
        tracked.delete(taskId)
        if (live.current !== taskId) return
        live.current = undefined
        live.freedAt = now()
        if (live.waiting && fiber !== undefined) enqueue(live)
      },
      resumed: (source) => {
        const set = parked.get(source)
        if (set === undefined) return
        parked.delete(source)
        const t = now()
        for (const live of set) {
          live.armed = t + 1
          if (fiber !== undefined) enqueue(live)
        }
      }
    }
  })
