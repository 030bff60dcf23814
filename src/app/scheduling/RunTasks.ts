/**
 * The RayScheduler adapter's tasks: how a job's runs are named on the core
 * `Scheduler`. Each job is a library schedule ({@link scheduleIdOf}) whose
 * occurrences are tasks of the source `<instance id>` with ids
 * `<schedule id>@<ISO instant>` ({@link isOccurrenceOf}). A manual run is a
 * task of the source {@link manualSource} (a consumer of its own, so that it
 * does not wait behind a scheduled run in the scheduler). Versions before
 * 0.3 stored a job's next run as a task whose id is a name-based UUID of the
 * job and the instant ({@link scheduledRunId}); such a task is skipped when
 * it falls due. See docs/architecture.md, "Durable scheduling".
 */
import * as DateTime from "effect/DateTime"
import { createHash } from "node:crypto"

/** The namespace of {@link scheduledRunId}: a fixed UUID, so that ids are the same in every process and version. */
export const runNamespace = "5f3b8a52-7d1e-4c2a-9e61-3a0d2c7b4e19"

/**
 * An RFC 4122 name-based UUID (version 5): SHA-1 of the namespace's 16
 * bytes followed by the UTF-8 `name`, with the version and variant bits set.
 */
export const nameBasedUuid = (namespace: string, name: string): string => {
  const hash = createHash("sha1")
    .update(Buffer.from(namespace.replace(/-/g, ""), "hex"))
    .update(name, "utf8")
    .digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * The id that versions before 0.3 gave the scheduled run of `instance`
 * planned at `atMillis`: the UUID of `"<instance>@<ISO instant>"`. Kept to
 * recognise (and test) the runs such a version stored.
 */
export const scheduledRunId = (instance: string, atMillis: number): string =>
  nameBasedUuid(runNamespace, `${instance}@${DateTime.formatIso(DateTime.unsafeMake(atMillis))}`)

const manualPrefix = ":manual:"

/**
 * The source (consumer name) of the manual runs of `instance`:
 * `:manual:<instance>`. It is never an instance id: those start with a
 * collector name, which is not empty.
 */
export const manualSource = (instance: string): string => `${manualPrefix}${instance}`

/** The instance a source names: itself for a scheduled run, the rest of `:manual:<instance>` for a manual one. */
export const instanceOfSource = (source: string): { readonly instance: string; readonly manual: boolean } =>
  source.startsWith(manualPrefix)
    ? { instance: source.slice(manualPrefix.length), manual: true }
    : { instance: source, manual: false }

/** Longest schedule id the library accepts (`Scheduler.schedule`). */
const maxScheduleIdLength = 200

const jobPrefix = ":job:"

/**
 * The id of the library schedule of `instance`: the instance id itself when
 * the library accepts it (at most 200 characters, no control characters),
 * else `:job:` and the first 40 hex digits of its SHA-256 — a long feed URL
 * or a param with a tab. Never another instance's id: those do not start with ":".
 */
export const scheduleIdOf = (instance: string): string =>
  // eslint-disable-next-line no-control-regex -- control characters are what the library refuses
  instance.length <= maxScheduleIdLength && !/[\u0000-\u001f\u007f]/.test(instance)
    ? instance
    : `${jobPrefix}${createHash("sha256").update(instance, "utf8").digest("hex").slice(0, 40)}`

/** What the ids of the occurrences of `instance`'s schedule start with: `<schedule id>@`. */
export const occurrencePrefix = (instance: string): string => `${scheduleIdOf(instance)}@`

/** Whether `taskId` is an occurrence of the schedule of `instance` (`<schedule id>@<ISO instant>`). */
export const isOccurrenceOf = (instance: string, taskId: string): boolean =>
  taskId.startsWith(occurrencePrefix(instance))
