/**
 * The legacy scheduler's planning steps (`USE_RAY_SCHEDULER=false`; the
 * RayScheduler adapter declares library schedules instead): a job's first
 * run (the resume rule) and its run after an outcome, from `Timing.ts`'s
 * rules and the `Clock`. Neither fails: see docs/architecture.md,
 * "Supervision".
 */
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { JobStateStoreService } from "../storage/JobStateStore.js"
import type { Instance, RunOutcome } from "./CollectorRunner.js"
import { firstRunAt, nextAfter, type Planned, retryAt } from "./Timing.js"

/**
 * A job's interval. The legacy scheduler runs interval jobs only: it refuses
 * to be built with a cron job (see `LegacySchedulerAdapter.make`), so this
 * never throws there.
 */
export const intervalOf = (instance: Instance): Duration.Duration => {
  if (instance.timing._tag === "Every") return instance.timing.interval
  throw new Cause.IllegalArgumentException(`${instance.id} runs at cron times, not every interval`)
}

/**
 * The first run of each job (the resume rule). A job whose state cannot be
 * read runs now: runs are idempotent, a skipped one would not be.
 */
export const firstPlanned = (
  store: JobStateStoreService,
  instance: Instance
): Effect.Effect<Planned> =>
  Effect.gen(function*() {
    const now = DateTime.toEpochMillis(yield* DateTime.now)
    const at = yield* store.get(instance.id).pipe(
      Effect.map((state) =>
        firstRunAt(Option.flatMap(state, (s) => s.lastRunAt), Duration.toMillis(intervalOf(instance)), now)
      ),
      Effect.catchAllCause((cause) =>
        Effect.as(
          Effect.logWarning(
            `${instance.id}: cannot read its last run (${Cause.pretty(cause).split("\n")[0]}); running it now`
          ),
          now
        )
      )
    )
    return { at, anchor: at }
  }).pipe(Effect.annotateLogs({ instance: instance.id }))

/** When a job runs next, after a run ended at now with `outcome`; none when the service is stopping. */
export const plannedAfter = (
  instance: Instance,
  anchor: number,
  outcome: RunOutcome
): Effect.Effect<Option.Option<Planned>> =>
  Effect.map(DateTime.now, (dateTime) => {
    const now = DateTime.toEpochMillis(dateTime)
    switch (outcome._tag) {
      case "Cancelled":
        return Option.none()
      case "Retry":
        return Option.some(retryAt(outcome.retryAfter, now))
      default:
        return Option.some(nextAfter(anchor, Duration.toMillis(intervalOf(instance)), now))
    }
  })
