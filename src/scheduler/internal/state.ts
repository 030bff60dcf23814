/**
 * The scheduler's state and every transition of it, as synchronous methods.
 * The states, the transitions and why each is atomic are described once, in
 * docs/architecture.md ("The dispatcher's states", "Lanes", "Atomicity");
 * this module is that description in code. Each method that changes the
 * phase checks the phase it was called from (`IllegalStateException` on a
 * bug), like graphile-worker's `setModeX`.
 *
 * Nothing here is an Effect: the caller runs a method inside one synchronous
 * section (a `Ref.modify` callback, or a worker's `Effect.suspend` step), so
 * no other fiber observes a half-done transition. What a transition must do
 * to the outside world is done synchronously too: completing a wake-up
 * `Signal` (internal/signal.ts) and forking a worker fiber (the host's
 * `forkWorker`, which schedules the fiber without running it).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { Task } from "../Task.js"
import type { TaskConsumer } from "../TaskConsumer.js"
import { Counters } from "./counters.js"
import { ENDED, IdIndex, type TaskEntry } from "./ids.js"
import { Lane, LaneHeap } from "./lane.js"
import type { RetryMemo } from "./retry.js"
import * as signal from "./signal.js"
import { Signal } from "./signal.js"

/**
 * - `stopped`: no dispatcher; submissions wait in their lanes.
 * - `idle`, `sleeping`, `dispatching`: running (the dispatcher's states).
 * - `stopping`: no new task starts; waiting for the running ones.
 * - `closed`: the scheduler's scope closed; it cannot start again.
 *
 * @internal
 */
export type Phase = "stopped" | "idle" | "sleeping" | "dispatching" | "stopping" | "closed"

/** What the state needs from its environment (the clock, the registry, the runtime). @internal */
export interface Host {
  /** Now, epoch milliseconds (the scheduler's `Clock`). */
  readonly now: () => number
  /** The consumer registered for `source` now. */
  readonly consumerOf: (source: string) => TaskConsumer | undefined
  /** Schedules a new worker fiber for `lane` serving `consumer` (it does not run before the caller's section ends). */
  readonly forkWorker: (lane: Lane, consumer: TaskConsumer) => Fiber.RuntimeFiber<void>
  readonly makeSemaphore: (permits: number) => Effect.Semaphore
  /** How long a worker with nothing to do stays parked before it leaves, ms (0: it leaves at once). */
  readonly idleMillis: number
  /** Update the `SchedulerMetrics` (the `metrics` option). */
  readonly metrics: boolean
  /**
   * How long due tasks of a source with no consumer wait for one before
   * they are dropped, ms (0: dropped at once). Counted from the first time
   * the dispatcher found the source due and without a consumer.
   */
  readonly noConsumerGraceMillis: number
  /** Most tasks running at once across all sources (`Infinity`: no cap beyond each source's concurrency). */
  readonly maxConcurrency: number
}

/** How many freed sources keep their counters in `stats.bySource` (the most recent ones). @internal */
export const retainedSources = 1024

/** A release of a consumer waiting for the workers that serve it. */
interface Release {
  readonly consumer: TaskConsumer
  readonly done: Deferred.Deferred<void>
}

/** What a dispatch round decided. @internal */
export type Round =
  | { readonly _tag: "Exit" }
  | { readonly _tag: "Continue"; readonly dropped: ReadonlyArray<Task>; readonly waiting: ReadonlyArray<string> }
  | {
    readonly _tag: "Idle"
    readonly dropped: ReadonlyArray<Task>
    readonly waiting: ReadonlyArray<string>
    readonly wake: Signal<void>
  }
  | {
    readonly _tag: "Sleep"
    readonly dropped: ReadonlyArray<Task>
    /** Sources that just began waiting for a consumer (logged once each). */
    readonly waiting: ReadonlyArray<string>
    readonly millis: number
    readonly wake: Signal<void>
  }

const RUNNING: ReadonlySet<Phase> = new Set<Phase>(["idle", "sleeping", "dispatching"])

