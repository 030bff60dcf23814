/**
 * The RayScheduler adapter's tasks: how a job's runs are named on the core
 * `Scheduler`. A job's scheduled run is a task of the source `<instance id>`
 * whose id is a name-based UUID of the job and the planned instant
 * ({@link scheduledRunId}): planning the same run twice — after a restart,
 * or a submit retried — submits the same id, which the scheduler counts as
 * a duplicate instead of running it twice. A manual run is a task of the
 * source {@link manualSource} (a consumer of its own, so that it does not
 * wait behind a scheduled run in the scheduler). See docs/architecture.md,
 * "Durable scheduling".
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

/** The id of the scheduled run of `instance` planned at `atMillis`: the UUID of `"<instance>@<ISO instant>"`. */
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
