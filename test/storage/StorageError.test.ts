/**
 * `StorageError.isBusy` / `isTransient`: which driver errors are worth
 * waiting for (SQLite's locks, PostgreSQL's transient SQLSTATEs), and
 * `withBusyRetry` retrying them within the busy timeout. Under the TestClock.
 */
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, TestClock } from "effect"
import { BusyTimeout, isBusy, isTransient, withBusyRetry } from "../../src/app/storage/StorageError.js"

/** A SqlError as the drivers make them: the driver's error, with its `code`, as the cause. */
const failure = (code: string, message = `failed with ${code}`): SqlError =>
  new SqlError({ cause: Object.assign(new Error(message), { code }), message: "Failed to execute statement" })

describe("StorageError", () => {
  it("isBusy: SQLite's locks only; isTransient: those and PostgreSQL's transient SQLSTATEs", () => {
    for (const code of ["SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED"]) {
      assert.isTrue(isBusy(failure(code)), code)
      assert.isTrue(isTransient(failure(code)), code)
    }
    for (const code of ["40001", "40P01", "55P03", "57P01", "57P03", "08000", "08006", "08P01"]) {
      assert.isFalse(isBusy(failure(code)), code)
      assert.isTrue(isTransient(failure(code)), code)
    }
    // constraint violations, syntax errors, "already exists", a cancelled query, node's socket errors
    for (const code of ["SQLITE_CONSTRAINT", "23505", "42P07", "42601", "57014", "ECONNREFUSED", "0800", "08abc"]) {
      assert.isFalse(isTransient(failure(code)), code)
    }
    assert.isFalse(isTransient(new SqlError({ cause: "no code", message: "x" })))
    assert.isFalse(isTransient(new Error("x")))
  })

  it.effect("withBusyRetry retries a transient PostgreSQL error within the timeout, then fails saying so", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flaky = (failures: number) =>
        Effect.suspend(() =>
          ++attempts <= failures ? Effect.fail(failure("40P01", "deadlock detected")) : Effect.succeed("ok")
        )
      // the backoff sleeps 10, 20, 40 ms
      const retried = yield* Effect.fork(withBusyRetry("storing items")(flaky(3)))
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* Fiber.join(retried), "ok")
      assert.strictEqual(attempts, 4)

      attempts = 0
      const outlasting = yield* Effect.fork(
        withBusyRetry("storing items")(flaky(Infinity)).pipe(Effect.provideService(BusyTimeout, Duration.seconds(1)))
      )
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(outlasting)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
        assert.strictEqual(
          exit.cause.error.message,
          "storing items failed: deadlock detected (40P01); still failing after 1s"
        )
      } else {
        assert.fail("expected a StorageError")
      }
      assert.isAbove(attempts, 4)

      // not transient: no retry
      attempts = 0
      const once = yield* Effect.flip(
        withBusyRetry("storing items")(Effect.suspend(() => {
          attempts++
          return Effect.fail(failure("23505", "duplicate key"))
        }))
      )
      assert.strictEqual(once.reason, "duplicate key (23505)")
      assert.strictEqual(attempts, 1)
    }))
})
