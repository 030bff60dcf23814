/**
 * Supervision (docs/architecture.md, "Supervision"): whatever happens inside
 * one run — a failure, a defect or an interruption in the fetch, the
 * pipeline or while recording the outcome — the job's next run is planned,
 * the failure is logged and counted, and `listInstances` (`/collectors`)
 * shows it. Retry delays are clamped to a floor and a cap. Run against both
 * scheduler adapters, under the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, LogLevel, Option, TestClock } from "effect"
import * as Pipeline from "../../src/app/pipeline/Pipeline.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import { captureLogs, settle } from "../support.js"
import { adapters, harness, type RunRecord, scriptedCollector, type Step } from "./support.js"

const MIN = 60_000
const adjustMinutes = (mins: number) => TestClock.adjust(Duration.minutes(mins))
const adjustMillis = (ms: number) => TestClock.adjust(Duration.millis(ms))
const minutes = (records: ReadonlyArray<RunRecord>) => records.map((r) => r.start / MIN)

type StoreOp = "get" | "recordSuccess" | "recordFailure"

/** A store whose `op` dies on its first call. */
const storeDyingOn = (op: StoreOp): Layer.Layer<JobStateStore.JobStateStore> => {
  let calls = 0
  return Layer.effect(
    JobStateStore.JobStateStore,
    Effect.map(JobStateStore.JobStateStore, (store) => ({
      ...store,
      [op]: (...args: Array<never>) =>
        calls++ === 0
          ? Effect.die(new Error(`injected: ${op} died`))
          : (store[op] as (...args: Array<never>) => Effect.Effect<unknown, unknown>)(...args)
    }))
  ).pipe(Layer.provide(JobStateStore.layerMemory()))
}

/** A pipeline whose first run dies. */
const pipelineDyingOnce = (): Layer.Layer<Pipeline.Pipeline> => {
  let calls = 0
  return Layer.effect(
    Pipeline.Pipeline,
    Effect.map(Pipeline.Pipeline, (pipeline) => ({
      run: (events) => calls++ === 0 ? Effect.die(new Error("injected: pipeline died")) : pipeline.run(events)
    }))
  ).pipe(Layer.provide(Pipeline.layerMemory()))
}

interface Fault {
  readonly name: string
  readonly expected: RegExp
  readonly script?: (param: string | undefined, run: number) => Step
  readonly store?: StoreOp
  readonly pipeline?: boolean
}

/** Whether the faulty run reached the collector's fetch (a pipeline that dies at once never pulls the stream). */
const fetched = (fault: Fault) => fault.pipeline !== true

const faults: ReadonlyArray<Fault> = [
  { name: "a defect in the fetch", expected: /run 0 died/, script: (_, n) => n === 0 ? { outcome: "die" } : {} },
  {
    name: "an interruption inside the fetch",
    expected: /interrupt/i,
    script: (_, n) => n === 0 ? { outcome: "interrupt" } : {}
  },
  { name: "a defect in the pipeline", expected: /pipeline died/, pipeline: true },
  { name: "a defect while recording a success", expected: /recordSuccess died/, store: "recordSuccess" },
  {
    name: "a defect while recording a failure",
    expected: /recordFailure died/,
    store: "recordFailure",
    script: (_, n) => n === 0 ? { outcome: "fail" } : {}
  }
]

for (const [name, adapter] of adapters) {
  describe(`Supervision: ${name}`, () => {
    const { started, startedJob } = harness(adapter)

    for (const fault of faults) {
      it.scoped(`${fault.name}: logged, counted, shown, and the job runs again at its next interval`, () =>
        captureLogs((logs) =>
          Effect.gen(function*() {
            const runs: Array<RunRecord> = []
            const { adapter: scheduler, runner } = yield* started(
              [scriptedCollector({ name: "job", intervalMinutes: 10, runs, script: fault.script })],
              {
                store: fault.store === undefined ? undefined : storeDyingOn(fault.store),
                pipeline: fault.pipeline === true ? pipelineDyingOnce() : undefined
              }
            )
            yield* settle
            assert.deepStrictEqual(minutes(runs), fetched(fault) ? [0] : [])
            const [info] = yield* runner.listInstances
            assert.isTrue(Option.isSome(info!.lastOutcome), "the outcome is shown")
            const outcome = Option.getOrThrow(info!.lastOutcome)
            assert.notStrictEqual(outcome._tag, "Succeeded")
            assert.match("error" in outcome ? outcome.error : "", fault.expected)
            const counters = yield* runner.counters
            assert.strictEqual(counters.succeeded, 0, "a run whose outcome was not recorded is not a success")
            assert.strictEqual(counters.failed + counters.retried, 1, "the failure is counted")
            assert.isTrue(
              logs.some((log) =>
                LogLevel.greaterThanEqual(log.level, LogLevel.Warning) &&
                (fault.expected.test(log.message) || fault.expected.test(String(log.cause)))
              ),
              "the failure is logged"
            )
            yield* adjustMinutes(10)
            assert.deepStrictEqual(minutes(runs).slice(-1), [10], "the job runs again")
            yield* adjustMinutes(20)
            assert.deepStrictEqual(minutes(runs), [...(fetched(fault) ? [0] : []), 10, 20, 30], "and keeps its cadence")
            assert.isTrue((yield* scheduler.status).running)
          })
        ))
    }

    it.scoped("a defect while reading the job state at start: the job still runs and keeps its cadence", () =>
      Effect.gen(function*() {
        const runs: Array<RunRecord> = []
        yield* started([scriptedCollector({ name: "job", intervalMinutes: 10, runs })], { store: storeDyingOn("get") })
        yield* settle
        yield* adjustMinutes(20)
        assert.deepStrictEqual(minutes(runs), [0, 10, 20])
      }))

    it.scoped("Retry-After 0 does not hammer: a retry waits at least the floor (30 s by default)", () =>
      Effect.gen(function*() {
        const { runs } = yield* startedJob({
          name: "limited",
          intervalMinutes: 60,
          script: (_, n): Step => n < 50 ? { outcome: "retry", retryAfter: Duration.zero } : {}
        })
        yield* settle
        assert.strictEqual(runs.length, 1, "one run at start, not a burst")
        yield* adjustMillis(29_999)
        assert.strictEqual(runs.length, 1)
        yield* adjustMillis(1)
        assert.strictEqual(runs.length, 2, "retried after 30 s")
        assert.strictEqual(runs[1]!.start, 30_000)
      }))

    for (
      const [what, retryAfter] of [
        ["a huge Retry-After (99999999999999 s)", Duration.seconds(99999999999999)],
        ["an infinite retry delay", Duration.infinity],
        ["a Retry-After in year 9999", Duration.millis(Date.UTC(9999, 11, 31))]
      ] as const
    ) {
      it.scoped(`${what} is capped at the job's interval and the job keeps running`, () =>
        Effect.gen(function*() {
          const { adapter: scheduler, runs } = yield* startedJob({
            name: "capped",
            intervalMinutes: 10,
            script: (_, n): Step => n === 0 ? { outcome: "retry", retryAfter } : {}
          })
          yield* settle
          const status = yield* scheduler.status
          assert.isTrue(Option.isSome(status.nextRunAt), "a next run is planned")
          yield* adjustMinutes(10)
          assert.deepStrictEqual(minutes(runs), [0, 10])
          yield* adjustMinutes(10)
          assert.deepStrictEqual(minutes(runs), [0, 10, 20])
        }))
    }
  })
}
