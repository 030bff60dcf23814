import { assert, describe, it } from "@effect/vitest"
import { Cause, DateTime, Effect, Either, Exit, ParseResult, Schema, TestClock } from "effect"
import * as Task from "../src/scheduler/Task.js"

const decode = (input: unknown) => Effect.either(Task.decodeUnknown(input))

const valid = {
  id: "0b6c3c1e-6f4a-4d4e-9f51-0c3f3d2b7a10",
  source: "feed",
  args: { url: "https://example.org/rss", tags: ["a", "b"], depth: 2, nested: { ok: true, none: null } },
  scheduleAt: "2024-05-01T12:00:00Z"
}

const errorMessage = (either: Either.Either<unknown, ParseResult.ParseError>): string =>
  Either.match(either, {
    onLeft: (error) => ParseResult.TreeFormatter.formatErrorSync(error),
    onRight: () => assert.fail("expected a ParseError")
  })

describe("Task", () => {
  it.effect("round-trips through its JSON-safe encoded form", () =>
    Effect.gen(function*() {
      const task = yield* Task.decodeUnknown(valid)
      assert.instanceOf(task, Task.Task)
      assert.strictEqual(task.dueMillis, Date.UTC(2024, 4, 1, 12))
      const encoded = yield* Task.encode(task)
      assert.deepStrictEqual(encoded, { ...valid, scheduleAt: "2024-05-01T12:00:00.000Z" })
      // through JSON text and back
      const again = yield* Task.decodeUnknown(JSON.parse(JSON.stringify(encoded)))
      assert.deepStrictEqual(yield* Task.encode(again), encoded)
      assert.isTrue(DateTime.Equivalence(again.scheduleAt, task.scheduleAt))
    }))

  it.effect("accepts any offset: +08:00 is the same instant", () =>
    Effect.gen(function*() {
      const shanghai = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01T20:00:00+08:00" })
      const compact = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01T20:00:00+0800" })
      const newYork = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01T08:00:00.000-04:00" })
      for (const task of [shanghai, compact, newYork]) {
        assert.strictEqual(task.dueMillis, Date.UTC(2024, 4, 1, 12))
        assert.strictEqual((yield* Task.encode(task)).scheduleAt, "2024-05-01T12:00:00.000Z")
      }
    }))

  it.effect("reads a timestamp without offset as UTC, even with TZ=Asia/Shanghai", () =>
    Effect.gen(function*() {
      const previous = process.env.TZ
      process.env.TZ = "Asia/Shanghai"
      try {
        // the process really is in UTC+8 now: a local Date would be 8 hours off
        assert.strictEqual(new Date(2024, 4, 1, 12).getTimezoneOffset(), -480)
        const naive = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01T12:00:00" })
        const naiveSpace = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01 12:00" })
        const dateOnly = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01" })
        assert.strictEqual(naive.dueMillis, Date.UTC(2024, 4, 1, 12))
        assert.strictEqual(naiveSpace.dueMillis, Date.UTC(2024, 4, 1, 12))
        assert.strictEqual(dateOnly.dueMillis, Date.UTC(2024, 4, 1))
      } finally {
        if (previous === undefined) delete process.env.TZ
        else process.env.TZ = previous
      }
    }))

  it.effect("rejects circular args", () =>
    Effect.gen(function*() {
      const args: Record<string, unknown> = {}
      args.self = args
      const result = yield* decode({ ...valid, args })
      assert.match(errorMessage(result), /at \.self: circular reference/)
    }))

  it.effect("keeps millisecond precision and truncates finer fractions", () =>
    Effect.gen(function*() {
      const task = yield* Task.decodeUnknown({ ...valid, scheduleAt: "2024-05-01T12:00:00.123456789Z" })
      assert.strictEqual(task.dueMillis, Date.UTC(2024, 4, 1, 12, 0, 0, 123))
    }))

  it.effect("invalid inputs are ParseErrors naming what is wrong", () =>
    Effect.gen(function*() {
      const cases: Array<[unknown, RegExp]> = [
        [{ ...valid, id: "not-a-uuid" }, /\["id"\][\s\S]*UUID/],
        [{ id: valid.id, args: {}, scheduleAt: valid.scheduleAt }, /\["source"\][\s\S]*is missing/],
        [{ ...valid, source: undefined }, /\["source"\][\s\S]*Expected string, actual undefined/],
        [{ ...valid, source: "" }, /\["source"\]/],
        [{ ...valid, scheduleAt: "yesterday" }, /\["scheduleAt"\][\s\S]*Invalid date-time "yesterday"/],
        [{ ...valid, scheduleAt: "2024-02-30T00:00:00Z" }, /day 30 does not exist in 2024-02/],
        [{ ...valid, scheduleAt: "2024-13-01T00:00:00Z" }, /month 13/],
        [{ ...valid, scheduleAt: "2024-05-01T24:00:00Z" }, /hour 24/],
        [{ ...valid, scheduleAt: "2024-05-01T12:00:00+25:00" }, /offset \+25:00/],
        [{ ...valid, scheduleAt: 1714564800000 }, /\["scheduleAt"\][\s\S]*Expected string/],
        [{ ...valid, args: "not an object" }, /\["args"\][\s\S]*Expected a JSON object, got a string/],
        [{ ...valid, args: [1, 2] }, /\["args"\][\s\S]*Expected a JSON object, got an array/],
        [{ ...valid, args: null }, /\["args"\][\s\S]*got null/],
        [{ ...valid, args: new Date(0) }, /\["args"\][\s\S]*got a Date/],
        [{ ...valid, args: { a: [{ when: new Date(0) }] } }, /at \.a\[0\]\.when: a Date is not JSON; use an ISO-8601/],
        [{ ...valid, args: { f: () => 1 } }, /at \.f: a function is not JSON/],
        [{ ...valid, args: { n: Number.NaN } }, /at \.n: NaN is not a JSON number/],
        [{ ...valid, args: { u: undefined } }, /at \.u: undefined is not JSON/],
        [null, /Expected/],
        ["{}", /Expected/]
      ]
      for (const [input, pattern] of cases) {
        const result = yield* decode(input)
        assert.isTrue(Either.isLeft(result), `expected ${JSON.stringify(input)} to be rejected`)
        assert.match(errorMessage(result), pattern)
      }
    }))

  it.effect("create fills defaults from the Clock and a random UUID", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2030, 0, 1))
      const a = yield* Task.Task.create({ source: "s" })
      const b = yield* Task.Task.create({ source: "s" })
      assert.strictEqual(a.dueMillis, Date.UTC(2030, 0, 1))
      assert.deepStrictEqual(a.args, {})
      assert.isTrue(Schema.is(Schema.UUID)(a.id))
      assert.notStrictEqual(a.id, b.id)
      const at = DateTime.unsafeMakeZoned(Date.UTC(2030, 0, 2), { timeZone: "Asia/Shanghai" })
      const c = yield* Task.Task.create({ source: "s", args: { x: 1 }, scheduleAt: at, id: valid.id })
      assert.strictEqual(c.id, valid.id)
      assert.strictEqual(c.dueMillis, Date.UTC(2030, 0, 2))
      assert.isTrue(DateTime.isUtc(c.scheduleAt))
    }))

  it.effect("create with an invalid value dies with a message naming it (a programming error)", () =>
    Effect.gen(function*() {
      const cases: Array<[Task.TaskCreateOptions, RegExp]> = [
        [{ source: "" }, /source must be a non-empty string/],
        [{ source: "s", id: "nope" }, /id must be a UUID, got "nope"/],
        [{ source: "s", args: { when: new Date(0) } as never }, /args must be JSON: at \.when: a Date/],
        [{ source: "s", args: [] as never }, /args must be a JSON object/]
      ]
      for (const [options, pattern] of cases) {
        const exit = yield* Effect.exit(Task.Task.create(options))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDieType(exit.cause), `expected ${String(options.source)} to die`)
        const defect = Exit.isFailure(exit) && Cause.isDieType(exit.cause) ? exit.cause.defect : undefined
        assert.isTrue(Cause.isIllegalArgumentException(defect))
        assert.match(String((defect as Error).message), pattern)
      }
    }))
})