/** @internal */
export class SchedulerState {
  private phaseNow: Phase = "stopped"
  /** `RUNNING.has(phaseNow)`, kept with it: `take` asks once per task. */
  private runningNow = false
  /** Every live source; a lane is freed when nothing is pending, running or registered for it. */
  readonly lanes = new Map<string, Lane>()
  /** Counters of recently freed sources, oldest first, for `stats.bySource`. */
  readonly retired = new Map<string, Counters>()
  /** Lanes whose head the dispatcher waits for: due later, or due with no consumer (to be dropped). */
  private readonly watched = new LaneHeap()
  /** Lanes with a parked worker, in the order they parked (the first is the next to expire). */
  private readonly parked = new Set<Lane>()
  /** Lanes with due tasks and no consumer, waiting for one (the grace period, `lane.orphanSince`). */
  private readonly orphans = new Set<Lane>()
  /** Tasks in the lanes' queues (pending in memory), all sources. */
  private queued = 0
  /** When the last task was taken (`take`'s now): the start of its run. */
  takenAt = 0
  /** The entry of the last task taken (the worker keeps it to end it). */
  takenEntry: TaskEntry | undefined = undefined
  /** Worker fibers the scheduler interrupted (a stop or a release that timed out). */
  readonly interruptedByScheduler = new WeakSet<Fiber.RuntimeFiber<void>>()
  /** Ids of the tasks pending or running: a task submitted again while one of them is a duplicate. */
  readonly ids = new IdIndex()
  /** Counters of all sources since the scheduler was made. */
  readonly totals = new Counters()
  /** Worker fibers alive, all lanes. */
  workers = 0
  private seq = 0
  /** The dispatcher's wake-up while idle or sleeping. */
  private wake: Signal<void> | undefined = undefined
  /** Due instant of the head the dispatcher sleeps towards (`Infinity` when idle). */
  private sleepingUntil = Infinity
  /** While stopping: completed when at most `keep` workers are left. */
  private drained: Deferred.Deferred<void> | undefined = undefined
  private keep = 0
  private readonly releases = new Map<Lane, Release>()
  /**
   * Slots of `maxConcurrency` in use: tasks running plus workers started or
   * woken that have not taken their task yet (Σ `lane.starting`).
   */
  private inUse = 0
  /**
   * Lanes with a due head and a free permit of their own, waiting for a slot
   * of `maxConcurrency`, first come first served: a freed slot goes to the
   * first (`passSlot`), so one busy source cannot keep the slots.
   */
  private readonly capped = new Set<Lane>()
  /** Clock jumps the dispatcher saw (`stats.clockJumps`). */
  clockJumps = 0
  /** Paused sources (their lanes say so too, `lane.paused`, for `take`). */
  readonly paused = new Set<string>()

  constructor(readonly host: Host) {}

  get phase(): Phase {
    return this.phaseNow
  }

  /** Whether tasks may start: idle, sleeping or dispatching. */
  get running(): boolean {
    return this.runningNow
  }

  // ---- the phase: one method per transition -------------------------------

  private enter(to: Phase, allowed: ReadonlyArray<Phase>): void {
    if (!allowed.includes(this.phaseNow)) {
      throw new Cause.RuntimeException(`Scheduler: cannot go from ${this.phaseNow} to ${to}`)
    }
    this.phaseNow = to
    this.runningNow = RUNNING.has(to)
  }

  /** `start`: stopped → dispatching. Lanes with pending tasks are looked at again. */
  setStarted(): void {
    this.enter("dispatching", ["stopped"])
    this.sleepingUntil = -Infinity
    const now = this.host.now()
    for (const lane of this.lanes.values()) this.reconcile(lane, now)
  }

  /** A round begins: idle | sleeping | dispatching → dispatching. */
  private setDispatching(): void {
    this.enter("dispatching", ["idle", "sleeping", "dispatching"])
    this.wake = undefined
    this.sleepingUntil = -Infinity
  }

  /** Nothing is watched: dispatching → idle, until `wake` is completed. */
  private setIdle(wake: Signal<void>): void {
    this.enter("idle", ["dispatching"])
    this.wake = wake
    this.sleepingUntil = Infinity
  }

  /** The earliest watched head is due at `until`: dispatching → sleeping. */
  private setSleeping(until: number, wake: Signal<void>): void {
    this.enter("sleeping", ["dispatching"])
    this.wake = wake
    this.sleepingUntil = until
  }

