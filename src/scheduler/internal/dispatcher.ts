/**
 * The dispatcher: one fiber that runs dispatch rounds (`SchedulerState.round`,
 * one synchronous section each) and, between them, waits — idle on a
 * wake-up `Signal`, or sleeping on the same signal with one timer
 * fiber that completes it when the earliest watched head is due. See
 * docs/architecture.md, "The dispatcher's states".
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type { Task } from "../Task.js"
import type { Signal } from "./signal.js"
import type { Round } from "./state.js"

/**
 * The interruptible sleep: a timer fiber completes the wake-up signal
 * after `millis`; a submission of an earlier task, a lane to watch sooner
 * and `stop` complete it before. The dispatcher only awaits the signal;
 * a timer that lost is interrupted without waiting for it. (One fork per
 * sleep: a `race` would cost two forks and a join.)
 */
const sleepUntilWoken = (clock: Clock.Clock, millis: number, wake: Signal<void>): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.forkDaemon(
      Effect.zipRight(clock.sleep(Duration.millis(millis)), Effect.sync(() => wake.complete(Effect.void)))
    ),
    (timer) =>
      Effect.zipRight(
        wake.await(),
        Effect.sync(() => {
          if (timer.unsafePoll() === null) timer.unsafeInterruptAsFork(FiberId.none)
        })
      )
  )

/** The dispatcher's loop; it ends when a round finds the scheduler stopping. @internal */
export const dispatcher = (
  clock: Clock.Clock,
  round: Effect.Effect<Round>,
  onDropped: (tasks: ReadonlyArray<Task>) => Effect.Effect<void>,
  onWaiting: (sources: ReadonlyArray<string>) => Effect.Effect<void>
): Effect.Effect<void> => {
  const loop: Effect.Effect<void> = Effect.flatMap(round, (decision): Effect.Effect<void> => {
    if (decision._tag === "Exit") return Effect.void
    const dropped = decision.dropped.length === 0 ? Effect.void : onDropped(decision.dropped)
    const log = decision.waiting.length === 0 ? dropped : Effect.zipRight(onWaiting(decision.waiting), dropped)
    switch (decision._tag) {
      case "Continue":
        return Effect.zipRight(log, Effect.zipRight(Effect.yieldNow(), loop))
      case "Idle":
        return Effect.zipRight(log, Effect.zipRight(decision.wake.await(), loop))
      case "Sleep":
        return Effect.zipRight(log, Effect.zipRight(sleepUntilWoken(clock, decision.millis, decision.wake), loop))
    }
  })
  return loop
}
