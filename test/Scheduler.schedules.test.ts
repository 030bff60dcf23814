/**
 * Issue 10, recurring schedules, against both layers (this file is in the
 * conformance list of vitest.config.ts): `schedule` / `unschedule` /
 * `schedules`, cron in time zones through DST, misfire policies after a
 * stop, a pause and a wall-clock jump, overlap. Under `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { type ScheduleOptions, validateSchedule } from "../src/scheduler/Scheduler.js"
import type { Task } from "../src/scheduler/Task.js"
import { captureLogs, makeWallJumpingClock, settle, setup } from "./support.js"

const iso = (millis: number) => new Date(millis).toISOString()
const S = 1000

/** A consumer recording "<task id> <start ISO>"; a run takes `args.ms` (default 0). */
const recorder = (name: string, runs: Array<string>, clock?: Clock.Clock) => ({
  name,
  concurrency: 4,
  consume: (t: Task) =>
    Effect.gen(function*() {
      const now = clock === undefined ? yield* Clock.currentTimeMillis : clock.unsafeCurrentTimeMillis()
      runs.push(`${t.id} ${iso(now)}`)
      yield* Effect.sleep(Duration.millis(Number(t.args.ms ?? 0)))
    })
})

/** Moves the TestClock to each instant in turn (epoch ms), letting the scheduler act at each. */
const visit = (...instants: ReadonlyArray<number>) =>
  Effect.forEach(instants, (at) => Effect.zipRight(TestClock.setTime(at), settle), { discard: true })

/** Moves the TestClock from now to `to` in steps of `step` ms. */
const walk = (to: number, step: number) =>
  Effect.gen(function*() {
    for (let at = (yield* Clock.currentTimeMillis) + step; at <= to; at += step) yield* visit(at)
    yield* visit(to)
  })

