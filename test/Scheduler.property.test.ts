/**
 * Property tests: random task sets (due times, submission times, sources,
 * concurrencies, durations) run under the TestClock, then the recorded runs
 * are checked against the scheduler's guarantees.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, DateTime, Duration, Effect, FastCheck as fc } from "effect"
import { type Entry, entryLessThan, MinHeap } from "../src/scheduler/internal/heap.js"
import { ReadyQueue } from "../src/scheduler/internal/readyQueue.js"
import { Task } from "../src/scheduler/Task.js"
import { advanceTo, setup } from "./support.js"

const STEP = 100 // ms: a coarse grid keeps the number of TestClock wake-ups small
const SOURCES = ["a", "b", "c"] as const

interface Spec {
  readonly source: (typeof SOURCES)[number]
  readonly due: number
  readonly submitAt: number
  readonly duration: number
}

interface Observed {
  readonly spec: Spec
  readonly key: number // index in the generated specs
  submitEvent: number
  startEvent: number
  start: number
  end: number
  runs: number
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  source: fc.constantFrom(...SOURCES),
  due: fc.integer({ min: 0, max: 20 }).map((n) => n * STEP),
  submitAt: fc.integer({ min: 0, max: 20 }).map((n) => n * STEP),
  duration: fc.integer({ min: 0, max: 5 }).map((n) => n * STEP)
})

const concurrencyArb = fc.record({
  a: fc.integer({ min: 1, max: 3 }),
  b: fc.integer({ min: 1, max: 3 }),
  c: fc.integer({ min: 1, max: 3 })
})

/** Runs the specs through a scheduler and returns what each task observed. */
const simulate = (specs: ReadonlyArray<Spec>, concurrency: Record<string, number>, maxConcurrency?: number) =>
  Effect.gen(function*() {
    // Times in the specs are relative to the start of this run.
    const base = yield* Clock.currentTimeMillis
    let event = 0
    const byId = new Map<string, Observed>()
    const consumers = SOURCES.map((name) => ({
      name,
      concurrency: concurrency[name] ?? 1,
      consume: (task: Task) =>
        Effect.gen(function*() {
          const observed = byId.get(task.id)!
          observed.runs++
          observed.startEvent = event++
          observed.start = (yield* Clock.currentTimeMillis) - base
          if (observed.spec.duration > 0) yield* Effect.sleep(Duration.millis(observed.spec.duration))
          observed.end = (yield* Clock.currentTimeMillis) - base
        })
    }))
    const { scheduler } = yield* setup(consumers, { maxSleep: "1 hour", maxConcurrency })
    const observed: Array<Observed> = []
    const bySubmitTime = new Map<number, Array<Observed>>()
    for (const [key, spec] of specs.entries()) {
      const o: Observed = { spec, key, submitEvent: -1, startEvent: -1, start: -1, end: -1, runs: 0 }
      observed.push(o)
      bySubmitTime.set(spec.submitAt, [...(bySubmitTime.get(spec.submitAt) ?? []), o])
    }
    for (const at of [...bySubmitTime.keys()].sort((x, y) => x - y)) {
      yield* advanceTo(base + at)
      const tasks: Array<Task> = []
      for (const o of bySubmitTime.get(at)!) {
        const task = yield* Task.create({ source: o.spec.source, scheduleAt: DateTime.unsafeMake(base + o.spec.due) })
        byId.set(task.id, o)
        o.submitEvent = event++
        tasks.push(task)
      }
      yield* scheduler.submitAll(tasks)
    }
    const horizon = 2 * STEP * 20 + specs.reduce((sum, s) => sum + s.duration, 0)
    yield* advanceTo(base + horizon)
    return { observed, stats: yield* scheduler.stats }
  }).pipe(Effect.scoped)

/** The tasks of `source` (all sources: undefined) running at instant `x` (start <= x < end). */
const runningAt = (observed: ReadonlyArray<Observed>, source: string | undefined, x: number) =>
  observed.filter((o) => (source === undefined || o.spec.source === source) && o.start <= x && x < o.end).length

const available = (o: Observed) => Math.max(o.spec.due, o.spec.submitAt)

