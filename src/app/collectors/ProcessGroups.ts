/**
 * `ProcessGroups` — the process groups of the commands running right now,
 * recorded so that the ones a crashed process left behind can be killed.
 *
 * The command collector runs each command in a process group of its own and
 * kills the whole group when the run ends, however it ends. A process
 * killed with `SIGKILL` (or a crash, or a power cut of the service alone)
 * cannot do that: its commands, and their children, would run on as orphans.
 * So each group is recorded — in the `process_group` table of the shared
 * database (SQLite or PostgreSQL), by {@link layerSql} — for as long as its
 * run lasts, with the identity of the process that started it
 * (`ProcessOwner`), and {@link ProcessGroupsService.reap} kills the groups
 * whose owner is dead:
 *
 * - owner on this machine, same boot, dead → the group is killed
 *   (`SIGKILL` to `-pgid`) and its row deleted;
 * - recorded before the last reboot → the row is deleted (those processes
 *   are gone, and their numbers mean something else now);
 * - owner alive (this process, the service, a `rayinfo trigger` running
 *   now) or on another host → left alone;
 * - without a boot id (a system without `/proc`) a dead owner's row is
 *   deleted without killing: pids cannot be told apart across reboots there.
 *
 * Reaping is safe at any time, since it only touches groups of dead owners;
 * {@link layerSql} reaps when it is built (at each start of the service and
 * of `rayinfo trigger`) and logs what it killed. See `docs/collectors.md`
 * for what this cannot cover.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ProcessOwner from "../ProcessOwner.js"
import { IntColumn } from "../storage/Columns.js"
import { type StorageError, withBusyRetry } from "../storage/StorageError.js"
import { killProcessGroup } from "./internal/process.js"

/** A recorded process group (a row of `process_group`). */
export interface TrackedGroup {
  /** The process group id: the pid of the command the collector started. */
  readonly pgid: number
  /** The boot id of the machine when it was started (`""` when unknown). */
  readonly bootId: string
  /** The process that started it, as stored by `ProcessOwner.encode`. */
  readonly owner: string
  /** The collector instance that ran the command. */
  readonly instance: string
  /** The command, for messages. */
  readonly command: string
  /** When it was started, in epoch milliseconds (from the `Clock`). */
  readonly startedAt: number
}

/** What {@link ProcessGroupsService.reap} did. */
export interface ReapReport {
  /** Groups of dead owners on this machine: sent `SIGKILL` (if still there) and forgotten. */
  readonly killed: ReadonlyArray<TrackedGroup>
  /** Rows deleted without killing: recorded before the last reboot, without a boot id, or unreadable. */
  readonly forgotten: ReadonlyArray<TrackedGroup>
}

/** The process groups of running commands. */
export interface ProcessGroupsService {
  /**
   * Records group `pgid`, started by this process for `instance`, until the
   * scope closes. Never fails: a record that cannot be written is logged.
   */
  readonly track: (pgid: number, instance: string, command: string) => Effect.Effect<void, never, Scope.Scope>
  /** Forgets group `pgid` of this process (what closing {@link track}'s scope does). Never fails. */
  readonly untrack: (pgid: number) => Effect.Effect<void>
  /** Every recorded group, of any owner. */
  readonly list: Effect.Effect<ReadonlyArray<TrackedGroup>, StorageError>
  /** Kills the groups whose owner is dead on this machine and forgets them (see the module doc). */
  readonly reap: Effect.Effect<ReapReport, StorageError>
}

/** The process groups of running commands. */
export class ProcessGroups extends Context.Tag("rayinfo/ProcessGroups")<ProcessGroups, ProcessGroupsService>() {}

/** What to do with a recorded group. */
type Verdict = "kill" | "forget" | "keep"