describe("Scheduler.schedule", () => {
  it.scoped("every: occurrences are tasks with id <schedule id>@<ISO instant>, due at each period from the declaration; schedules reports them; unschedule stops them", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        yield* visit(500)
        yield* scheduler.schedule({ id: "tick", source: "s", every: "10 seconds", args: { n: 1 } })
        const [info] = yield* scheduler.schedules
        assert.deepStrictEqual(
          [info!.id, info!.source, info!.args, info!.cron, Duration.toMillis(info!.every!), info!.timeZone],
          ["tick", "s", { n: 1 }, undefined, 10 * S, "UTC"]
        )
        assert.deepStrictEqual([info!.misfire.policy, Duration.isFinite(info!.misfire.grace)], ["coalesce", false])
        assert.strictEqual(DateTime.toEpochMillis(info!.nextRun), 10_500)
        yield* visit(10_500, 15_000, 20_500, 30_500)
        assert.deepStrictEqual(runs, [
          `tick@${iso(10_500)} ${iso(10_500)}`,
          `tick@${iso(20_500)} ${iso(20_500)}`,
          `tick@${iso(30_500)} ${iso(30_500)}`
        ])
        const after = (yield* scheduler.schedules)[0]!
        assert.deepStrictEqual([after.runs, DateTime.toEpochMillis(after.nextRun)], [3, 40_500])
        assert.isTrue(yield* scheduler.unschedule("tick"))
        assert.isFalse(yield* scheduler.unschedule("tick"))
        yield* visit(40_500, 60_000)
        assert.strictEqual(runs.length, 3)
        assert.deepStrictEqual(yield* scheduler.schedules, [])
        assert.strictEqual((yield* scheduler.stats).succeeded, 3)
      })
    ))

  // (the clock is set before the scheduler is built: the SQL layer's lease renewals would fire all the way)
  it.scoped("cron in Europe/Berlin: 30 2 * * * fires once, at the first 02:30, on the fall-back day", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        yield* visit(Date.parse("2026-10-23T12:00:00Z"))
        const { scheduler } = yield* setup([recorder("s", runs)], { maxSleep: "30 days" })
        yield* scheduler.schedule({ id: "nightly", source: "s", cron: "30 2 * * *", timeZone: "Europe/Berlin" })
        yield* walk(Date.parse("2026-10-27T00:00:00Z"), 6 * 3600 * S)
        assert.deepStrictEqual(runs.map((r) => r.split(" ")[1]), [
          "2026-10-24T00:30:00.000Z",
          "2026-10-25T00:30:00.000Z", // 02:30 CEST, the first of the two 02:30s
          "2026-10-26T01:30:00.000Z"
        ])
      })
    ))

  it.scoped("cron in Europe/Berlin: 30 2 * * * fires at 2026-03-29T01:00:00Z (03:00 CEST, the first instant after the gap) on the spring-forward day", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        yield* visit(Date.parse("2026-03-27T12:00:00Z"))
        const { scheduler } = yield* setup([recorder("s", runs)], { maxSleep: "30 days" })
        yield* scheduler.schedule({ id: "nightly", source: "s", cron: "30 2 * * *", timeZone: "Europe/Berlin" })
        yield* walk(Date.parse("2026-03-31T00:00:00Z"), 6 * 3600 * S)
        assert.deepStrictEqual(runs, [
          `nightly@2026-03-28T01:30:00.000Z 2026-03-28T01:30:00.000Z`,
          `nightly@2026-03-29T01:00:00.000Z 2026-03-29T01:00:00.000Z`,
          `nightly@2026-03-30T00:30:00.000Z 2026-03-30T00:30:00.000Z`
        ])
      })
    ))

  it.scoped("an hourly cron fires once per real hour through both DST transitions of America/New_York (6-field, with seconds)", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        for (
          const [from, to] of [["2026-03-08T04:00:00Z", "2026-03-08T10:00:00Z"], [
            "2026-11-01T03:00:00Z",
            "2026-11-01T09:00:00Z"
          ]]
        ) {
          const runs: Array<string> = []
          yield* visit(Date.parse(from!) - 1)
          yield* Effect.scoped(Effect.gen(function*() {
            const { scheduler } = yield* setup([recorder("s", runs)], { maxSleep: "30 days" })
            yield* scheduler.schedule({ id: "hourly", source: "s", cron: "15 0 * * * *", timeZone: "America/New_York" })
            yield* walk(Date.parse(to!), 15 * 60 * S)
          }))
          const hours = runs.map((r) => Date.parse(r.split(" ")[1]!))
          assert.deepStrictEqual(
            hours.map((h) => h - hours[0]!),
            [0, 1, 2, 3, 4, 5].map((n) => n * 3600 * S),
            `once per real hour from ${from}: ${runs.join(", ")}`
          )
          assert.deepStrictEqual([new Date(hours[0]!).getUTCMinutes(), new Date(hours[0]!).getUTCSeconds()], [0, 15])
        }
      })
    ))

  it.scoped("misfire after a stop: coalesce runs one catch-up (the newest missed), all runs each within grace oldest first, skip none; then the next future occurrence", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        const every = (id: string, misfire: ScheduleOptions["misfire"]) =>
          scheduler.schedule({ id, source: "s", every: "10 seconds", misfire })
        yield* every("c", undefined)
        yield* every("a", { policy: "all", grace: "25 seconds" })
        yield* every("k", { policy: "skip" })
        yield* every("g", { policy: "coalesce", grace: "3 seconds" })
        yield* visit(5 * S)
        yield* scheduler.stop
        yield* visit(65 * S) // 10, 20, ..., 60 s missed
        yield* scheduler.start
        yield* settle
        const at = (id: string) => runs.filter((r) => r.startsWith(`${id}@`)).map((r) => r.split(" ")[0]!.slice(2))
        assert.deepStrictEqual(at("c"), [iso(60 * S)], "one catch-up, for the newest missed occurrence")
        assert.deepStrictEqual(at("a"), [iso(40 * S), iso(50 * S), iso(60 * S)], "each within 25 s, oldest first")
        assert.deepStrictEqual(at("k"), [])
        assert.deepStrictEqual(at("g"), [], "the newest missed one is 5 s old: beyond its 3 s of grace")
        const info = new Map((yield* scheduler.schedules).map((i) => [i.id, i]))
        assert.deepStrictEqual(
          ["a", "c", "g", "k"].map((
            id
          ) => [id, info.get(id)!.skippedMissed, DateTime.toEpochMillis(info.get(id)!.nextRun)]),
          [["a", 3, 70 * S], ["c", 5, 70 * S], ["g", 6, 70 * S], ["k", 6, 70 * S]]
        )
        runs.length = 0
        yield* visit(70 * S)
        assert.deepStrictEqual(runs.map((r) => r.split(" ")[0]!.slice(2)).sort(), Array(4).fill(iso(70 * S)))
      })
    ))

  it.scoped("all: missed occurrences run one after the other, never overlapping", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        yield* scheduler.schedule({
          id: "a",
          source: "s",
          every: "10 seconds",
          args: { ms: 4000 },
          misfire: { policy: "all" }
        })
        yield* scheduler.stop
        yield* visit(35 * S) // 10, 20, 30 s missed
        yield* scheduler.start
        yield* walk(45 * S, 500)
        assert.deepStrictEqual(runs, [
          `a@${iso(10 * S)} ${iso(35 * S)}`,
          `a@${iso(20 * S)} ${iso(39 * S)}`,
          `a@${iso(30 * S)} ${iso(43 * S)}`
        ])
      })
    ))

  it.scoped("overlap: an occurrence due while the previous run still runs is skipped and counted", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        yield* scheduler.schedule({ id: "o", source: "s", every: "1 second", args: { ms: 2500 } })
        yield* walk(8 * S, 250)
        assert.deepStrictEqual(runs.map((r) => r.split(" ")[1]), [iso(1 * S), iso(4 * S), iso(7 * S)])
        const [info] = yield* scheduler.schedules
        assert.strictEqual(info!.skippedOverlap, 5, "2, 3, 5, 6 and 8 s")
      })
    ))

  it.scoped("a paused source's occurrences are missed: at resume they follow the misfire policy", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        yield* scheduler.schedule({ id: "p", source: "s", every: "10 seconds" })
        yield* visit(10 * S)
        yield* scheduler.pause("s")
        yield* walk(45 * S, 5 * S)
        assert.strictEqual(runs.length, 1)
        yield* scheduler.resume("s")
        yield* settle
        yield* visit(50 * S)
        assert.deepStrictEqual(runs.map((r) => r.split(" ")[0]!.slice(2)), [iso(10 * S), iso(40 * S), iso(50 * S)])
        assert.strictEqual((yield* scheduler.schedules)[0]!.skippedMissed, 2)
      })
    ))

  it.scoped("a forward wall-clock jump: occurrences in the skipped span follow the misfire policy (coalesce: one run)", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const { clock, jump } = yield* makeWallJumpingClock
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs, clock)], {}, clock)
        yield* scheduler.schedule({ id: "j", source: "s", every: "1 minute" })
        yield* visit(60 * S)
        yield* jump(10 * 60 * S) // the wall clock jumps 10 minutes ahead
        yield* visit(61 * S)
        yield* visit(120 * S) // the next wake-up (maxSleep is 1 minute)
        yield* visit(121 * S)
        // the schedules' next wake-up (at 120 s monotonic) finds the wall clock at 720 s: 120 ... 720 s were
        // skipped; coalesce runs one (the newest), the others are counted as missed
        assert.deepStrictEqual(runs, [`j@${iso(60 * S)} ${iso(60 * S)}`, `j@${iso(720 * S)} ${iso(720 * S)}`])
        assert.strictEqual((yield* scheduler.stats).clockJumps, 1)
        const [info] = yield* scheduler.schedules
        assert.deepStrictEqual([DateTime.toEpochMillis(info!.nextRun), info!.skippedMissed], [780 * S, 10])
      })
    ))

  it.scoped("re-declaring: the same timing keeps the next occurrence (declare at every start); another timing starts afresh", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        yield* scheduler.schedule({ id: "r", source: "s", every: "10 seconds" })
        yield* visit(7 * S)
        yield* scheduler.schedule({ id: "r", source: "s", every: "10 seconds", args: { v: 2 } })
        assert.strictEqual(DateTime.toEpochMillis((yield* scheduler.schedules)[0]!.nextRun), 10 * S)
        yield* visit(10 * S)
        yield* scheduler.schedule({ id: "r", source: "s", every: "1 minute" })
        const [info] = yield* scheduler.schedules
        assert.deepStrictEqual([DateTime.toEpochMillis(info!.nextRun), Duration.toMillis(info!.every!)], [
          70 * S,
          60 * S
        ])
        yield* visit(20 * S, 70 * S)
        assert.deepStrictEqual(runs.map((r) => r.split(" ")[0]!.slice(2)), [iso(10 * S), iso(70 * S)])
        assert.strictEqual((yield* scheduler.schedules).length, 1)
      })
    ))

  it.scoped("startAt: an every-schedule's first occurrence (if past, its current grid instant, due at once: one run, then the grid); no cron occurrence before it; ignored by a same-timing re-declaration", () =>
    captureLogs(() =>
      Effect.gen(function*() {
        const runs: Array<string> = []
        const { scheduler } = yield* setup([recorder("s", runs)])
        yield* visit(25 * S)
        const at = (millis: number) => DateTime.unsafeMake(millis)
        yield* scheduler.schedule({ id: "now", source: "s", every: "1 minute", startAt: at(25 * S) })
        yield* scheduler.schedule({ id: "later", source: "s", every: "1 minute", startAt: at(40 * S) })
        // misfire skip: the grid's current instant, due at once, is on time, not a missed occurrence
        yield* scheduler.schedule({
          id: "grid",
          source: "s",
          every: "10 seconds",
          startAt: at(0),
          misfire: { policy: "skip" }
        })
        yield* scheduler.schedule({ id: "cron", source: "s", cron: "0 * * * *", startAt: at(3 * 3600 * S + 1) })
        const next = () =>
          Effect.map(scheduler.schedules, (all) => all.map((i) => [i.id, DateTime.toEpochMillis(i.nextRun) / S]))
        assert.deepStrictEqual(yield* next(), [["cron", 4 * 3600], ["grid", 20], ["later", 40], ["now", 25]])
        yield* settle
        assert.deepStrictEqual(
          runs,
          [`grid@${iso(20 * S)} ${iso(25 * S)}`, `now@${iso(25 * S)} ${iso(25 * S)}`],
          "due at once (not missed occurrences): the grid's current instant (20; 0 and 10 are not run), and now"
        )
        assert.deepStrictEqual(yield* next(), [["cron", 4 * 3600], ["grid", 30], ["later", 40], ["now", 85]])
        // the same timing with another startAt: the state is kept
        yield* scheduler.schedule({ id: "later", source: "s", every: "1 minute", startAt: at(50 * S) })
        assert.deepStrictEqual((yield* next())[2], ["later", 40])
      })
    ))

  it.effect("invalid options are an InvalidScheduleError naming what is wrong", () =>
    captureLogs(() =>
      Effect.scoped(Effect.gen(function*() {
        const { scheduler } = yield* setup([])
        const reason = (options: unknown) =>
          scheduler.schedule(options as ScheduleOptions).pipe(
            Effect.match({ onFailure: (e) => `${e._tag}: ${e.message}`, onSuccess: () => "valid" })
          )
        const base = { id: "x", source: "s" }
        assert.strictEqual(
          yield* reason({ ...base, cron: "0 * * * *", timeZone: "Mars/Olympus" }),
          `InvalidScheduleError: Invalid schedule "x": timeZone must be an IANA time zone name (e.g. "Europe/Berlin"), got "Mars/Olympus"`
        )
        assert.match(yield* reason({ ...base }), /exactly one of cron and every must be given/)
        assert.match(yield* reason({ ...base, cron: "* * * * *", every: "1 minute" }), /exactly one of cron and every/)
        assert.match(yield* reason({ ...base, cron: "61 * * * *" }), /invalid cron expression "61 \* \* \* \*"/)
        assert.match(yield* reason({ ...base, cron: "0 0 30 2 *" }), /never fires/)
        assert.match(
          yield* reason({ ...base, every: "0 seconds" }),
          /every must be a finite duration of at least 1 millisecond/
        )
        assert.match(
          yield* reason({ ...base, every: "1 minute", misfire: { policy: "later" } }),
          /misfire.policy must be one of/
        )
        assert.match(
          yield* reason({ ...base, every: "1 minute", misfire: { grace: "soon" } }),
          /misfire.grace must be a duration/
        )
        assert.match(yield* reason({ id: "", source: "s", every: "1 minute" }), /id must be a non-empty string/)
        assert.match(yield* reason({ id: "x".repeat(201), source: "s", every: "1 minute" }), /at most 200 characters/)
        assert.match(yield* reason({ id: "x", source: "", every: "1 minute" }), /source/)
        assert.match(
          yield* reason({ ...base, every: "1 minute", args: { d: new Date(0) } }),
          /args[\s\S]*a Date is not JSON/
        )
        assert.match(
          yield* reason({ ...base, every: "1 minute", startAt: "tomorrow" }),
          /startAt must be a DateTime, got "tomorrow"/
        )
        assert.strictEqual(yield* reason({ ...base, every: "1 minute" }), "valid")
        // the same check without a scheduler
        assert.deepStrictEqual(
          Option.map(validateSchedule({ ...base, cron: "0 * * * *", timeZone: "Mars/Olympus" }), (e) => e.reason),
          Option.some(`timeZone must be an IANA time zone name (e.g. "Europe/Berlin"), got "Mars/Olympus"`)
        )
        assert.isTrue(Option.isNone(validateSchedule({ ...base, every: "1 minute" })))
      }))
    ))
})