describe("Scheduler properties", () => {
  it.effect.prop(
    "random task sets: on time, exactly once, within limits, work-conserving, in (due, submission) order",
    [fc.array(specArb, { minLength: 1, maxLength: 24 }), concurrencyArb, fc.boolean()],
    ([generated, concurrency, upfront]) =>
      Effect.gen(function*() {
        // in half of the runs everything is submitted at time 0
        const specs = upfront ? generated.map((s) => ({ ...s, submitAt: 0 })) : generated
        const { observed, stats } = yield* simulate(specs, concurrency)

        // every task of a known source runs exactly once
        for (const o of observed) assert.strictEqual(o.runs, 1, `task ${o.key} ran ${o.runs} times`)
        assert.strictEqual(stats.succeeded, specs.length)
        assert.strictEqual(stats.pending, 0)

        for (const o of observed) {
          // no task starts before it is due (nor before it was submitted)
          assert.isAtLeast(o.start, available(o), `task ${o.key} started early`)
          // per-source concurrency is never exceeded (checked at every start)
          assert.isAtMost(runningAt(observed, o.spec.source, o.start), concurrency[o.spec.source])
        }

        for (const o of observed) {
          // work-conserving: while a task waits after becoming available, all
          // of its source's permits are busy
          if (o.start > available(o)) {
            const instants = [available(o), ...observed.map((p) => p.end)].filter(
              (x) => x >= available(o) && x < o.start
            )
            for (const x of instants) {
              assert.strictEqual(
                runningAt(observed, o.spec.source, x),
                concurrency[o.spec.source],
                `task ${o.key} waited at ${x} with a free permit`
              )
            }
          }
        }

        // priority: when a task starts, no task of the same source that was
        // already submitted and due has an earlier (due, submission order)
        for (const t of observed) {
          for (const u of observed) {
            if (u === t || u.spec.source !== t.spec.source || u.startEvent < t.startEvent) continue
            const wasAvailable = u.submitEvent < t.startEvent && u.spec.due <= t.start
            const uFirst = u.spec.due < t.spec.due || (u.spec.due === t.spec.due && u.submitEvent < t.submitEvent)
            assert.isFalse(wasAvailable && uFirst, `task ${t.key} started before the earlier task ${u.key}`)
          }
        }

        // with concurrency 1 and everything submitted up front, the start
        // order is exactly (due, submission order)
        for (const source of SOURCES) {
          const mine = observed.filter((o) => o.spec.source === source)
          if (concurrency[source] !== 1 || mine.some((o) => o.spec.submitAt !== 0)) continue
          const started = [...mine].sort((x, y) => x.startEvent - y.startEvent).map((o) => o.key)
          const expected = [...mine].sort((x, y) => x.spec.due - y.spec.due || x.submitEvent - y.submitEvent).map((o) =>
            o.key
          )
          assert.deepStrictEqual(started, expected)
        }
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "maxConcurrency: random task sets never run more tasks at once than the cap (nor than a source's limit), all run, and no slot idles while a task could use it",
    [fc.array(specArb, { minLength: 1, maxLength: 24 }), concurrencyArb, fc.integer({ min: 1, max: 4 })],
    ([specs, concurrency, maxConcurrency]) =>
      Effect.gen(function*() {
        const { observed, stats } = yield* simulate(specs, concurrency, maxConcurrency)
        for (const o of observed) assert.strictEqual(o.runs, 1, `task ${o.key} ran ${o.runs} times`)
        assert.strictEqual(stats.succeeded, specs.length)
        for (const o of observed) {
          assert.isAtLeast(o.start, available(o), `task ${o.key} started early`)
          assert.isAtMost(runningAt(observed, undefined, o.start), maxConcurrency, `the cap at ${o.start}`)
          assert.isAtMost(runningAt(observed, o.spec.source, o.start), concurrency[o.spec.source])
        }
        // work-conserving: while a task waits after becoming available, its source's permits or the cap are all used
        for (const o of observed) {
          if (o.start <= available(o)) continue
          const instants = [available(o), ...observed.map((p) => p.end)].filter((x) => x >= available(o) && x < o.start)
          for (const x of instants) {
            const full = runningAt(observed, o.spec.source, x) === concurrency[o.spec.source] ||
              runningAt(observed, undefined, x) === maxConcurrency
            assert.isTrue(full, `task ${o.key} waited at ${x} with a free permit and a free slot`)
          }
        }
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.prop(
    "the heap pops entries in (due, seq) order",
    [fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 })],
    ([dues]) => {
      const heap = new MinHeap<number>()
      dues.forEach((dueMillis, seq) => heap.push({ dueMillis, seq, value: seq }))
      const popped: Array<[number, number]> = []
      for (let e = heap.pop(); e !== undefined; e = heap.pop()) popped.push([e.dueMillis, e.seq])
      const expected = dues.map((d, i) => [d, i] as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1])
      assert.deepStrictEqual(popped, expected)
    }
  )

  it.prop(
    "the ready queue always pops its smallest (due, seq) entry, whatever the push order",
    [fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constant(-1)), { maxLength: 400 })],
    ([ops]) => {
      // n >= 0: push an entry due at n (mostly increasing, sometimes earlier); -1: pop
      const queue = new ReadyQueue<number>()
      const model: Array<Entry<number>> = []
      let seq = 0
      let base = 0
      for (const op of ops) {
        if (op >= 0) {
          base += op % 3 // mostly in order...
          const due = op % 5 === 0 ? op : base // ...sometimes out of order
          const entry = { dueMillis: due, seq: seq++, value: seq }
          queue.push(entry)
          model.push(entry)
        } else {
          model.sort((x, y) => (entryLessThan(x, y) ? -1 : entryLessThan(y, x) ? 1 : 0))
          assert.strictEqual(queue.peek(), model[0])
          assert.strictEqual(queue.pop(), model.shift())
        }
        assert.strictEqual(queue.size, model.length)
      }
      const rest = queue.clear()
      assert.strictEqual(rest.length, model.length)
      assert.strictEqual(queue.size, 0)
      assert.isUndefined(queue.pop())
    }
  )
})