/** The verdict on `group` from this process's point of view (see the module doc). */
const judge = (group: TrackedGroup): Verdict => {
  const self = ProcessOwner.current()
  const owner = ProcessOwner.decode(group.owner)
  if (Option.isNone(owner)) return "forget"
  if (owner.value.host !== self.host) return "keep"
  if (group.bootId !== self.bootId) return "forget"
  if (ProcessOwner.liveness(owner.value) !== "dead") return "keep"
  return self.bootId === "" ? "forget" : "kill"
}

const describeGroup = (group: TrackedGroup): string => {
  const owner = Option.match(ProcessOwner.decode(group.owner), {
    onNone: () => "an unknown process",
    onSome: ProcessOwner.describe
  })
  return `process group ${group.pgid} of ${group.instance} (command ${JSON.stringify(group.command)}), ` +
    `started by ${owner}`
}

/**
 * Applies the verdicts to `groups`: kills (`SIGKILL` to `-pgid`) and
 * forgets (`forget`) as judged, logging each. Shared by both layers.
 */
const reapGroups = <E>(
  groups: ReadonlyArray<TrackedGroup>,
  forget: (group: TrackedGroup) => Effect.Effect<void, E>
): Effect.Effect<ReapReport, E> =>
  Effect.gen(function*() {
    const killed: Array<TrackedGroup> = []
    const forgotten: Array<TrackedGroup> = []
    for (const group of groups) {
      const verdict = judge(group)
      if (verdict === "keep") continue
      if (verdict === "kill") {
        const outcome = killProcessGroup(group.pgid)
        if (outcome instanceof Error) {
          yield* Effect.logWarning(`Could not kill the orphaned ${describeGroup(group)}: ${outcome.message}`)
        } else if (outcome) {
          yield* Effect.logWarning(`Killed the orphaned ${describeGroup(group)}, which is no longer running`)
        }
        killed.push(group)
      } else {
        yield* Effect.logInfo(`Forgot the ${describeGroup(group)}: recorded before a reboot or unidentifiable`)
        forgotten.push(group)
      }
      yield* forget(group)
    }
    return { killed, forgotten }
  }).pipe(Effect.annotateLogs({ module: "ProcessGroups" }))

/**
 * A {@link TrackedGroup} as the columns of its `process_group` row
 * (`started_at` is `BIGINT` on PostgreSQL, read as text: `Columns.IntColumn`).
 */
const Row: Schema.Schema<TrackedGroup, {
  readonly pgid: number | string
  readonly boot_id: string
  readonly owner: string
  readonly instance: string
  readonly command: string
  readonly started_at: number | string
}> = Schema.Struct({
  pgid: IntColumn,
  bootId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("boot_id")),
  owner: Schema.String,
  instance: Schema.String,
  command: Schema.String,
  startedAt: Schema.propertySignature(IntColumn).pipe(Schema.fromKey("started_at"))
})

/** What names one row: (boot id, pgid) and its owner. */
const RowKey = Schema.Struct({ bootId: Schema.String, pgid: Schema.Number, owner: Schema.String })

/** This process's record of a new group. */
const newGroup = (pgid: number, instance: string, command: string): Effect.Effect<TrackedGroup> =>
  Effect.map(Clock.currentTimeMillis, (startedAt) => {
    const self = ProcessOwner.current()
    return { pgid, bootId: self.bootId, owner: ProcessOwner.encode(self), instance, command, startedAt }
  })

/** Logs the failure of a bookkeeping write instead of failing the run. */
const logFailure = (what: string) => <A>(effect: Effect.Effect<A, StorageError>): Effect.Effect<void> =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAll((error) =>
      Effect.logWarning(`ProcessGroups: ${what}: ${error.message}`).pipe(
        Effect.annotateLogs({ module: "ProcessGroups" })
      )
    )
  )

