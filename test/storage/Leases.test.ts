/**
 * Leases: one holder at a time, waiting, renewal, expiry, takeover from a
 * dead holder, loss detection — in memory and in SQLite (two connections on
 * one file stand for two processes). Under the TestClock.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import { spawnSync } from "node:child_process"
import * as ProcessOwner from "../../src/app/ProcessOwner.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Leases from "../../src/app/storage/Leases.js"
import { settle } from "../support.js"
import { tempDbFile } from "./tempDb.js"

/** A pid that is certainly not running any more. */
const deadPid = (): number => spawnSync(process.execPath, ["-e", ""]).pid!

/** Builds `layer` in a scope of its own (closed by the test's scope). */
const service = <A, I>(tag: Context.Tag<I, A>, layer: Layer.Layer<I>) =>
  Effect.map(Layer.build(layer), Context.get(tag))

/** Two lease services on one SQLite file (two connections), plus a raw SQL client on it. */
const sqlPair = Effect.gen(function*() {
  const filename = yield* tempDbFile
  const db = (): Layer.Layer<Leases.Leases | SqlClient.SqlClient> =>
    Leases.layerSql().pipe(Layer.provideMerge(Layer.orDie(Database.layer({ filename }))))
  const a = yield* Effect.map(Layer.build(db()), (ctx) => ({
    leases: Context.get(ctx, Leases.Leases),
    sql: Context.get(ctx, SqlClient.SqlClient)
  }))
  const b = yield* service(Leases.Leases, db())
  return { a: a.leases, b, sql: Option.some(a.sql) }
})

/** Two lease services sharing one in-memory table. */
const memoryPair = Effect.map(service(Leases.Leases, Leases.layerMemory()), (leases) => ({
  a: leases,
  b: leases,
  sql: Option.none<SqlClient.SqlClient>()
}))

for (const [name, pair] of [["memory", memoryPair], ["SQLite", sqlPair]] as const) {
  describe(`Leases (${name})`, () => {
    it.scoped("one holder at a time: a second one fails at once with who holds it (wait: false)", () =>
      Effect.gen(function*() {
        const { a, b } = yield* pair
        yield* a.acquire("service", { description: "service A" })
        const held = yield* Effect.either(Effect.scoped(b.acquire("service", { description: "B", wait: false })))
        assert.isTrue(Either.isLeft(held))
        if (Either.isLeft(held) && held.left._tag === "LeaseHeldError") {
          assert.strictEqual(held.left.holder.description, "service A")
          assert.strictEqual(held.left.holder.expiresAt, 30_000)
          assert.match(held.left.message, /service is held by service A/)
        } else {
          assert.fail("expected a LeaseHeldError")
        }
        // other names are independent
        yield* Effect.scoped(b.acquire("job:x", { description: "B", wait: false }))
      }))

    it.scoped("a waiter gets the lease when the holder releases it (scope closed)", () =>
      Effect.gen(function*() {
        const { a, b } = yield* pair
        const scopeA = yield* Scope.make()
        yield* Scope.extend(a.acquire("job:x", { description: "A" }), scopeA)
        const waits: Array<string> = []
        const waiter = yield* Effect.fork(
          Effect.scoped(
            Effect.as(
              b.acquire("job:x", {
                description: "B",
                onWait: (holder) => Effect.sync(() => waits.push(holder.description))
              }),
              "got it"
            )
          )
        )
        yield* TestClock.adjust("10 seconds")
        assert.isNull(waiter.unsafePoll(), "still waiting")
        assert.deepStrictEqual(waits, ["A"], "told once who it waits for")
        yield* Scope.close(scopeA, Exit.void)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(waiter), "got it")
      }))

    it.scoped("a holder renews its lease while it holds it", () =>
      Effect.gen(function*() {
        const { a, b } = yield* pair
        yield* a.acquire("service", { description: "A" })
        yield* TestClock.adjust("5 minutes")
        const held = yield* Effect.flip(Effect.scoped(b.acquire("service", { description: "B", wait: false })))
        assert.strictEqual(held._tag, "LeaseHeldError")
        if (held._tag === "LeaseHeldError") assert.isAbove(held.holder.expiresAt, 5 * 60_000)
      }))
  })
}

describe("Leases (SQLite): holders that died", () => {
  const insertLease = (sql: SqlClient.SqlClient, owner: ProcessOwner.ProcessOwner, expiresAt: number) =>
    sql`INSERT INTO lease (name, holder, owner, description, acquired_at, expires_at)
        VALUES ('service', 'old', ${ProcessOwner.encode(owner)}, 'a killed service', 0, ${expiresAt})`

  it.scoped("a lease of a process that died on this machine is taken over at once", () =>
    Effect.gen(function*() {
      const { b, sql } = yield* sqlPair
      const self = ProcessOwner.current()
      yield* insertLease(Option.getOrThrow(sql), { ...self, pid: deadPid(), startTime: "1" }, 30_000)
      yield* Effect.scoped(b.acquire("service", { description: "B", wait: false }))
    }))

  it.scoped("a lease of a process on another host is waited for until it expires", () =>
    Effect.gen(function*() {
      const { b, sql } = yield* sqlPair
      const elsewhere = { host: "another-host", bootId: "x", pid: 1, startTime: "1" }
      yield* insertLease(Option.getOrThrow(sql), elsewhere, 30_000)
      const held = yield* Effect.flip(Effect.scoped(b.acquire("service", { description: "B", wait: false })))
      assert.strictEqual(held._tag, "LeaseHeldError")
      const waiter = yield* Effect.fork(Effect.scoped(Effect.as(b.acquire("service", { description: "B" }), "got it")))
      yield* TestClock.adjust("29 seconds")
      assert.isNull(waiter.unsafePoll())
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(waiter), "got it")
    }))

  it.scoped("a holder that finds its lease taken over at a renewal reports it lost", () =>
    Effect.gen(function*() {
      const { a, sql } = yield* sqlPair
      const lease = yield* a.acquire("service", { description: "A" })
      const lost = yield* Effect.fork(lease.lost)
      yield* Option.getOrThrow(sql)`UPDATE lease SET holder = 'intruder' WHERE name = 'service'`
      yield* settle
      assert.isNull(lost.unsafePoll())
      yield* TestClock.adjust(Duration.seconds(10))
      yield* Fiber.join(lost)
    }))
})