  /**
   * `stop`: idle | sleeping | dispatching → stopping. Wakes the dispatcher
   * (it exits), stops watching lanes. Returns the `Deferred` completed once
   * at most `keep` workers are left (`keep` = 1 when a task calls `stop`),
   * or undefined when that is already so.
   */
  setStopping(keep: number): Deferred.Deferred<void> | undefined {
    this.enter("stopping", ["idle", "sleeping", "dispatching"])
    this.signalWake()
    this.watched.clear()
    this.capped.clear()
    for (const lane of [...this.parked]) this.unpark(lane, false)
    this.keep = keep
    this.drained = this.workers > keep ? Deferred.unsafeMake<void>(FiberId.none) : undefined
    return this.drained
  }

  /** The running tasks ended (or were interrupted): stopping → stopped. */
  setStopped(): void {
    this.enter("stopped", ["stopping"])
    this.drained = undefined
    this.sleepingUntil = Infinity
  }

  /** The scope closed: stopped → closed. */
  setClosed(): void {
    this.enter("closed", ["stopped"])
  }

  private signalWake(): void {
    const wake = this.wake
    this.wake = undefined
    this.sleepingUntil = -Infinity
    if (wake !== undefined) wake.complete(Effect.void)
  }

  // ---- submissions -------------------------------------------------------

