/**
 * `ProcessGroups.makeSql` on PostgreSQL (`process_group.started_at` is
 * `BIGINT` there, read as text): track / untrack / list, and `reap` — a
 * real process group of a dead owner of this machine is killed, a row of
 * another boot is forgotten, a row of another host is kept. Skipped with a
 * reason when PostgreSQL is absent; a failure under `CI=true`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { spawn } from "node:child_process"
import * as ProcessGroups from "../../src/app/collectors/ProcessGroups.js"
import * as ProcessOwner from "../../src/app/ProcessOwner.js"
import * as Database from "../../src/app/storage/Database.js"
import { isAlive, killAll, waitUntil } from "../collectors/support.js"
import { checkPostgres, freshDatabase } from "../services/postgres.js"

const available = await checkPostgres()

/** On the database of a fresh PostgreSQL database. */
const onFreshDatabase = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.flatMap(freshDatabase("process_groups"), ({ url }) => Effect.provide(effect, Database.layerPg({ url })))

describe.skipIf(!available)("ProcessGroups (PostgreSQL)", () => {
  it.scopedLive("track records the group (epoch ms as BIGINT) until the scope closes; untrack forgets it", () =>
    onFreshDatabase(Effect.gen(function*() {
      const groups = yield* ProcessGroups.makeSql
      const before = yield* Clock.currentTimeMillis
      yield* Effect.scoped(Effect.gen(function*() {
        yield* groups.track(4242, "search:q", "mes search q")
        yield* groups.track(4343, "search:r", "mes search r")
        const listed = yield* groups.list
        assert.deepStrictEqual(listed.map((group) => [group.pgid, group.instance, group.command]), [
          [4242, "search:q", "mes search q"],
          [4343, "search:r", "mes search r"]
        ])
        const [group] = listed
        assert.strictEqual(group!.bootId, ProcessOwner.bootId())
        assert.strictEqual(group!.owner, ProcessOwner.encode(ProcessOwner.current()))
        assert.isNumber(group!.startedAt)
        assert.isAtLeast(group!.startedAt, before)
        assert.isAtMost(group!.startedAt, yield* Clock.currentTimeMillis)
        yield* groups.untrack(4343)
        assert.deepStrictEqual((yield* groups.list).map((g) => g.pgid), [4242])
      }))
      assert.deepStrictEqual(yield* groups.list, [])
    })))

  it.scopedLive("reap kills the group of a dead owner of this machine, forgets another boot's, keeps another host's", () => {
    const started: Array<number> = []
    return onFreshDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const self = ProcessOwner.current()
      // a "crashed service": a process of this machine that has exited
      const ownerChild = spawn("sleep", ["300"], { stdio: "ignore" })
      const ownerPid = ownerChild.pid!
      started.push(ownerPid)
      yield* waitUntil("the owner to start", () => ProcessOwner.startTimeOf(ownerPid) !== undefined)
      const dead: ProcessOwner.ProcessOwner = { ...self, pid: ownerPid, startTime: ProcessOwner.startTimeOf(ownerPid)! }
      const exited = new Promise((resolve) => ownerChild.once("exit", resolve))
      ownerChild.kill("SIGKILL")
      yield* Effect.promise(() => exited)
      // the command it left running, in a process group of its own
      const orphan = spawn("/bin/sh", ["-c", "exec sleep 300"], { detached: true, stdio: "ignore" })
      orphan.unref()
      started.push(orphan.pid!)
      yield* waitUntil("the orphan to start", () => isAlive(orphan.pid!))

      const elsewhere = ProcessOwner.encode({ host: "another-host", bootId: "x", pid: 1, startTime: "1" })
      const insert = (pgid: number, bootId: string, owner: string, instance: string) =>
        sql`INSERT INTO process_group (pgid, boot_id, owner, instance, command, started_at)
            VALUES (${pgid}, ${bootId}, ${owner}, ${instance}, 'sleep 300', ${4_102_444_800_000})`
      yield* insert(orphan.pid!, self.bootId, ProcessOwner.encode(dead), "dead")
      yield* insert(5, "a-previous-boot", ProcessOwner.encode(dead), "old-boot")
      yield* insert(6, "x", elsewhere, "elsewhere")

      const groups = yield* ProcessGroups.makeSql
      const report = yield* groups.reap
      if (self.bootId === "") {
        // no boot id (no /proc): rows of dead owners are forgotten without killing
        assert.deepStrictEqual(report.forgotten.map((g) => g.instance).sort(), ["dead", "old-boot"])
      } else {
        assert.deepStrictEqual(report.killed.map((g) => [g.instance, g.pgid, g.startedAt]), [
          ["dead", orphan.pid!, 4_102_444_800_000]
        ])
        assert.deepStrictEqual(report.forgotten.map((g) => g.instance), ["old-boot"])
        yield* waitUntil("the orphan to be killed", () => !isAlive(orphan.pid!))
      }
      assert.deepStrictEqual((yield* groups.list).map((g) => g.instance), ["elsewhere"])
    })).pipe(Effect.ensuring(Effect.sync(() => killAll(started))))
  })
})
