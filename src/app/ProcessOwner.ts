/**
 * `ProcessOwner` — who holds something in the shared database (a lease, a
 * running command's process group): this process, named so that another
 * process can later tell whether the holder is still alive.
 *
 * An owner is `host`, the kernel's boot id, `pid` and the process's start
 * time (clock ticks since boot, from `/proc/<pid>/stat`). A pid alone is not
 * enough: pids are reused, and after a reboot every pid means something else.
 * On a system without `/proc` the boot id and start time are empty and
 * liveness falls back to "a process with this pid exists".
 *
 * Stored as one string, `host␟boot␟pid␟start` (unit separator), by
 * {@link encode}; read back by {@link decode}.
 */
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { hostname } from "node:os"

/** A process's identity. */
export interface ProcessOwner {
  readonly host: string
  /** `/proc/sys/kernel/random/boot_id`, or `""` when unknown. */
  readonly bootId: string
  readonly pid: number
  /** Start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`), or `""` when unknown. */
  readonly startTime: string
}

const SEPARATOR = "\u001f"

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** This machine's boot id, or `""` when the system has none. */
export const bootId = (): string => readText("/proc/sys/kernel/random/boot_id")?.trim() ?? ""

/**
 * The start time of process `pid` (clock ticks since boot), or undefined if
 * it does not exist (a zombie — exited, not yet waited for — counts as not
 * existing) or is unknown.
 */
export const startTimeOf = (pid: number): string | undefined => {
  const stat = readText(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses: split after the last ")"
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state); the start time is field 22
  return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19]
}

let cached: ProcessOwner | undefined

/** This process. */
export const current = (): ProcessOwner => {
  if (cached === undefined) {
    cached = {
      host: hostname(),
      bootId: bootId(),
      pid: process.pid,
      startTime: startTimeOf(process.pid) ?? ""
    }
  }
  return cached
}

/** The stored form of an owner. */
export const encode = (owner: ProcessOwner): string =>
  [owner.host, owner.bootId, String(owner.pid), owner.startTime].join(SEPARATOR)

/** An owner from its stored form; none if it is not one. */
export const decode = (text: string): Option.Option<ProcessOwner> => {
  const parts = text.split(SEPARATOR)
  if (parts.length !== 4) return Option.none()
  const [host, boot, pid, startTime] = parts as [string, string, string, string]
  const n = Number(pid)
  return Number.isSafeInteger(n) && n > 0 ? Option.some({ host, bootId: boot, pid: n, startTime }) : Option.none()
}

/** Whether two identities are the same process. */
export const equals = (a: ProcessOwner, b: ProcessOwner): boolean =>
  a.host === b.host && a.bootId === b.bootId && a.pid === b.pid && a.startTime === b.startTime

/** `pid 1234 on host` — for messages. */
export const describe = (owner: ProcessOwner): string => `pid ${owner.pid} on ${owner.host}`

/**
 * Whether `owner` is still running, as far as this process can tell:
 *
 * - `"alive"`: it is this process, or a process with its pid and start time
 *   exists on this machine since the same boot;
 * - `"dead"`: it ran on this machine and no longer does (its pid is gone or
 *   now belongs to another process, or the machine rebooted since);
 * - `"unknown"`: it ran on another host — only its lease expiry can tell.
 */
export const liveness = (owner: ProcessOwner): "alive" | "dead" | "unknown" => {
  const self = current()
  if (owner.host !== self.host) return "unknown"
  if (owner.bootId !== self.bootId) return "dead"
  if (equals(owner, self)) return "alive"
  if (owner.startTime !== "") {
    const start = startTimeOf(owner.pid)
    return start !== undefined && start === owner.startTime ? "alive" : "dead"
  }
  try {
    process.kill(owner.pid, 0)
    return "alive"
  } catch (error) {
    // EPERM: it exists but belongs to another user
    return (error as NodeJS.ErrnoException).code === "EPERM" ? "alive" : "dead"
  }
}
