/**
 * Manual runs on a cluster (`RAYINFO_DATABASE_URL`): an @effect/cluster
 * entity `RayInfoJob` per job, whose `Run` rpc runs the job on the runner
 * that holds it. A job's entity id is its instance id, like its scheduled
 * runs' source (`RaySchedulerSource`); both entity types hash the id alone
 * into the same shard group, so the manual run happens on the runner that
 * runs the job's scheduled runs, where the runner's rules (runs never
 * overlap, a waiting manual run is joined) apply. See docs/cluster.md,
 * "RayInfo on a cluster".
 */
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { CollectorRunner, RunOutcome } from "./CollectorRunner.js"

const Instance = Schema.String

/** A `RunOutcome` on the wire between runners. */
export const RunOutcomeSchema = Schema.Union(
  Schema.TaggedStruct("Succeeded", {
    instance: Instance,
    startedAt: Schema.DateTimeUtc,
    result: Schema.Struct({ received: Schema.Number, duplicates: Schema.Number, stored: Schema.Number })
  }),
  Schema.TaggedStruct("Retry", {
    instance: Instance,
    startedAt: Schema.DateTimeUtc,
    error: Schema.String,
    retryAfter: Schema.Duration
  }),
  Schema.TaggedStruct("Failed", { instance: Instance, startedAt: Schema.DateTimeUtc, error: Schema.String }),
  Schema.TaggedStruct("Cancelled", { instance: Instance, reason: Schema.String })
)

/** Runs the job now (volatile: a trigger is not stored; its caller gets the outcome or an error). */
export const Run = Rpc.make("Run", { success: RunOutcomeSchema })

/** The entity type of jobs' manual runs. */
export const JobEntity = Entity.make("RayInfoJob", [Run])

/** The entity, registered on this runner: its `Run` runs the job through the local runner. */
export const layer = JobEntity.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const runner = yield* CollectorRunner
    const instance = address.entityId
    return {
      // every runner has the same configuration: an unknown id was refused by the caller's runner
      Run: () => Effect.orDie(runner.runInstance(instance))
    }
  }),
  { concurrency: "unbounded" }
)

/**
 * Sends a manual run of `instance` to the runner holding the job and waits
 * for its outcome. Delivery failures (the holder moving, a full mailbox)
 * are retried for up to `deliveryTimeout`; a run that could not be made is
 * `Cancelled` with the reason (the API answers 503).
 */
export const trigger = (deliveryTimeout: Duration.DurationInput = Duration.seconds(30)) =>
  Effect.map(JobEntity.client, (client) => (instance: string): Effect.Effect<RunOutcome> =>
    client(instance).Run().pipe(
      Effect.retry({
        schedule: Schedule.spaced("250 millis"),
        times: Math.ceil(Duration.toMillis(deliveryTimeout) / 250)
      }),
      Effect.map((outcome): RunOutcome => outcome),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.interrupt
          : Effect.succeed(RunOutcome.Cancelled({
            instance,
            reason: `the runner holding it did not run it (${
              Cause.squash(cause) instanceof Error
                ? (Cause.squash(cause) as Error).message
                : String(Cause.squash(cause))
            })`
          }))
      )
    ))
