/**
 * ProcessGroups on a real (in-memory) SQLite database, with real processes:
 * groups recorded for "owners" that are alive, dead, from another boot or
 * another host, and what `reap` does to each. Every process started here is
 * killed when the test ends, whatever its outcome.
 */
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import * as ProcessGroups from "../../src/app/collectors/ProcessGroups.js"
import * as ProcessOwner from "../../src/app/ProcessOwner.js"
import * as Database from "../../src/app/storage/Database.js"
import { isAlive, killAll, waitUntil } from "./support.js"

/** Pids started by the current test, killed at its end. */
const started: Array<number> = []

/** Kills what the test started, however it ended (also the groups, by their leader's pid). */
const cleaningUp = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.ensuring(
    effect,
    Effect.sync(() => {
      for (const pid of started) {
        try {
          process.kill(-pid, "SIGKILL")
        } catch {
          // not a group leader, or gone
        }
      }
      killAll(started.splice(0))
    })
  )

/** Starts `sh -c script` as the leader of a new process group; its pid (= the group id). */
const startGroup = (script: string): number => {
  const child = spawn("/bin/sh", ["-c", script], { detached: true, stdio: "ignore" })
  child.unref()
  started.push(child.pid!)
  return child.pid!
}

/** The pids of the members of process group `pgid` (from /proc). */
const membersOf = (pgid: number): Array<number> => {
  const output: Array<number> = []
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // fields[0] is the state (field 3); field 5 is the process group
      if (Number(fields[2]) === pgid && fields[0] !== "Z") output.push(Number(pid))
    } catch {
      // gone meanwhile
    }
  }
  return output
}

/** The identity of a process of this machine that has exited (a "crashed service"). */
const deadOwner = Effect.gen(function*() {
  const child = spawn("sleep", ["300"], { stdio: "ignore" })
  const pid = child.pid!
  yield* waitUntil("the owner to start", () => ProcessOwner.startTimeOf(pid) !== undefined)
  const owner: ProcessOwner.ProcessOwner = {
    host: ProcessOwner.current().host,
    bootId: ProcessOwner.bootId(),
    pid,
    startTime: ProcessOwner.startTimeOf(pid)!
  }
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGKILL")
  yield* Effect.promise(() => exited)
  assert.strictEqual(ProcessOwner.liveness(owner), "dead")
  return owner
})

/** A live process of this machine that is not this one (a `rayinfo trigger` running now). */
const liveOwner = Effect.gen(function*() {
  const pid = startGroup("exec sleep 300")
  yield* waitUntil("the live owner to start", () => ProcessOwner.startTimeOf(pid) !== undefined)
  const owner: ProcessOwner.ProcessOwner = {
    host: ProcessOwner.current().host,
    bootId: ProcessOwner.bootId(),
    pid,
    startTime: ProcessOwner.startTimeOf(pid)!
  }
  assert.strictEqual(ProcessOwner.liveness(owner), "alive")
  return owner
})

/** Inserts a `process_group` row as another process would have. */
const insertRow = (row: {
  readonly pgid: number
  readonly bootId: string
  readonly owner: string
  readonly instance: string
}) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`INSERT INTO process_group (pgid, boot_id, owner, instance, command, started_at)
        VALUES (${row.pgid}, ${row.bootId}, ${row.owner}, ${row.instance}, ${"sh -c ..."}, ${0})`
  )

const rows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly pgid: number; readonly instance: string }>`
    SELECT pgid, instance FROM process_group ORDER BY instance`)

