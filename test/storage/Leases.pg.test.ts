/**
 * `Leases.layerSql` on PostgreSQL, where two clients (two pools) on one
 * database stand for two processes: one holder at a time, waiting, renewal,
 * expiry of a holder on another host, takeover from a dead holder, loss
 * detection. On the real clock with a short time-to-live (`BIGINT` epoch
 * milliseconds, read back as text). Skipped with a reason when PostgreSQL is
 * absent; a failure under `CI=true` (test/services/postgres.ts).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as ProcessOwner from "../../src/app/ProcessOwner.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Leases from "../../src/app/storage/Leases.js"
import { checkPostgres, freshDatabase } from "../services/postgres.js"

const available = await checkPostgres()

const ttl = Duration.millis(900)

/** Two "processes" (two clients, two lease services) on a fresh database. */
const pair = Effect.gen(function*() {
  const { url } = yield* freshDatabase("leases")
  const open = Effect.map(
    Layer.build(
      Leases.layerSql({ ttl, pollInterval: "50 millis" }).pipe(
        Layer.provideMerge(Layer.orDie(Database.layerPg({ url })))
      )
    ),
    (context) => ({ leases: Context.get(context, Leases.Leases), sql: Context.get(context, SqlClient.SqlClient) })
  )
  const a = yield* open
  const b = yield* open
  return { a: a.leases, b: b.leases, sql: a.sql }
})

/** The error of `b.acquire(name, { wait: false })`. */
const heldError = (leases: Leases.LeasesService, name: string) =>
  Effect.flip(Effect.scoped(leases.acquire(name, { description: "B", wait: false })))

/** A pid that is certainly not running any more. */
const deadPid = (): number => spawnSync(process.execPath, ["-e", ""]).pid!

describe.skipIf(!available)("Leases (PostgreSQL)", () => {
  it.scopedLive("one holder at a time: the other process fails at once with who holds it, until when", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const before = Date.now()
      yield* a.acquire("service", { description: "service A" })
      const held = yield* heldError(b, "service")
      if (held._tag !== "LeaseHeldError") return assert.fail(`expected a LeaseHeldError, got ${held._tag}`)
      assert.strictEqual(held.holder.description, "service A")
      assert.isNumber(held.holder.expiresAt)
      assert.strictEqual(held.holder.expiresAt - held.holder.acquiredAt, Duration.toMillis(ttl))
      assert.isAtLeast(held.holder.acquiredAt, before)
      // other names are independent
      yield* Effect.scoped(b.acquire("job:x", { description: "B", wait: false }))
    }))

  it.scopedLive("a waiter gets the lease when the holder releases it", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const scopeA = yield* Scope.make()
      yield* Scope.extend(a.acquire("job:x", { description: "A" }), scopeA)
      const waits: Array<string> = []
      const waiter = yield* Effect.fork(Effect.scoped(Effect.as(
        b.acquire("job:x", {
          description: "B",
          onWait: (holder) => Effect.sync(() => waits.push(holder.description))
        }),
        "got it"
      )))
      // longer than the time-to-live: A renews it meanwhile
      yield* Effect.sleep(Duration.times(ttl, 2))
      assert.isNull(waiter.unsafePoll(), "still waiting")
      assert.deepStrictEqual(waits, ["A"], "told once who it waits for")
      yield* Scope.close(scopeA, Exit.void)
      assert.strictEqual(yield* Fiber.join(waiter).pipe(Effect.timeout("5 seconds")), "got it")
    }))

  it.scopedLive("a lease of a process on another host is waited for until it expires", () =>
    Effect.gen(function*() {
      const { b, sql } = yield* pair
      const elsewhere = ProcessOwner.encode({ host: "another-host", bootId: "x", pid: 1, startTime: "1" })
      const expiresAt = Date.now() + 600
      yield* sql`INSERT INTO lease (name, holder, owner, description, acquired_at, expires_at)
                 VALUES ('service', 'old', ${elsewhere}, 'a service elsewhere', 0, ${expiresAt})`
      const held = yield* heldError(b, "service")
      assert.strictEqual(held._tag, "LeaseHeldError")
      if (held._tag === "LeaseHeldError") assert.strictEqual(held.holder.expiresAt, expiresAt)
      yield* Effect.scoped(b.acquire("service", { description: "B" })).pipe(Effect.timeout("5 seconds"))
      assert.isAtLeast(Date.now(), expiresAt)
    }))

  it.scopedLive("a lease of a process that died on this machine is taken over at once", () =>
    Effect.gen(function*() {
      const { b, sql } = yield* pair
      const dead = ProcessOwner.encode({ ...ProcessOwner.current(), pid: deadPid(), startTime: "1" })
      yield* sql`INSERT INTO lease (name, holder, owner, description, acquired_at, expires_at)
                 VALUES ('service', 'old', ${dead}, 'a killed service', 0, ${Date.now() + 3_600_000})`
      yield* Effect.scoped(Effect.gen(function*() {
        yield* b.acquire("service", { description: "B", wait: false })
        const rows = yield* sql<{ readonly description: string }>`SELECT description FROM lease WHERE name = 'service'`
        assert.deepStrictEqual(rows, [{ description: "B" }])
      }))
    }))

  it.scopedLive("a holder that finds its lease taken over at a renewal reports it lost", () =>
    Effect.gen(function*() {
      const { a, sql } = yield* pair
      const lease = yield* a.acquire("service", { description: "A" })
      const lost = yield* Effect.fork(lease.lost)
      yield* sql`UPDATE lease SET holder = 'intruder' WHERE name = 'service'`
      yield* Fiber.join(lost).pipe(Effect.timeout(Duration.times(ttl, 2)))
    }))
})