describe("Scheduler.schedule properties", () => {
  const Q = 500 // ms: the walk's step; toggles fall on half seconds, occurrences and run ends on whole seconds

  /** Sorted distinct toggle instants (odd multiples of Q below `horizon`). */
  const togglesArb = (horizon: number) =>
    fc.uniqueArray(fc.integer({ min: 0, max: horizon / (2 * Q) - 1 }), { maxLength: 6 }).map((xs) =>
      xs.sort((a, b) => a - b).map((x) => (2 * x + 1) * Q)
    )

  it.effect.prop(
    "random periods, run lengths, policies, grace, stops and pauses: no overlap, each occurrence at most once and never early, on its grid, within grace, nothing while stopped or paused, on time whenever the schedule is armed and idle",
    [
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 6 }),
      fc.constantFrom("coalesce" as const, "all" as const, "skip" as const),
      fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
      togglesArb(20_000),
      togglesArb(20_000)
    ],
    ([periodSec, durationSec, policy, graceSec, stopToggles, pauseToggles]) =>
      captureLogs(() =>
        Effect.scoped(Effect.gen(function*() {
          const horizon = 20_000
          const period = periodSec * S
          const duration = durationSec * S
          const grace = graceSec === undefined ? Infinity : graceSec * S
          const base = yield* Clock.currentTimeMillis
          interface Run {
            readonly instant: number
            readonly start: number
            end: number
          }
          const runs: Array<Run> = []
          const { scheduler } = yield* setup([{
            name: "s",
            concurrency: 4, // overlap is the schedule's to prevent, not the source's
            consume: (t: Task) =>
              Effect.gen(function*() {
                const run: Run = {
                  instant: Date.parse(t.id.slice(t.id.indexOf("@") + 1)) - base,
                  start: (yield* Clock.currentTimeMillis) - base,
                  end: Infinity
                }
                runs.push(run)
                yield* Effect.sleep(Duration.millis(duration))
                run.end = (yield* Clock.currentTimeMillis) - base
              })
          }])
          yield* scheduler.schedule({
            id: "p",
            source: "s",
            every: Duration.millis(period),
            misfire: { policy, grace: graceSec === undefined ? undefined : Duration.millis(grace) }
          })
          // running windows: [start completed, next stop); paused windows: (pause, resume)
          const running: Array<[number, number]> = [[0, Infinity]]
          const paused: Array<[number, number]> = []
          let lifecycle: Fiber.RuntimeFiber<void> | undefined
          for (let at = Q; at <= horizon + 10 * S; at += Q) {
            yield* TestClock.setTime(base + at)
            yield* settle
            // a toggle while the previous stop still waits for a run is left out: then each one takes
            // effect at its instant (a start or stop queued behind another would blur the windows)
            if (stopToggles.includes(at) && (lifecycle === undefined || lifecycle.unsafePoll() !== null)) {
              if (running[running.length - 1]![1] === Infinity) {
                running[running.length - 1]![1] = at
                lifecycle = yield* Effect.fork(scheduler.stop)
              } else {
                lifecycle = yield* Effect.fork(Effect.zipRight(
                  scheduler.start,
                  Effect.flatMap(Clock.currentTimeMillis, (now) =>
                    Effect.sync(() => void running.push([now - base, Infinity])))
                ))
              }
            }
            if (pauseToggles.includes(at)) {
              if (paused.length === 0 || paused[paused.length - 1]![1] !== Infinity) {
                paused.push([at, Infinity])
                yield* scheduler.pause("s")
              } else {
                paused[paused.length - 1]![1] = at
                yield* scheduler.resume("s")
              }
            }
            yield* settle
            if (at === horizon) {
              // the end: resume and start, then only let the runs finish
              if (paused.length > 0 && paused[paused.length - 1]![1] === Infinity) {
                paused[paused.length - 1]![1] = at
                yield* scheduler.resume("s")
              }
              yield* scheduler.unschedule("p")
            }
          }
          const ids = runs.map((r) =>
            r.instant
          )
          assert.strictEqual(new Set(ids).size, ids.length, "each occurrence runs at most once")
          const sorted = [...runs].sort((a, b) => a.start - b.start)
          for (let i = 0; i < sorted.length; i++) {
            const r = sorted[i]!
            const what = `run of ${r.instant} started at ${r.start}`
            assert.isAtLeast(r.start, r.instant, `${what}: early`)
            assert.strictEqual(r.instant % period, 0, `${what}: off the grid`)
            assert.isAtMost(r.start - r.instant, grace, `${what}: beyond grace`)
            if (i > 0) assert.isAtLeast(r.start, sorted[i - 1]!.end, `${what}: overlaps the previous run`)
            // (at a toggle's instant the scheduler acts first, then the toggle: a run may start at a stop's instant)
            assert.isTrue(running.some(([a, b]) => r.start >= a && r.start <= b), `${what}: while stopped`)
            assert.isFalse(paused.some(([p, q]) => r.start > p && r.start < q), `${what}: while paused`)
            if (policy === "skip") assert.strictEqual(r.start, r.instant, `${what}: skip catches nothing up`)
          }
          // on time: an occurrence inside a running, unpaused span, with no run of the schedule in flight, runs at its instant
          for (let o = period; o < horizon; o += period) {
            const armed = running.some(([a, b]) => a < o && o < b) &&
              !paused.some(([p, q]) => p < o && o <= q)
            const busy = runs.some((r) => r.start < o && r.end >= o)
            if (!armed || busy) continue
            assert.isTrue(runs.some((r) => r.instant === o && r.start === o), `occurrence ${o} did not run on time`)
          }
        }))
      ),
    {
      timeout: 180_000,
      fastCheck: {
        numRuns: 15,
        // found by CI: occurrences due while an `all` catch-up ran were run late (after it) instead of skipped
        examples: [[1, 3, "all", 2, [], [500, 2500]]]
      }
    }
  )
})