  /**
   * Accepts `tasks` (in order: equal instants keep it) and starts or watches
   * their lanes. A task whose id is pending or running is a duplicate:
   * counted, not added. `seqs`, when given, are the tasks' sequence numbers
   * (a store's); otherwise the next ones are taken.
   */
  accept(tasks: ReadonlyArray<Task>, seqs?: ReadonlyArray<number>): void {
    const touched = new Set<Lane>()
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!
      const lane = this.laneFor(task.source)
      const entry: TaskEntry = {
        dueMillis: task.dueMillis,
        seq: seqs === undefined ? this.seq : seqs[i]!,
        value: task,
        runner: undefined
      }
      if (!this.ids.add(entry)) {
        lane.counters.duplicates++
        this.totals.duplicates++
        continue
      }
      if (seqs === undefined) this.seq++
      const wasHead = lane.head
      lane.queue.push(entry)
      this.queued++
      lane.counters.onSubmitted()
      this.totals.onSubmitted()
      if (lane.head !== wasHead) touched.add(lane)
    }
    if (!this.running || touched.size === 0) return
    const now = this.host.now()
    for (const lane of touched) this.reconcile(lane, now)
  }

  /**
   * Tasks a store loaded into memory (already counted as pending): added to
   * their lanes with the store's sequence numbers; ids already here are
   * skipped (running, or submitted meanwhile).
   */
  load(tasks: ReadonlyArray<Task>, seqs: ReadonlyArray<number>): void {
    const touched = new Set<Lane>()
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!
      const entry: TaskEntry = { dueMillis: task.dueMillis, seq: seqs[i]!, value: task, runner: undefined }
      if (!this.ids.add(entry)) continue
      const lane = this.laneFor(task.source)
      const wasHead = lane.head
      lane.queue.push(entry)
      this.queued++
      if (lane.head !== wasHead) touched.add(lane)
    }
    if (!this.running || touched.size === 0) return
    const now = this.host.now()
    for (const lane of touched) this.reconcile(lane, now)
  }

  /** `n` pending tasks of `source` that a store keeps outside memory (recovered, or beyond its window). */
  countStored(source: string, n: number): void {
    const lane = this.laneFor(source)
    lane.counters.submitted += n
    lane.counters.pending += n
    this.totals.submitted += n
    this.totals.pending += n
    if (lane.queue.size === 0) this.reconcile(lane, this.host.now())
  }

  /** Tasks pending in memory (in lanes), all sources. O(1). */
  inMemory(): number {
    return this.queued
  }

  /**
   * Keeps the `keep` earliest pending tasks in memory and forgets the others
   * (a store keeps them). Returns the (due, seq) of the last one kept, the
   * new boundary of the memory window, or undefined if none is kept.
   */
  evict(keep: number): { readonly dueMillis: number; readonly seq: number } | undefined {
    const all: Array<{ lane: Lane; entry: { dueMillis: number; seq: number; value: Task } }> = []
    for (const lane of this.lanes.values()) {
      for (const entry of lane.queue.clear()) if ((entry as TaskEntry).runner !== ENDED) all.push({ lane, entry })
    }
    all.sort((a, b) => a.entry.dueMillis - b.entry.dueMillis || a.entry.seq - b.entry.seq)
    this.queued = Math.min(keep, all.length)
    for (let i = 0; i < all.length; i++) {
      const { entry, lane } = all[i]!
      if (i < keep) lane.queue.push(entry)
      else this.ids.end(entry as TaskEntry)
    }
    const now = this.host.now()
    for (const lane of [...this.lanes.values()]) this.reconcile(lane, now)
    return keep > 0 && all.length > 0 ? all[Math.min(keep, all.length) - 1]!.entry : undefined
  }

  /** `task` was submitted while a task with its id was pending or running (a store found it). */
  duplicate(task: Task): void {
    this.laneFor(task.source).counters.duplicates++
    this.totals.duplicates++
  }

  /** A consumer was registered: its lane (if waiting for one) is looked at again. */
  registered(consumer: TaskConsumer): void {
    const lane = this.lanes.get(consumer.name)
    if (lane === undefined) return
    this.orphans.delete(lane)
    this.reconcile(lane, this.host.now())
  }

  private laneFor(source: string): Lane {
    let lane = this.lanes.get(source)
    if (lane === undefined) {
      lane = new Lane(source, this.retired.get(source), this.host.metrics)
      lane.paused = this.paused.has(source)
      this.retired.delete(source)
      this.lanes.set(source, lane)
    }
    return lane
  }

  // ---- lanes ---------------------------------------------------------------

  /**
   * The one rule that keeps a lane moving, applied after anything that may
   * change what it needs (see docs/architecture.md, "Lanes"): with a due head
   * and a free permit it gets a worker (one at a time: a worker's first take
   * looks again); with a later head it is watched by the dispatcher; with a
   * due head and no consumer it is watched so the dispatcher drops it; with
   * nothing pending, running or registered it is freed.
   */
  reconcile(lane: Lane, now: number): void {
    if (!this.running) return
    const head = lane.head
    if (head === undefined) {
      this.watched.remove(lane)
      if (this.capped.size > 0) this.capped.delete(lane)
      this.freeIfUnused(lane)
      return
    }
    if (lane.paused) {
      // nothing starts; resume reconciles the lane again
      this.watched.remove(lane)
      if (this.capped.size > 0) this.capped.delete(lane)
      return
    }
    const consumer = this.host.consumerOf(lane.source)
    if (consumer === undefined) return this.watch(lane)
    lane.orphanSince = undefined
    if (consumer !== lane.consumer) this.adopt(lane, consumer)
    const idle = lane.parked === undefined ? 0 : 1
    if (lane.starting > 0 || lane.workers - idle >= lane.permits) {
      this.watched.remove(lane)
      if (this.capped.size > 0) this.capped.delete(lane)
      return
    }
    if (lane.readyAt(head) <= now) {
      this.watched.remove(lane)
      if (this.inUse >= this.host.maxConcurrency) {
        this.capped.add(lane) // a freed slot comes back here (passSlot)
        return
      }
      if (this.capped.size > 0) this.capped.delete(lane)
      if (idle > 0) {
        lane.starting++
        this.inUse++
        this.unpark(lane, true)
      } else if (lane.workers < lane.permits) {
        this.inUse++
        this.startWorker(lane, consumer)
      }
      return
    }
    if (this.capped.size > 0) this.capped.delete(lane)
    this.watch(lane)
  }

  private watch(lane: Lane): void {
    this.watched.upsert(lane)
    if (lane.readyAt() < this.sleepingUntil) this.signalWake()
  }

  private adopt(lane: Lane, consumer: TaskConsumer): void {
    // a parked worker serves the previous consumer: it leaves
    if (lane.parked !== undefined) this.unpark(lane, false)
    lane.consumer = consumer
    const rate = consumer.rateLimit
    lane.setRateLimit(rate === undefined ? 0 : rate.limit, rate === undefined ? 0 : Duration.toMillis(rate.interval))
    if (lane.semaphore === undefined || lane.permits !== consumer.concurrency) {
      lane.permits = consumer.concurrency
      lane.semaphore = this.host.makeSemaphore(consumer.concurrency)
    }
  }

  private startWorker(lane: Lane, consumer: TaskConsumer): void {
    lane.workers++
    lane.starting++
    this.workers++
    lane.fibers.set(this.host.forkWorker(lane, consumer), consumer)
  }

  private freeIfUnused(lane: Lane): void {
    if (
      lane.queue.size > 0 || lane.workers > 0 || this.releases.has(lane) ||
      this.host.consumerOf(lane.source) !== undefined || this.lanes.get(lane.source) !== lane
    ) return
    this.watched.remove(lane)
    this.orphans.delete(lane)
    this.lanes.delete(lane.source)
    this.retired.set(lane.source, lane.counters)
    if (this.retired.size > retainedSources) this.retired.delete(this.retired.keys().next().value!)
  }

  // ---- workers -------------------------------------------------------------

  /**
   * A worker of `lane` serving `consumer` asks for its next task: the
   * lane's head if it is due, the scheduler is running and `consumer` is
   * still the lane's. `claimed` when the worker was started (or woken) and
   * had not asked yet: it was counted in `lane.starting`.
   */
  take(lane: Lane, consumer: TaskConsumer, claimed: boolean, fiber: Fiber.RuntimeFiber<void>): Task | undefined {
    if (claimed) lane.starting--
    if (!this.running || lane.consumer !== consumer) return this.noTake(claimed)
    const now = this.host.now()
    this.takenAt = now
    const head = lane.head
    if (
      head === undefined || head.dueMillis > now || lane.paused || (lane.rateLimit > 0 && lane.readyAt(head) > now)
    ) return this.noTake(claimed)
    if (!claimed) {
      // a worker back for more: its slot was freed when its task ended (and may have gone to a waiting lane)
      if (this.inUse >= this.host.maxConcurrency) {
        this.capped.add(lane)
        return undefined
      }
      this.inUse++
    }
    lane.queue.pop()
    this.queued--
    this.takenEntry = head as TaskEntry
    this.takenEntry.runner = fiber
    if (lane.rateLimit > 0) lane.started(now)
    const lateness = Math.max(0, now - head.dueMillis)
    lane.counters.onStarted(lateness)
    this.totals.onStarted(lateness)
    // another worker for the next due task (up to the permits), or watch the next head
    if (claimed || lane.workers < lane.permits || lane.heapIndex >= 0) this.reconcile(lane, now)
    return head.value
  }

  /**
   * A worker found nothing due: it parks — waits on the returned signal
   * for a due task (`true`) or to leave (`false`) — unless it should leave
   * now (undefined): the scheduler stops, its consumer is not the lane's, the
   * lane already has a parked worker, or parking is off.
   */
  park(lane: Lane, consumer: TaskConsumer): Signal<boolean> | undefined {
    if (
      !this.running || lane.consumer !== consumer || lane.parked !== undefined || this.host.idleMillis <= 0 ||
      lane.paused
    ) return undefined
    const now = this.host.now()
    // a task may have become due since the worker's last look (unless the lane waits for a slot: then park)
    const head = lane.head
    if (head !== undefined && lane.readyAt(head) <= now && !this.capped.has(lane)) return undefined
    lane.parked = new Signal<boolean>()
    lane.parkedSince = now
    this.parked.add(lane)
    this.reconcile(lane, now) // watch the lane's head: the parked worker is free to take it
    if (this.parked.size === 1 && this.sleepingUntil === Infinity) this.signalWake() // an idle dispatcher times it
    return lane.parked
  }

  private unpark(lane: Lane, work: boolean): void {
    const parked = lane.parked
    if (parked === undefined) return
    lane.parked = undefined
    this.parked.delete(lane)
    parked.complete(work ? signal.work : signal.leave)
  }

  /**
   * Retry schedules' states by task id (`retry.ts`): a cache — a task that
   * succeeds or fails for good leaves it; one cancelled or dropped while it
   * waits stays until the cache is cleared, at 10,000 entries (a miss
   * replays the schedule).
   */
  readonly retryMemos = new Map<string, RetryMemo>()

  /** Keeps the retry schedule's state of task `id`. */
  rememberRetry(id: string, memo: RetryMemo): void {
    if (this.retryMemos.size >= 10_000) this.retryMemos.clear()
    this.retryMemos.set(id, memo)
  }

  /** The current time (the host's clock), epoch ms. */
  now(): number {
    return this.host.now()
  }

  /**
   * The run of `entry` failed and runs again at `dueMillis` (its consumer's
   * retry schedule): counted as a failed run, the task is pending again with
   * the same id and sequence number. Returns its new entry.
   */
  retry(lane: Lane, entry: TaskEntry, dueMillis: number): TaskEntry {
    lane.counters.onRetried()
    this.totals.onRetried()
    this.runEnded(entry)
    const task = new Task({ ...entry.value, scheduleAt: DateTime.unsafeMake(dueMillis) }, true)
    const next: TaskEntry = { dueMillis, seq: entry.seq, value: task, runner: undefined }
    this.ids.add(next)
    lane.queue.push(next)
    this.queued++
    this.reconcile(lane, this.host.now())
    return next
  }

  /** A task's consumer ended. */
  ended(lane: Lane, entry: TaskEntry, succeeded: boolean): void {
    lane.counters.onEnded(succeeded)
    this.totals.onEnded(succeeded)
    this.runEnded(entry)
  }

  /** A run ended (or was cancelled): its id is free, its slot of `maxConcurrency` too. */
  private runEnded(entry: TaskEntry): void {
    this.ids.end(entry)
    this.inUse--
    if (this.capped.size > 0) this.passSlot()
  }

  /** A claimed worker took nothing: its slot is free again. */
  private noTake(claimed: boolean): undefined {
    if (claimed) {
      this.inUse--
      this.passSlot()
    }
    return undefined
  }

  /** Free slots of `maxConcurrency` go to the lanes waiting for one, in the order they began to wait. */
  private passSlot(): void {
    if (this.capped.size === 0 || this.inUse >= this.host.maxConcurrency) return
    const now = this.host.now()
    for (const lane of this.capped) {
      if (this.inUse >= this.host.maxConcurrency) return
      this.capped.delete(lane)
      this.reconcile(lane, now)
    }
  }

  /** A worker fiber ended (after releasing its permit); `claimed` if it ended while counted in `starting`. */
  workerExited(lane: Lane, fiber: Fiber.RuntimeFiber<void>, claimed: boolean): void {
    if (claimed) {
      lane.starting--
      this.inUse--
    }
    lane.workers--
    this.workers--
    lane.fibers.delete(fiber)
    const release = this.releases.get(lane)
    if (release !== undefined && !serves(lane, release.consumer)) {
      this.releases.delete(lane)
      Deferred.unsafeDone(release.done, Exit.void)
    }
    if (this.drained !== undefined && this.workers <= this.keep) {
      Deferred.unsafeDone(this.drained, Exit.void)
      this.drained = undefined
    }
    this.reconcile(lane, this.host.now())
    this.passSlot()
  }

  // ---- cancel and reschedule -------------------------------------------------

  /** Worker fibers interrupted by `cancel`: their run counts as cancelled, and they take no other task. */
  readonly cancelling = new WeakSet<Fiber.RuntimeFiber<void>>()
  /** Cancels of running tasks under way (workers check `cancelling` only when there are some). */
  cancelRequests = 0

  /** Removes the pending task of `entry` (in its lane's queue, which skips it from now on). */
  cancelPending(entry: TaskEntry): void {
    const lane = this.lanes.get(entry.value.source)! // a pending entry's lane is live
    this.ids.end(entry)
    this.queued--
    lane.counters.onCancelledPending()
    this.totals.onCancelledPending()
    this.reconcile(lane, this.host.now())
  }

  /** A pending task a store keeps outside memory was cancelled there. */
  cancelledStored(source: string): void {
    const lane = this.laneFor(source)
    lane.counters.onCancelledPending()
    this.totals.onCancelledPending()
    this.reconcile(lane, this.host.now())
  }

  /** The running task of `entry` was interrupted by `cancel` (instead of `ended`). */
  endedCancelled(lane: Lane, entry: TaskEntry): void {
    lane.counters.onCancelledRunning()
    this.totals.onCancelledRunning()
    this.runEnded(entry)
  }

  /**
   * Moves the pending task of `entry` to `dueMillis` (with `seq`, or the
   * next one): a new entry replaces it. Still pending: no counter changes.
   */
  requeue(entry: TaskEntry, dueMillis: number, seq?: number): void {
    const lane = this.lanes.get(entry.value.source)!
    this.ids.end(entry)
    const task = new Task({ ...entry.value, scheduleAt: DateTime.unsafeMake(dueMillis) }, true)
    const next: TaskEntry = { dueMillis, seq: seq ?? this.seq++, value: task, runner: undefined }
    this.ids.add(next)
    lane.queue.push(next)
    this.reconcile(lane, this.host.now())
  }

  /** Forgets the pending task of `entry` (a store keeps it, beyond its memory window). */
  forgetEntry(entry: TaskEntry): void {
    const lane = this.lanes.get(entry.value.source)!
    this.ids.end(entry)
    this.queued--
    this.reconcile(lane, this.host.now())
  }

  // ---- pause and resume ----------------------------------------------------

  /** `source`'s due tasks wait from now on (its running tasks finish); false if it was paused already. */
  pause(source: string): boolean {
    if (this.paused.has(source)) return false
    this.paused.add(source)
    const lane = this.lanes.get(source)
    if (lane !== undefined) {
      lane.paused = true
      this.watched.remove(lane)
      if (this.capped.size > 0) this.capped.delete(lane)
      this.unpark(lane, false) // a parked worker would take nothing: it leaves
    }
    return true
  }

  /** `source`'s due tasks start again; false if it was not paused. */
  resume(source: string): boolean {
    if (!this.paused.delete(source)) return false
    const lane = this.lanes.get(source)
    if (lane !== undefined) {
      lane.paused = false
      this.reconcile(lane, this.host.now())
    }
    return true
  }

  /**
   * Forgets the pending tasks of `source` that are in memory (a store keeps
   * them: the SQL layer keeps a paused source's tasks out of its memory
   * window). Returns how many.
   */
  forget(source: string): number {
    const lane = this.lanes.get(source)
    if (lane === undefined) return 0
    let n = 0
    for (const entry of lane.queue.clear()) {
      if ((entry as TaskEntry).runner === ENDED) continue // cancelled or rescheduled: not counted any more
      this.ids.end(entry as TaskEntry)
      n++
    }
    this.queued -= n
    this.reconcile(lane, this.host.now())
    return n
  }

  // ---- consumers leaving ---------------------------------------------------

  /**
   * `consumer` was unregistered: its lane starts none of its tasks any more
   * (its workers leave after their current task). Returns a `Deferred`
   * completed when no worker serves it any more, or undefined if none does.
   */
  release(consumer: TaskConsumer): Deferred.Deferred<void> | undefined {
    const lane = this.lanes.get(consumer.name)
    if (lane === undefined) return undefined
    if (lane.consumer === consumer) {
      lane.consumer = undefined
      this.unpark(lane, false)
    }
    let done: Deferred.Deferred<void> | undefined
    if (serves(lane, consumer)) {
      done = Deferred.unsafeMake<void>(FiberId.none)
      this.releases.set(lane, { consumer, done })
    }
    this.reconcile(lane, this.host.now())
    return done
  }

  /** The worker fibers serving `consumer` (to interrupt them when a release times out). */
  workersServing(consumer: TaskConsumer): ReadonlyArray<Fiber.RuntimeFiber<void>> {
    const lane = this.lanes.get(consumer.name)
    if (lane === undefined) return []
    return [...lane.fibers].filter(([, c]) => c === consumer).map(([fiber]) => fiber)
  }

  /** Every worker fiber except `except`. */
  allWorkers(except: Fiber.RuntimeFiber<unknown, unknown> | undefined): ReadonlyArray<Fiber.RuntimeFiber<void>> {
    const out: Array<Fiber.RuntimeFiber<void>> = []
    for (const lane of this.lanes.values()) {
      for (const fiber of lane.fibers.keys()) if (fiber !== except) out.push(fiber)
    }
    return out
  }

  /** Whether `fiber` is one of this scheduler's workers (a task calling `stop`). */
  isWorker(fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean {
    for (const lane of this.lanes.values()) if (lane.fibers.has(fiber as Fiber.RuntimeFiber<void>)) return true
    return false
  }

  // ---- the dispatcher ------------------------------------------------------

  /**
   * One dispatch round at `now`: starts the watched lanes whose head is due
   * (at most `budget` lanes or drops), drops the due tasks of sources with no
   * consumer, then decides what the dispatcher does next.
   */
  round(now: number, budget: number, maxSleep: number): Round {
    if (!this.running) return { _tag: "Exit" }
    this.setDispatching()
    const dropped: Array<Task> = []
    const waiting: Array<string> = []
    const grace = this.host.noConsumerGraceMillis
    // sources whose grace period ended are looked at again (dropped below, or started if a consumer came)
    for (const lane of this.orphans) {
      if (lane.orphanSince! + grace > now) continue
      this.orphans.delete(lane)
      this.reconcile(lane, now)
    }
    let n = 0
    for (let lane = this.watched.peek(); lane !== undefined && n < budget; lane = this.watched.peek()) {
      if (lane.readyAt() > now) break
      if (this.host.consumerOf(lane.source) === undefined) {
        if (grace > 0) {
          if (lane.orphanSince === undefined) {
            lane.orphanSince = now
            waiting.push(lane.source)
          }
          if (lane.orphanSince + grace > now) {
            // wait for a consumer: not watched (its head is due), timed from `orphans`
            this.watched.remove(lane)
            this.orphans.add(lane)
            n++
            continue
          }
        }
        for (let h = lane.head; h !== undefined && h.dueMillis <= now && n < budget; h = lane.head) {
          lane.queue.pop()
          this.queued--
          this.ids.end(h as TaskEntry)
          lane.counters.onDropped()
          this.totals.onDropped()
          dropped.push(h.value)
          n++
        }
        if (lane.head !== undefined && lane.head.dueMillis <= now) break // budget spent: next round
        this.watched.remove(lane)
        this.reconcile(lane, now)
      } else {
        this.watched.remove(lane)
        this.reconcile(lane, now)
        n++
      }
    }
    // parked workers idle for longer than the idle timeout leave
    const idleMillis = this.host.idleMillis
    for (const lane of this.parked) {
      if (lane.parkedSince + idleMillis > now) break
      this.unpark(lane, false)
    }
    const next = this.watched.peek()
    if (next !== undefined && next.readyAt() <= now) return { _tag: "Continue", dropped, waiting }
    const firstParked = this.parked.values().next()
    let expiry = firstParked.done === true ? Infinity : firstParked.value.parkedSince + idleMillis
    for (const lane of this.orphans) expiry = Math.min(expiry, lane.orphanSince! + grace)
    const wake = new Signal<void>()
    if (next === undefined && expiry === Infinity) {
      this.setIdle(wake)
      return { _tag: "Idle", dropped, waiting, wake }
    }
    const due = next === undefined ? Infinity : next.readyAt()
    this.setSleeping(due, wake)
    return {
      _tag: "Sleep",
      dropped,
      waiting,
      millis: Math.max(0, Math.min(Math.min(due, expiry) - now, maxSleep)),
      wake
    }
  }

  // ---- observation ---------------------------------------------------------

  /** Pending tasks of sources waiting for a consumer (in their grace period). */
  waiting(): number {
    let n = 0
    for (const lane of this.orphans) n += lane.queue.size
    return n
  }

  /** Due instant of the earliest pending task. */
  nextAt(): number | undefined {
    let min: number | undefined
    for (const lane of this.lanes.values()) {
      const head = lane.head
      if (head !== undefined && (min === undefined || head.dueMillis < min)) min = head.dueMillis
    }
    return min
  }
}

/** Whether a worker of `lane` serves `consumer`. */
const serves = (lane: Lane, consumer: TaskConsumer): boolean => {
  for (const served of lane.fibers.values()) if (served === consumer) return true
  return false
}