/** Builds the service on the `process_group` table of the SqlClient's database; exported for composing. */
export const makeSql: Effect.Effect<ProcessGroupsService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const insertRow = SqlSchema.void({
    Request: Row,
    execute: (row) =>
      sql`INSERT INTO process_group ${sql.insert(row)}
          ON CONFLICT (boot_id, pgid) DO UPDATE SET
            owner = excluded.owner, instance = excluded.instance,
            command = excluded.command, started_at = excluded.started_at`
  })

  const deleteRow = SqlSchema.void({
    Request: RowKey,
    execute: ({ bootId, owner, pgid }) =>
      sql`DELETE FROM process_group WHERE boot_id = ${bootId} AND pgid = ${pgid} AND owner = ${owner}`
  })

  const findAll = SqlSchema.findAll({
    Request: Schema.Void,
    Result: Row,
    execute: () =>
      sql`SELECT pgid, boot_id, owner, instance, command, started_at FROM process_group ORDER BY started_at, pgid`
  })

  const insert = (group: TrackedGroup) => insertRow(group).pipe(withBusyRetry("recording a process group"))

  const remove = (bootId: string, pgid: number, owner: string) =>
    deleteRow({ bootId, pgid, owner }).pipe(withBusyRetry("forgetting a process group"))

  const untrack = (pgid: number): Effect.Effect<void> => {
    const self = ProcessOwner.current()
    return remove(self.bootId, pgid, ProcessOwner.encode(self)).pipe(logFailure(`forgetting process group ${pgid}`))
  }

  const list: ProcessGroupsService["list"] = findAll(undefined).pipe(withBusyRetry("reading the process groups"))

  return {
    track: (pgid, instance, command) =>
      Effect.acquireRelease(
        Effect.flatMap(newGroup(pgid, instance, command), (group) =>
          insert(group).pipe(logFailure(`recording process group ${pgid} of ${instance}`))),
        () =>
          untrack(pgid)
      ),
    untrack,
    list,
    reap: Effect.flatMap(list, (groups) => reapGroups(groups, (group) => remove(group.bootId, group.pgid, group.owner)))
      .pipe(Effect.withSpan("ProcessGroups.reap"))
  }
})

/**
 * The process groups in the `process_group` table of the SqlClient's
 * database. Building the layer reaps what dead owners left (logging it; a
 * database failure there is logged, not fatal).
 */
export const layerSql: Layer.Layer<ProcessGroups, never, SqlClient.SqlClient> = Layer.effect(
  ProcessGroups,
  Effect.tap(makeSql, (service) =>
    service.reap.pipe(
      Effect.catchAll((error) =>
        Effect.logWarning(`ProcessGroups: reaping orphaned process groups failed: ${error.message}`).pipe(
          Effect.annotateLogs({ module: "ProcessGroups" })
        )
      )
    ))
)

/**
 * The process groups in memory, for tests and for runs without a database:
 * the same bookkeeping within this process; nothing survives it, so
 * {@link ProcessGroupsService.reap} has nothing of a dead owner to find
 * unless such records were added with {@link makeMemory}'s `groups`.
 */
export const makeMemory = (
  groups: Map<number, TrackedGroup> = new Map()
): Effect.Effect<ProcessGroupsService> =>
  Effect.sync(() => {
    const untrack = (pgid: number): Effect.Effect<void> =>
      Effect.sync(() => {
        const group = groups.get(pgid)
        if (group !== undefined && group.owner === ProcessOwner.encode(ProcessOwner.current())) groups.delete(pgid)
      })
    return {
      track: (pgid, instance, command) =>
        Effect.acquireRelease(
          Effect.flatMap(newGroup(pgid, instance, command), (group) => Effect.sync(() => void groups.set(pgid, group))),
          () => untrack(pgid)
        ),
      untrack,
      list: Effect.sync(() => [...groups.values()]),
      reap: Effect.suspend(() =>
        reapGroups([...groups.values()], (group) => Effect.sync(() => void groups.delete(group.pgid)))
      )
    }
  })

/** {@link makeMemory} as a layer, with no records to begin with. */
export const layerMemory: Layer.Layer<ProcessGroups> = Layer.effect(ProcessGroups, makeMemory())