describe("ProcessGroups (SQLite)", () => {
  it.scoped("track records the group with this process as owner until the scope closes; untrack forgets it", () =>
    Effect.gen(function*() {
      const groups = yield* ProcessGroups.makeSql
      yield* Effect.scoped(Effect.gen(function*() {
        yield* groups.track(4242, "search:q", "mes search q")
        const [group, ...others] = yield* groups.list
        assert.deepStrictEqual(others, [])
        assert.strictEqual(group!.pgid, 4242)
        assert.strictEqual(group!.instance, "search:q")
        assert.strictEqual(group!.command, "mes search q")
        assert.strictEqual(group!.bootId, ProcessOwner.bootId())
        assert.strictEqual(group!.owner, ProcessOwner.encode(ProcessOwner.current()))
      }))
      assert.deepStrictEqual(yield* groups.list, [])
      yield* Effect.scoped(groups.track(4343, "search:r", "mes search r"))
      yield* groups.track(4444, "search:s", "mes search s").pipe(Effect.scoped, Effect.zipRight(groups.untrack(4444)))
      assert.deepStrictEqual(yield* groups.list, [])
    }).pipe(Effect.provide(Database.layerMemory)))

  it.scopedLive("reap kills the groups of dead owners only; forgets rows of another boot; keeps the rest", () =>
    Effect.gen(function*() {
      const groups = yield* ProcessGroups.makeSql
      const boot = ProcessOwner.bootId()
      const dead = yield* deadOwner
      const live = yield* liveOwner

      // the crashed owner's command: a group of three (sh, a background sleep, a foreground sleep)
      const orphan = startGroup("sleep 300 & sleep 300")
      const lone = startGroup("exec sleep 300")
      const ofLive = startGroup("exec sleep 300")
      const ofSelf = startGroup("exec sleep 300")
      const ofOtherBoot = startGroup("exec sleep 300")
      const ofOtherHost = startGroup("exec sleep 300")
      const ofGarbage = startGroup("exec sleep 300")
      yield* waitUntil("the orphan's group to have three members", () => membersOf(orphan).length === 3)
      const orphanMembers = membersOf(orphan)

      yield* insertRow({ pgid: orphan, bootId: boot, owner: ProcessOwner.encode(dead), instance: "a:dead owner" })
      yield* insertRow({ pgid: lone, bootId: boot, owner: ProcessOwner.encode(dead), instance: "b:dead owner" })
      yield* insertRow({ pgid: ofLive, bootId: boot, owner: ProcessOwner.encode(live), instance: "c:live owner" })
      yield* insertRow({
        pgid: ofSelf,
        bootId: boot,
        owner: ProcessOwner.encode(ProcessOwner.current()),
        instance: "d:this process"
      })
      yield* insertRow({
        pgid: ofOtherBoot,
        bootId: "another-boot",
        owner: ProcessOwner.encode({ ...dead, bootId: "another-boot" }),
        instance: "e:another boot"
      })
      yield* insertRow({
        pgid: ofOtherHost,
        bootId: "their-boot",
        owner: ProcessOwner.encode({ ...dead, host: "elsewhere.example", bootId: "their-boot" }),
        instance: "f:another host"
      })
      yield* insertRow({ pgid: ofGarbage, bootId: boot, owner: "garbage", instance: "g:unreadable owner" })
      // a dead owner's group that is already gone: forgotten without complaint
      yield* insertRow({ pgid: dead.pid, bootId: boot, owner: ProcessOwner.encode(dead), instance: "h:gone" })

      const report = yield* groups.reap
      assert.deepStrictEqual(report.killed.map((g) => g.instance).sort(), ["a:dead owner", "b:dead owner", "h:gone"])
      assert.deepStrictEqual(report.forgotten.map((g) => g.instance).sort(), ["e:another boot", "g:unreadable owner"])
      assert.deepStrictEqual((yield* rows).map((r) => r.instance), ["c:live owner", "d:this process", "f:another host"])

      yield* waitUntil(
        "every process of the dead owner's groups to be gone",
        () => [...orphanMembers, lone].every((pid) => !isAlive(pid))
      )
      for (const pid of [ofLive, ofSelf, ofOtherBoot, ofOtherHost, ofGarbage, live.pid]) {
        assert.isTrue(isAlive(pid), `process ${pid} was left alone`)
      }

      // reaping again changes nothing
      const again = yield* groups.reap
      assert.deepStrictEqual([again.killed, again.forgotten], [[], []])
    }).pipe(cleaningUp, Effect.provide(Database.layerMemory)))

  it.scopedLive("building layerSql reaps, and logs what it killed", () =>
    Effect.gen(function*() {
      const dead = yield* deadOwner
      const orphan = startGroup("exec sleep 300")
      yield* insertRow({
        pgid: orphan,
        bootId: ProcessOwner.bootId(),
        owner: ProcessOwner.encode(dead),
        instance: "search:orphan"
      })
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) logs.push(String(message))
      })
      const context = yield* Layer.build(ProcessGroups.layerSql).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      yield* waitUntil("the orphan to be gone", () => !isAlive(orphan))
      assert.deepStrictEqual(yield* rows, [])
      assert.strictEqual(logs.length, 1)
      assert.include(logs[0]!, `Killed the orphaned process group ${orphan} of search:orphan`)
      assert.include(logs[0]!, `started by pid ${dead.pid}`)
      assert.deepStrictEqual(yield* Context.get(context, ProcessGroups.ProcessGroups).list, [])
    }).pipe(cleaningUp, Effect.provide(Database.layerMemory)))
})

describe("ProcessGroups (memory)", () => {
  it.scoped("tracks and forgets within this process; reap keeps this process's groups", () =>
    Effect.gen(function*() {
      const groups = yield* ProcessGroups.makeMemory()
      yield* groups.track(77, "search:q", "mes")
      assert.deepStrictEqual((yield* groups.list).map((g) => g.pgid), [77])
      const report = yield* groups.reap
      assert.deepStrictEqual([report.killed, report.forgotten], [[], []])
      yield* groups.untrack(77)
      assert.deepStrictEqual(yield* groups.list, [])
    }))
})
