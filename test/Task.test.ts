import { assert, describe, it } from "@effect/vitest"
import { Cause, DateTime, Effect, Either, Exit, FastCheck as fc, ParseResult, Schema, TestClock } from "effect"
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
        [{ ...valid, id: "" }, /\["id"\][\s\S]*a task id must be a non-empty string/],
        [{ ...valid, id: "x".repeat(257) }, /\["id"\][\s\S]*a task id must be at most 256 characters long/],
        [{ ...valid, id: "a\nb" }, /\["id"\][\s\S]*a task id must not contain control characters/],
        [{ ...valid, id: 7 }, /\["id"\][\s\S]*Expected string/],
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
      // an application's own key, and a schedule occurrence's id
      for (const id of ["order-42", "daily@2026-03-29T01:00:00.000Z"]) {
        assert.strictEqual((yield* Task.Task.create({ source: "s", id })).id, id)
        assert.strictEqual((yield* Task.decodeUnknown({ ...valid, id })).id, id)
      }
      assert.strictEqual(c.dueMillis, Date.UTC(2030, 0, 2))
      assert.isTrue(DateTime.isUtc(c.scheduleAt))
    }))

  it.effect("create with an invalid value dies with a message naming it (a programming error)", () =>
    Effect.gen(function*() {
      const cases: Array<[Task.TaskCreateOptions, RegExp]> = [
        [{ source: "" }, /source must be a non-empty string/],
        [{ source: "s", id: "" }, /id must be a non-empty string, got ""/],
        [{ source: "s", id: "a\u0000" }, /id must not contain control characters, got "a\\u0000"/],
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

  describe("deep nesting (documented limit: 256 levels)", () => {
    /** `levels` nested objects: `{ a: { a: ... { a: 1 } } }` (the outer object is level 1). */
    const nested = (levels: number): Task.JsonObject => {
      let value: Task.Json = 1
      for (let i = 0; i < levels; i++) value = { a: value }
      return value as Task.JsonObject
    }
    /** `levels` nested arrays inside an args object. */
    const nestedArrays = (levels: number): Task.JsonObject => {
      let value: Task.Json = 1
      for (let i = 0; i < levels - 1; i++) value = [value]
      return { a: value }
    }

    it.effect("4,000 and 100,000 levels are a ParseError naming the depth, not a RangeError", () =>
      Effect.gen(function*() {
        for (const levels of [4_000, 100_000]) {
          for (const args of [nested(levels), nestedArrays(levels)]) {
            const result = yield* Effect.exit(Task.decodeUnknown({ ...valid, args }))
            assert.isTrue(Exit.isFailure(result) && Cause.isFailType(result.cause), `${levels} levels: not a failure`)
            const message = errorMessage(yield* decode({ ...valid, args }))
            assert.match(message, /nested deeper than 256 levels/)
            assert.match(message, /at \.a/)
          }
          assert.isFalse(Schema.is(Task.Json)(nested(levels)))
          assert.isFalse(Schema.is(Task.JsonObject)(nested(levels)))
        }
      }))

    it.effect("256 levels are accepted and survive JSON text; 257 are rejected by decode and create", () =>
      Effect.gen(function*() {
        for (const args of [nested(256), nestedArrays(256)]) {
          const task = yield* Task.decodeUnknown({ ...valid, args })
          const text = JSON.stringify(yield* Task.encode(task))
          const again = yield* Task.decodeUnknown(JSON.parse(text))
          assert.strictEqual(JSON.stringify(yield* Task.encode(again)), text)
          yield* Task.Task.create({ source: "s", args })
        }
        for (const args of [nested(257), nestedArrays(257)]) {
          assert.match(errorMessage(yield* decode({ ...valid, args })), /nested deeper than 256 levels/)
          const exit = yield* Effect.exit(Task.Task.create({ source: "s", args }))
          assert.isTrue(Exit.isFailure(exit) && Cause.isDieType(exit.cause))
          const defect = Exit.isFailure(exit) && Cause.isDieType(exit.cause) ? exit.cause.defect : undefined
          assert.isTrue(Cause.isIllegalArgumentException(defect))
          assert.match(String((defect as Error).message), /args must be JSON: .*nested deeper than 256 levels/)
        }
        // a wide value is not deep: 10,000 siblings are fine
        yield* Task.decodeUnknown({ ...valid, args: { list: Array.from({ length: 10_000 }, (_, i) => ({ i })) } })
      }))

    it.effect("a circular reference deep inside is still reported as circular", () =>
      Effect.gen(function*() {
        const inner: Record<string, unknown> = { ok: [1, 2] }
        inner.back = { to: inner }
        assert.match(errorMessage(yield* decode({ ...valid, args: { x: [inner] } })), /at \.x\[0\]\.back\.to: circular/)
        // the same object twice (not circular) is fine
        const shared = { s: 1 }
        yield* Task.decodeUnknown({ ...valid, args: { a: shared, b: [shared, shared] } })
      }))
  })

  describe("scheduleAt is limited to years 0000-9999 (what ISO-8601 encodes and decodes)", () => {
    const MIN = Date.parse("0000-01-01T00:00:00.000Z")
    const MAX = Date.parse("9999-12-31T23:59:59.999Z")

    it.effect("create accepts the limits and rejects one millisecond beyond; the limits round-trip", () =>
      Effect.gen(function*() {
        for (const millis of [MIN, MAX, 0, -1]) {
          const task = yield* Task.Task.create({ source: "s", scheduleAt: DateTime.unsafeMake(millis) })
          const encoded = yield* Task.encode(task)
          const again = yield* Task.decodeUnknown(JSON.parse(JSON.stringify(encoded)))
          assert.strictEqual(again.dueMillis, millis)
        }
        assert.strictEqual(
          (yield* Task.encode(yield* Task.Task.create({ source: "s", scheduleAt: DateTime.unsafeMake(MAX) })))
            .scheduleAt,
          "9999-12-31T23:59:59.999Z"
        )
        for (const millis of [MIN - 1, MAX + 1, Date.UTC(10000, 0, 1), Date.UTC(-5, 0, 1), 8.64e15]) {
          const exit = yield* Effect.exit(Task.Task.create({ source: "s", scheduleAt: DateTime.unsafeMake(millis) }))
          assert.isTrue(Exit.isFailure(exit) && Cause.isDieType(exit.cause), `${millis} was accepted`)
          const defect = Exit.isFailure(exit) && Cause.isDieType(exit.cause) ? exit.cause.defect : undefined
          assert.match(
            String((defect as Error).message),
            /scheduleAt .*0000-01-01T00:00:00\.000Z.*9999-12-31T23:59:59\.999Z/
          )
        }
      }))

    it.effect("the clock beyond year 9999: create dies instead of making a task that cannot be decoded", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(10000, 0, 1))
        const exit = yield* Effect.exit(Task.Task.create({ source: "s" }))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDieType(exit.cause))
      }))

    it.effect("decode rejects an offset that moves the instant out of range; the constructor validates too", () =>
      Effect.gen(function*() {
        for (const scheduleAt of ["9999-12-31T23:30:00-01:00", "0000-01-01T00:30:00+01:00"]) {
          assert.match(errorMessage(yield* decode({ ...valid, scheduleAt })), /out of range/)
        }
        yield* Task.decodeUnknown({ ...valid, scheduleAt: "9999-12-31T22:59:59.999-01:00" })
        yield* Task.decodeUnknown({ ...valid, scheduleAt: "0000-01-01T01:00:00+01:00" })
        const build = (millis: number) =>
          Either.try(() =>
            new Task.Task({ id: valid.id, source: "s", args: {}, scheduleAt: DateTime.unsafeMake(millis) })
          )
        assert.isTrue(Either.isRight(build(MAX)))
        assert.isTrue(Either.isLeft(build(MAX + 1)))
        assert.isTrue(Either.isLeft(build(MIN - 1)))
        // encode never produces an expanded year (+010000-...)
        const forged = new Task.Task(
          { id: valid.id, source: "s", args: {}, scheduleAt: DateTime.unsafeMake(MAX + 1) },
          true
        )
        assert.isTrue(Either.isLeft(yield* Effect.either(Task.encode(forged))))
      }))
  })

  /** JSON values with any nesting up to 6 levels (arrays, objects, strings, numbers incl. -0, booleans, null). */
  const jsonArb: fc.Arbitrary<Task.Json> = fc.letrec<{ json: Task.Json }>((tie) => ({
    json: fc.oneof(
      { depthSize: "small", maxDepth: 6 },
      fc.constant(null),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      fc.string({ unit: "binary" }),
      fc.array(tie("json"), { maxLength: 4 }),
      fc.dictionary(fc.string(), tie("json"), { maxKeys: 4, noNullPrototype: true })
    )
  })).json

  it.effect.prop(
    "every task create accepts round-trips through encode -> JSON text -> decode; create rejects the rest",
    [
      fc.dictionary(fc.string(), jsonArb, { maxKeys: 5, noNullPrototype: true }),
      fc.oneof(
        fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }),
        fc.integer({ min: -62_167_219_200_000 - 50_000_000_000, max: -62_167_219_200_000 + 50_000_000_000 }),
        fc.integer({ min: 253_402_300_799_999 - 50_000_000_000, max: 253_402_300_799_999 + 50_000_000_000 })
      ),
      fc.string({ minLength: 1 })
    ],
    ([args, millis, source]) =>
      Effect.gen(function*() {
        const inRange = millis >= -62_167_219_200_000 && millis <= 253_402_300_799_999
        const exit = yield* Effect.exit(Task.Task.create({ source, args, scheduleAt: DateTime.unsafeMake(millis) }))
        if (!inRange) {
          assert.isTrue(Exit.isFailure(exit), `year out of range accepted: ${new Date(millis).toISOString()}`)
          return
        }
        assert.isTrue(Exit.isSuccess(exit), `rejected ${new Date(millis).toISOString()}`)
        if (!Exit.isSuccess(exit)) return
        const task = exit.value
        const text = JSON.stringify(yield* Task.encode(task))
        const decoded = yield* Task.decodeUnknown(JSON.parse(text))
        assert.strictEqual(decoded.id, task.id)
        assert.strictEqual(decoded.source, task.source)
        assert.strictEqual(decoded.dueMillis, task.dueMillis)
        assert.isTrue(DateTime.Equivalence(decoded.scheduleAt, task.scheduleAt))
        // args are equal as JSON (the only difference JSON allows: -0 reads back as 0)
        assert.strictEqual(JSON.stringify(decoded.args), JSON.stringify(task.args))
        assert.strictEqual(JSON.stringify(yield* Task.encode(decoded)), text)
      }),
    { fastCheck: { numRuns: 300 } }
  )
})
