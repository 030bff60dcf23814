/**
 * How the service stops (docs/architecture.md, "Shutdown"): the first
 * SIGINT/SIGTERM stops triggering and waits for running collections up to
 * `shutdown.timeout`, then interrupts them; a second signal interrupts them
 * at once. The entrypoint turns the second signal into {@link ForceShutdown}.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

/**
 * Completes when running work must be interrupted at once, without waiting
 * for the shutdown timeout. Default: never.
 */
export class ForceShutdown extends Context.Reference<ForceShutdown>()("rayinfo/ForceShutdown", {
  defaultValue: (): Effect.Effect<void> => Effect.never
}) {}

/** Signals the process reacts to. */
const SIGNALS = ["SIGINT", "SIGTERM"] as const

/**
 * Installs the process's signal handling for a graceful shutdown and returns
 * the {@link ForceShutdown} effect. The first signal is left to the runtime
 * (`NodeRuntime.runMain` interrupts the main fiber, which closes the
 * service's scope); this handler stays installed, so a second signal does
 * not kill the process (which would orphan running commands) but completes
 * the returned effect: running collections are interrupted now (their
 * process groups killed) and the process exits. `onForce` is called then.
 */
export const installSignalHandlers = (onForce: (signal: string) => void): Effect.Effect<void> => {
  const forced = Deferred.unsafeMake<void>(FiberId.none)
  let received = 0
  const onSignal = (signal: string) => {
    received++
    if (received === 2) {
      onForce(signal)
      Deferred.unsafeDone(forced, Exit.void)
    }
  }
  for (const signal of SIGNALS) process.on(signal, onSignal)
  return Deferred.await(forced)
}
